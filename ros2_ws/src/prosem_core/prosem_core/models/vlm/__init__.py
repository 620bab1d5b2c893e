"""Real-VLM backends (SmolVLM/Idefics3, LLaVA) split into an edge half and a cloud half.

    from prosem_core.models.vlm import load_backend
    vlm = load_backend("/models/SmolVLM-256M-Instruct")      # family from config.json
    tokens = vlm.edge_tokens(rgb_uint8_hwc)                   # float32 [64, 576] for SmolVLM-256M
    ans = vlm.answer(tokens_hat, "what is in the image?")     # Answer(text, confidence)

Importing this package needs only numpy; torch and transformers load when a backend is built.
Models are only ever read from a local directory (never downloaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Answer, VlmBackend, VlmConfig, VlmInputError, VlmLoadError

if TYPE_CHECKING:
    from .hf_backend import HfVlmBackend

BACKENDS = ("smolvlm", "llava")


def load_backend(model_dir: str, backend: str = "auto", **config) -> HfVlmBackend:
    """Load a backend from a local model directory.

    backend: "auto" (from config.json model_type), "smolvlm" (also Idefics3) or "llava".
    config: further VlmConfig fields (role, llava_projector_on_edge, resize_mode, ...).
    """
    from .model_dir import open_model_dir

    if backend not in ("auto",) + BACKENDS:
        raise VlmInputError(f"backend must be one of {('auto',) + BACKENDS}, got {backend!r}")
    family = open_model_dir(model_dir, expect_family=None if backend == "auto" else backend).family
    if family == "smolvlm":
        from .smolvlm import SmolVlmBackend as cls
    else:
        from .llava import LlavaBackend as cls
    return cls.from_config(VlmConfig(model_dir=str(model_dir), **config))


__all__ = ["Answer", "BACKENDS", "VlmBackend", "VlmConfig", "VlmInputError", "VlmLoadError", "load_backend"]
