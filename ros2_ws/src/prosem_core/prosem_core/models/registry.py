"""Model families ProSem can run, by name. Adding a family: one module with a `FAMILY` object (see
models/family.py) plus one line here; PipelineConfig(model=NAME) and every CLI command then accept it."""
from __future__ import annotations

import importlib

from prosem_core.models.family import ModelFamily

FAMILIES: dict[str, str] = {
    "default": "prosem_core.models.families.default",  # EfficientNet-Lite0 + easy-VQA / ImageNet heads
    "smolvlm": "prosem_core.models.families.smolvlm",  # SmolVLM, SmolVLM2, Idefics3
    "llava": "prosem_core.models.families.llava",  # LLaVA-1.5 style (CLIP/SigLIP tower + MLP projector)
}


def family_names() -> tuple[str, ...]:
    return tuple(FAMILIES)


def get_family(name: str) -> ModelFamily:
    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(FAMILIES)}")
    return importlib.import_module(FAMILIES[name]).FAMILY
