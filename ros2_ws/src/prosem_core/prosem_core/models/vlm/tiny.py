"""Tiny random-weight SmolVLM/Idefics3 and LLaVA model directories, built offline in about a second.

They have the real architectures, tokenizer, chat template and image processor files that
`load_backend` reads, so tests (and node tests that want a real-VLM answerer) exercise the full
loading and injection path without any downloaded weights. Their answers are random words.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

_SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<image>", "<fake_token_around_image>", "<global-img>",
            "<end_of_utterance>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
_WORDS = ["User:", "Assistant:", "USER:", "ASSISTANT:", "what", "is", "in", "the", "image", "?", "a", "an",
          "there", "cat", "dog", "car", "red", "blue", "green", "circle", "square", "yes", "no", "shape",
          "color", "of", "this", "photo"]

SMOLVLM_TEMPLATE = ("{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
                    "{% if c['type'] == 'image' %}<image>{% else %} {{ c['text'] }}{% endif %}{% endfor %}"
                    " <end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}")
LLAVA_TEMPLATE = ("{% for m in messages %}{{ m['role'] | upper }}: {% for c in m['content'] %}"
                  "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
                  "{% endfor %}{% if add_generation_prompt %} ASSISTANT:{% endif %}")


def tiny_tokenizer(chat_template: str, vocab_size: int | None = None):
    """A whitespace word-level tokenizer with the VLM special tokens (no files needed).

    vocab_size: pad the vocabulary with filler words up to this size, so that a language model with a
    real-size vocabulary (random weights) can decode every id it generates.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = _SPECIAL + _WORDS
    if vocab_size is not None:
        if vocab_size < len(words):
            raise ValueError(f"vocab_size must be >= {len(words)}, got {vocab_size}")
        words = words + [f"w{i}" for i in range(len(words), vocab_size)]
    vocab = {tok: i for i, tok in enumerate(words)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tok = PreTrainedTokenizerFast(tokenizer_object=core, unk_token="<unk>", pad_token="<pad>", bos_token="<s>",
                                  eos_token="</s>", additional_special_tokens=_SPECIAL[4:])
    tok.chat_template = chat_template
    return tok


@dataclass(frozen=True)
class RandomVlmSpec:
    """A VLM architecture to instantiate with random weights (no download): sizes as in its config.json."""

    family: Literal["smolvlm", "llava"]
    vision_config: dict
    text_config: dict  # without vocab_size: the tokenizer's size is used
    image_processor: dict  # keyword arguments of the family's PIL image processor
    vocab_size: int | None = None  # None: the tiny word list; else filler words up to this size
    smolvlm_arch: Literal["idefics3", "smolvlm"] = "idefics3"
    scale_factor: int = 2  # smolvlm: pixel-shuffle factor
    llava_image_processor: Literal["llava", "siglip"] = "llava"
    vision_feature_layer: int = -2  # llava
    vision_feature_select_strategy: str = "default"  # llava
    save_dtype: str | None = None  # e.g. "bfloat16" (as real checkpoints ship); None: float32


def _tiny_text_config() -> dict:
    return dict(model_type="llama", hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, pad_token_id=1,
                bos_token_id=2, eos_token_id=3)


TINY_SMOLVLM = RandomVlmSpec(
    "smolvlm", vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                  image_size=64, patch_size=8),
    text_config=_tiny_text_config(),
    image_processor=dict(size={"longest_edge": 256}, max_image_size={"longest_edge": 64}, do_image_splitting=False))
TINY_LLAVA = RandomVlmSpec(
    "llava", vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64,
                                num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8,
                                projection_dim=32),
    text_config=_tiny_text_config(),
    image_processor=dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                         image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711]))


