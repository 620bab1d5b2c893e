"""Real-VLM backends on tiny random-weight SmolVLM/Idefics3 and LLaVA models (offline, built here).

The central claim: the cloud half, fed the edge half's tokens through `inputs_embeds`, computes exactly
the logits the model computes from pixels on its own. Checked with torch.equal (bitwise): both paths run
the same float32 ops in the same order on CPU (same vision features, same masked_scatter into the same
embeddings, same language model), so any difference at all would mean the split changed the model.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from prosem_core.models.vlm import VlmInputError, VlmLoadError, load_backend  # noqa: E402
from prosem_core.models.vlm.tiny import build_tiny_model_dir  # noqa: E402

QUESTION = "what is the color of the square ?"


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    assert os.environ.get("HF_HUB_OFFLINE") == "1", "tests must run offline"
    root = tmp_path_factory.mktemp("vlm")
    return {fam: build_tiny_model_dir(fam, root / fam, seed=7) for fam in ("smolvlm", "llava")}


@pytest.fixture(scope="module")
def processors(model_dirs):
    from transformers import AutoProcessor

    return {fam: AutoProcessor.from_pretrained(str(d), local_files_only=True) for fam, d in model_dirs.items()}


def _image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    img[h // 4: h // 2, w // 4: w // 2] = (200, 30, 30)  # some structure, not only noise
    return img


# (family, backend options): LLaVA is checked with the projector on either side of the split.
CASES = [("smolvlm", {}), ("llava", {"llava_projector_on_edge": True}), ("llava", {"llava_projector_on_edge": False})]
CASE_IDS = ["smolvlm", "llava-proj-edge", "llava-proj-cloud"]


@pytest.fixture(scope="module")
def backends(model_dirs):
    return {cid: load_backend(str(model_dirs[fam]), **opts) for cid, (fam, opts) in zip(CASE_IDS, CASES)}


def _pixel_path_logits(backend, processor, img: np.ndarray, question: str) -> torch.Tensor:
    """The model's own path: the HF processor makes input_ids + pixels, the model runs its vision path."""
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": question}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True)
    inputs = processor(text=text, images=[img], return_tensors="pt")
    inputs.pop("mm_token_type_ids", None)
    with torch.inference_mode():
        return backend.model(**inputs, use_cache=False).logits, inputs


@pytest.mark.parametrize("case", CASE_IDS)
def test_injected_edge_tokens_give_exactly_the_pixel_path_logits(backends, processors, case):
    backend = backends[case]
    proc = processors[backend.family]
    img = _image(45, 70, seed=1)  # non-square, not the tower size: resizing is part of what must agree
    ref, inputs = _pixel_path_logits(backend, proc, img, QUESTION)

    # Same pixels and same prompt ids as the processor made (so the comparison below isolates injection).
    assert torch.equal(backend.pixel_values(img), inputs["pixel_values"].reshape(1, *inputs["pixel_values"].shape[-3:]))
    assert torch.equal(backend.prompt_ids(QUESTION), inputs["input_ids"])

    tokens = backend.edge_tokens(img)
    assert tokens.dtype == np.float32 and tokens.shape == backend.token_shape
    got = backend.logits(tokens, QUESTION)
    assert got.shape == ref.shape
    assert torch.equal(got, ref), f"max |diff| {float((got - ref).abs().max())}"


@pytest.mark.parametrize("case", CASE_IDS)
def test_the_injected_tokens_actually_drive_the_answer(backends, case):
    # Guards the equivalence test against a vacuous pass (e.g. tokens ignored): other tokens, other logits.
    backend = backends[case]
    tokens = backend.edge_tokens(_image(64, 64, seed=2))
    other = backend.edge_tokens(_image(64, 64, seed=3))
    assert not np.array_equal(tokens, other)
    a, b = backend.logits(tokens, QUESTION), backend.logits(other, QUESTION)
    assert not torch.equal(a[0, -1], b[0, -1])


