"""Real VLM architecture sizes with RANDOM weights, built offline from their published configs, for
`prosem bench vlm`. Timing and memory depend on the architecture, not on the weights; answers and
codec bytes of a random model are not those of the trained model (the report says so everywhere).

SmolVLM-256M-Instruct: SigLIP-B/16 at 512 px (12 layers, 768 wide) + pixel-shuffle 4 connector, SmolLM2-135M
language model (30 layers, 576 wide, 49280-word vocabulary): 64 tokens x 576 per view.
LLaVA: LLaVA-1.5-7B (CLIP-L/336 + Vicuna-7B, 7 B parameters: 28 GB in float32, 14 GB in bfloat16) does not
fit next to the other jobs in this machine's 24 GiB, so the largest LLaVA-family checkpoint that does is
used: llava-interleave-qwen-0.5b's architecture, SigLIP-so400m/14 at 384 px (26 layers, 1152 wide) + 2-layer
MLP projector + Qwen1.5-0.5B (24 layers, 1024 wide, 152000-word vocabulary): 729 tokens x 1024.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from prosem_core.models.vlm.tiny import TINY_LLAVA, TINY_SMOLVLM, RandomVlmSpec, build_random_model_dir

SMOLVLM_256M = RandomVlmSpec(
    "smolvlm",
    vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                       image_size=512, patch_size=16),
    text_config=dict(model_type="llama", hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                     rms_norm_eps=1e-5, rope_theta=100000.0, tie_word_embeddings=True, pad_token_id=1,
                     bos_token_id=2, eos_token_id=3),
    image_processor=dict(size={"longest_edge": 2048}, max_image_size={"longest_edge": 512}, resample=1,
                         image_mean=[0.5] * 3, image_std=[0.5] * 3, do_image_splitting=False),
    vocab_size=49280, scale_factor=4, save_dtype="bfloat16")

LLAVA_INTERLEAVE_QWEN_05B = RandomVlmSpec(
    "llava",
    vision_config=dict(model_type="siglip_vision_model", hidden_size=1152, intermediate_size=4304,
                       num_hidden_layers=26, num_attention_heads=16, image_size=384, patch_size=14),
    text_config=dict(model_type="qwen2", hidden_size=1024, intermediate_size=2816, num_hidden_layers=24,
                     num_attention_heads=16, num_key_value_heads=16, max_position_embeddings=32768,
                     rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True, pad_token_id=1,
                     bos_token_id=2, eos_token_id=3),
    image_processor=dict(size={"height": 384, "width": 384}, resample=3, image_mean=[0.5] * 3, image_std=[0.5] * 3),
    vocab_size=152000, llava_image_processor="siglip", vision_feature_layer=-1,
    vision_feature_select_strategy="full", save_dtype="bfloat16")

ARCHITECTURES: dict[str, dict[str, RandomVlmSpec]] = {
    "real": {"smolvlm": SMOLVLM_256M, "llava": LLAVA_INTERLEAVE_QWEN_05B},
    "tiny": {"smolvlm": TINY_SMOLVLM, "llava": TINY_LLAVA},  # for tests of the benchmark itself
}
ARCHITECTURE_NAMES = {"real": {"smolvlm": "SmolVLM-256M-Instruct", "llava": "llava-interleave-qwen-0.5b"},
                      "tiny": {"smolvlm": "tiny-smolvlm", "llava": "tiny-llava"}}


def random_model_dir(spec: RandomVlmSpec, root: Path, name: str, seed: int = 0) -> Path:
    """The model directory for `spec` under root, built once and reused while the spec is unchanged."""
    key = hashlib.sha256(json.dumps([repr(spec), seed]).encode()).hexdigest()[:10]
    path = Path(root) / f"{name}-random-{key}"
    if not (path / "config.json").is_file() or not any(path.glob("model*.safetensors")):
        build_random_model_dir(spec, path, seed=seed)
    return path


def main(argv: list[str]) -> int:
    """python -m prosem_core.bench.vlm_models ARCH FAMILY ROOT: build (or reuse) the model dir, print its path.
    Run as its own process so that the float32 model it instantiates is freed when it ends."""
    arch, family, root = argv
    print(random_model_dir(ARCHITECTURES[arch][family], Path(root), ARCHITECTURE_NAMES[arch][family]))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