def build_tiny_model_dir(family: Literal["smolvlm", "llava"], path: str | Path, seed: int = 0,
                         smolvlm_arch: Literal["idefics3", "smolvlm"] = "idefics3") -> Path:
    """Write a tiny random-weight model (+ tokenizer + processor) to `path` with save_pretrained.

    smolvlm: Idefics3 (SmolVLM-256M's model_type; smolvlm_arch="smolvlm" for the SmolVLM2 class),
             64 x 64 pixels, patch 8, pixel-shuffle 2 -> 16 tokens x 48 per view. The processor files
             are Idefics3's in both cases; its first resize goes to 256 px, so image splitting cuts a
             4:3 frame into 3 x 4 tiles + the global view, the same geometry as SmolVLM-256M's
             2048 / 512 px (13 views).
    llava:   CLIP tower 32 x 32, patch 8, feature layer -2, CLS dropped -> 16 tokens (x 48 after the
             projector, x 32 before it).
    """
    if family == "smolvlm":
        if smolvlm_arch not in ("idefics3", "smolvlm"):
            raise ValueError(f"smolvlm_arch must be 'idefics3' or 'smolvlm', got {smolvlm_arch!r}")
        spec = replace(TINY_SMOLVLM, smolvlm_arch=smolvlm_arch)
    elif family == "llava":
        spec = TINY_LLAVA
    else:
        raise ValueError(f"family must be 'smolvlm' or 'llava', got {family!r}")
    return build_random_model_dir(spec, path, seed)


def build_random_model_dir(spec: RandomVlmSpec, path: str | Path, seed: int = 0) -> Path:
    """Instantiate `spec` with seeded random weights and save model, tokenizer and processor to `path`."""
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if spec.family == "smolvlm":
        from transformers import Idefics3Config, Idefics3ForConditionalGeneration
        from transformers.models.idefics3 import Idefics3Processor
        from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

        tok = tiny_tokenizer(SMOLVLM_TEMPLATE, spec.vocab_size)
        if spec.smolvlm_arch == "smolvlm":
            from transformers import SmolVLMConfig as Idefics3Config  # noqa: N814 (same fields)
            from transformers import SmolVLMForConditionalGeneration as Idefics3ForConditionalGeneration
        cfg = Idefics3Config(vision_config=dict(spec.vision_config), text_config=dict(spec.text_config, vocab_size=len(tok)),
                             scale_factor=spec.scale_factor, image_token_id=tok.convert_tokens_to_ids("<image>"))
        model = Idefics3ForConditionalGeneration(cfg).eval()
        images = Idefics3ImageProcessorPil(**spec.image_processor)
        proc = Idefics3Processor(image_processor=images, tokenizer=tok, image_seq_len=model.model.image_seq_len,
                                 chat_template=SMOLVLM_TEMPLATE)
    elif spec.family == "llava":
        from transformers import LlavaConfig, LlavaForConditionalGeneration
        from transformers.models.llava import LlavaProcessor

        tok = tiny_tokenizer(LLAVA_TEMPLATE, spec.vocab_size)
        vision = dict(spec.vision_config)
        per_side = vision["image_size"] // vision["patch_size"]
        has_cls = vision.get("model_type", "clip_vision_model").startswith("clip")
        drops_first = spec.vision_feature_select_strategy == "default"
        cfg = LlavaConfig(vision_config=vision, text_config=dict(spec.text_config, vocab_size=len(tok)),
                          image_token_index=tok.convert_tokens_to_ids("<image>"),
                          image_seq_length=per_side * per_side + int(has_cls) - int(drops_first),
                          vision_feature_layer=spec.vision_feature_layer,
                          vision_feature_select_strategy=spec.vision_feature_select_strategy)
        model = LlavaForConditionalGeneration(cfg).eval()
        if spec.llava_image_processor == "siglip":
            from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil as ImageProc
        else:
            from transformers.models.llava.image_processing_pil_llava import LlavaImageProcessorPil as ImageProc
        proc = LlavaProcessor(image_processor=ImageProc(**spec.image_processor), tokenizer=tok,
                              patch_size=vision["patch_size"], vision_feature_select_strategy=spec.vision_feature_select_strategy,
                              num_additional_image_tokens=int(has_cls), chat_template=LLAVA_TEMPLATE)
    else:
        raise ValueError(f"family must be 'smolvlm' or 'llava', got {spec.family!r}")
    if spec.save_dtype:
        model = model.to(getattr(torch, spec.save_dtype))
    model.save_pretrained(str(path))
    proc.save_pretrained(str(path))
    return path