@pytest.mark.parametrize("case", CASE_IDS)
def test_reconstructed_tokens_flow_through_generation(backends, case):
    backend = backends[case]
    tokens = backend.edge_tokens(_image(50, 40, seed=4))
    rng = np.random.default_rng(5)
    noisy = (tokens + 0.05 * tokens.std() * rng.standard_normal(tokens.shape)).astype(np.float32)
    ans = backend.answer(noisy, QUESTION, max_new_tokens=6)
    assert isinstance(ans.text, str) and ans.text.strip(), "generation produced no text"
    assert 0.0 < ans.confidence <= 1.0
    # Greedy generation is deterministic: same tokens, same answer.
    assert backend.answer(noisy, QUESTION, max_new_tokens=6) == ans


def test_smolvlm_token_shape_follows_the_connector(backends):
    b = backends["smolvlm"]
    cfg = b.model.config
    grid = cfg.vision_config.image_size // cfg.vision_config.patch_size // cfg.scale_factor
    assert b.token_shape == (grid * grid, cfg.text_config.hidden_size) == (16, 48)


def test_llava_token_width_depends_on_where_the_projector_runs(backends):
    assert backends["llava-proj-edge"].token_shape == (16, 48)   # LM width after the projector
    assert backends["llava-proj-cloud"].token_shape == (16, 32)  # vision width, CLS dropped


@pytest.mark.parametrize("case", ["smolvlm", "llava-proj-edge"])
def test_first_linear_map_is_what_layer0_applies_to_a_token(backends, case):
    # For a token x, layer 0 computes W_qkv (g * x / rms(x)); first_linear_map() must be W_qkv diag(g).
    backend = backends[case]
    lm = backend._language_model()
    layer = lm.layers[0]
    x = torch.from_numpy(np.random.default_rng(6).standard_normal((1, 1, backend.token_shape[1])).astype(np.float32))
    with torch.inference_mode():
        h = layer.input_layernorm(x)
        ref = torch.cat([layer.self_attn.q_proj(h), layer.self_attn.k_proj(h), layer.self_attn.v_proj(h)], dim=-1)[0, 0]
    eps = layer.input_layernorm.variance_epsilon
    xn = x[0, 0].numpy() / np.sqrt(np.mean(x[0, 0].numpy() ** 2) + eps)
    w = backend.first_linear_map()
    assert w.dtype == np.float32 and w.shape == (ref.shape[0], backend.token_shape[1])
    np.testing.assert_allclose(w @ xn, ref.numpy(), rtol=1e-5, atol=1e-5)


def test_first_linear_map_is_the_projector_when_the_cloud_runs_it(backends):
    backend = backends["llava-proj-cloud"]
    lin = backend.model.model.multi_modal_projector.linear_1
    x = torch.from_numpy(np.random.default_rng(8).standard_normal(backend.token_shape[1]).astype(np.float32))
    with torch.inference_mode():
        ref = (lin(x) - lin.bias).numpy()
    np.testing.assert_allclose(backend.first_linear_map() @ x.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", CASE_IDS)
def test_edge_and_cloud_roles_split_the_model(model_dirs, backends, case):
    fam, opts = CASES[CASE_IDS.index(case)]
    full = backends[case]
    edge = load_backend(str(model_dirs[fam]), role="edge", **opts)
    cloud = load_backend(str(model_dirs[fam]), role="cloud", **opts)
    img = _image(33, 61, seed=9)
    tokens = edge.edge_tokens(img)
    assert np.array_equal(tokens, full.edge_tokens(img))
    assert torch.equal(cloud.logits(tokens, QUESTION), full.logits(tokens, QUESTION))
    assert np.array_equal(cloud.first_linear_map(), full.first_linear_map())
    n_edge, n_cloud, n_full = (sum(p.numel() for p in b.model.parameters()) for b in (edge, cloud, full))
    assert n_edge < n_full and n_cloud < n_full  # each side really holds only its half
    with pytest.raises(VlmInputError, match="role='edge'"):
        edge.answer(tokens, QUESTION)
    with pytest.raises(VlmInputError, match="role='cloud'"):
        cloud.edge_tokens(img)


def test_bad_inputs_get_clear_errors(backends):
    b = backends["smolvlm"]
    good = b.edge_tokens(_image(64, 64, seed=10))
    with pytest.raises(VlmInputError, match="shape"):
        b.answer(good[:-1], QUESTION)
    bad = good.copy()
    bad[0, 0] = np.nan
    with pytest.raises(VlmInputError, match="NaN"):
        b.answer(bad, QUESTION)
    with pytest.raises(VlmInputError, match="question"):
        b.answer(good, "   ")
    with pytest.raises(VlmInputError, match="placeholder"):
        b.answer(good, "what is <image> ?")
    with pytest.raises(VlmInputError, match="positions"):
        b.answer(good, "what " * 600)
    with pytest.raises(VlmInputError, match="max_new_tokens"):
        b.answer(good, QUESTION, max_new_tokens=0)
    with pytest.raises(VlmInputError, match="uint8"):
        b.edge_tokens(_image(8, 8, seed=0).astype(np.float32))
    with pytest.raises(VlmInputError, match="RGB"):
        b.edge_tokens(np.zeros((8, 8), dtype=np.uint8))


def test_missing_or_invalid_model_dir_gets_a_clear_error(tmp_path, model_dirs):
    with pytest.raises(VlmLoadError, match="does not exist"):
        load_backend(str(tmp_path / "no-such-model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(VlmLoadError, match="missing config.json"):
        load_backend(str(empty))
    (empty / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(VlmLoadError, match="not supported"):
        load_backend(str(empty))
    (empty / "config.json").write_text('{"model_type": "idefics3"}')
    with pytest.raises(VlmLoadError, match="safetensors"):
        load_backend(str(empty))
    (empty / "config.json").write_text("{not json")
    with pytest.raises(VlmLoadError, match="cannot read"):
        load_backend(str(empty))
    with pytest.raises(VlmLoadError, match="expected llava"):
        load_backend(str(model_dirs["smolvlm"]), backend="llava")
    with pytest.raises(VlmInputError, match="backend must be"):
        load_backend(str(model_dirs["smolvlm"]), backend="gpt")


def test_corrupt_weights_get_a_clear_error(tmp_path, model_dirs):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dirs["llava"], broken)
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(VlmLoadError, match="cannot load"):
        load_backend(str(broken))


def test_smolvlm2_class_injection_equals_its_pixel_path(tmp_path):
    # model_type "smolvlm" (SmolVLM2's class) takes the same split; pixel path fed the backend's own
    # pixels and prompt ids (the processor-level equality is covered by the idefics3 case above).
    backend = load_backend(str(build_tiny_model_dir("smolvlm", tmp_path / "sv", seed=2, smolvlm_arch="smolvlm")))
    assert type(backend.model).__name__ == "SmolVLMForConditionalGeneration"
    img = _image(40, 50, seed=12)
    with torch.inference_mode():
        ref = backend.model(input_ids=backend.prompt_ids(QUESTION), pixel_values=backend.pixel_values(img).unsqueeze(1),
                            use_cache=False).logits
    assert torch.equal(backend.logits(backend.edge_tokens(img), QUESTION), ref)


def test_smolvlm_256m_geometry_gives_64_tokens_of_576(tmp_path):
    # SmolVLM-256M's widths, patching and pixel shuffle (depth cut to one layer to stay fast): the edge
    # ships 64 x 576 per 512 x 512 view, the paper's split, and injection stays exact at this size.
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    from prosem_core.models.vlm import VlmConfig
    from prosem_core.models.vlm.model_dir import ModelDir
    from prosem_core.models.vlm.preprocess import build_pixel_prep
    from prosem_core.models.vlm.smolvlm import SmolVlmBackend
    from prosem_core.models.vlm.tiny import SMOLVLM_TEMPLATE, tiny_tokenizer

    tok = tiny_tokenizer(SMOLVLM_TEMPLATE)
    torch.manual_seed(0)
    cfg = Idefics3Config(
        vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=1, num_attention_heads=12,
                           image_size=512, patch_size=16),
        text_config=dict(model_type="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=1,
                         num_attention_heads=9, num_key_value_heads=3, vocab_size=len(tok),
                         max_position_embeddings=8192, pad_token_id=1, bos_token_id=2, eos_token_id=3),
        scale_factor=4, image_token_id=tok.convert_tokens_to_ids("<image>"))
    model = Idefics3ForConditionalGeneration(cfg).eval()
    settings = {"image_mean": [0.5] * 3, "image_std": [0.5] * 3, "max_image_size": {"longest_edge": 512},
                "resample": 1, "size": {"longest_edge": 2048}}
    backend = SmolVlmBackend(VlmConfig(model_dir=str(tmp_path)), ModelDir(tmp_path, {}, "smolvlm", settings),
                             model, tok, build_pixel_prep(settings, "idefics3", 512))
    assert backend.token_shape == (64, 576)
    assert backend.first_linear_map().shape == (576 + 2 * 192, 576)  # q 9x64, k and v 3x64 each
    img = _image(480, 640, seed=13)
    tokens = backend.edge_tokens(img)
    assert tokens.shape == (64, 576)
    with torch.inference_mode():
        ref = model(input_ids=backend.prompt_ids(QUESTION), pixel_values=backend.pixel_values(img).unsqueeze(1),
                    use_cache=False).logits
    assert torch.equal(backend.logits(tokens, QUESTION), ref)


def test_image_splitting_injection_equals_the_processor_pixel_path(model_dirs, processors):
    # 13 views (3 x 4 tiles + global) of 16 tokens, with the processor's own splitting and prompt.
    backend = load_backend(str(model_dirs["smolvlm"]), image_splitting=True)
    assert backend.grid == (3, 4) and backend.views == 13 and backend.token_shape == (13 * 16, 48)
    proc = processors["smolvlm"]
    proc.image_processor.do_image_splitting = True
    try:
        img = _image(96, 128, seed=14)  # 4:3: the processor picks the same 3 x 4 grid
        ref, inputs = _pixel_path_logits(backend, proc, img, QUESTION)
    finally:
        proc.image_processor.do_image_splitting = False
    assert torch.equal(backend.pixel_values(img), inputs["pixel_values"][0])
    assert torch.equal(backend.prompt_ids(QUESTION), inputs["input_ids"])
    assert torch.equal(backend.logits(backend.edge_tokens(img), QUESTION), ref)
    with pytest.raises(VlmInputError, match="SmolVLM only"):
        load_backend(str(model_dirs["llava"]), image_splitting=True)


def test_llava_with_a_siglip_tower_keeps_every_patch(tmp_path):
    # llava-interleave-qwen's layout (SigLIP tower, no CLS, strategy "full", last layer), tiny: 4 x 4 patches.
    from dataclasses import replace

    from prosem_core.models.vlm.tiny import TINY_LLAVA, build_random_model_dir

    spec = replace(TINY_LLAVA, vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                                                  num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
                   llava_image_processor="siglip", vision_feature_layer=-1, vision_feature_select_strategy="full",
                   image_processor=dict(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.5] * 3))
    backend = load_backend(str(build_random_model_dir(spec, tmp_path / "siglip-llava", seed=3)))
    assert backend.token_shape == (16, 48)
    img = _image(48, 64, seed=15)
    with torch.inference_mode():
        ref = backend.model(input_ids=backend.prompt_ids(QUESTION), pixel_values=backend.pixel_values(img),
                            use_cache=False).logits
    assert torch.equal(backend.logits(backend.edge_tokens(img), QUESTION), ref)
