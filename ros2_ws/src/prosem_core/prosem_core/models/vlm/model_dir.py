"""Check a local Hugging Face model directory before torch touches it, and read its JSON settings.

Everything here is plain file I/O so that a wrong path fails fast with a message that says what is
missing, instead of a deep transformers traceback (or, worse, an attempt to reach a model hub).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import VlmLoadError

SUPPORTED_MODEL_TYPES = {"idefics3": "smolvlm", "smolvlm": "smolvlm", "llava": "llava"}
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class ModelDir:
    """A validated model directory: its path, parsed config.json, family and image-processor settings."""

    path: Path
    config: dict[str, Any]
    family: str  # "smolvlm" | "llava"
    image_processor: dict[str, Any]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open("r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise VlmLoadError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise VlmLoadError(f"{path} does not hold a JSON object")
    return data


def read_image_processor_settings(path: Path) -> dict[str, Any]:
    """The image processor's settings: preprocessor_config.json (hub layout) or the
    "image_processor" entry of processor_config.json (transformers 5 save layout)."""
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        return _read_json(pre)
    proc = path / "processor_config.json"
    if proc.is_file():
        data = _read_json(proc)
        if isinstance(data.get("image_processor"), dict):
            return data["image_processor"]
    raise VlmLoadError(
        f"{path}: no image processor settings (expected preprocessor_config.json, or processor_config.json "
        "with an 'image_processor' entry); save the model's processor with save_pretrained next to the model"
    )


def open_model_dir(model_dir: str | Path, expect_family: str | None = None) -> ModelDir:
    """Validate `model_dir` and return what it holds. Raises VlmLoadError naming the missing piece."""
    path = Path(model_dir).expanduser()
    if not path.exists():
        raise VlmLoadError(f"VLM model directory does not exist: {path} (models are never downloaded; "
                           "copy a saved model there, e.g. with save_pretrained)")
    if not path.is_dir():
        raise VlmLoadError(f"VLM model path is not a directory: {path}")
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise VlmLoadError(f"{path}: missing config.json, so this is not a saved Hugging Face model directory")
    config = _read_json(cfg_path)
    model_type = config.get("model_type")
    family = SUPPORTED_MODEL_TYPES.get(model_type)
    if family is None:
        raise VlmLoadError(f"{path}: model_type {model_type!r} is not supported "
                           f"(supported: {sorted(SUPPORTED_MODEL_TYPES)})")
    if expect_family is not None and family != expect_family:
        raise VlmLoadError(f"{path}: holds a {family} model (model_type {model_type!r}), expected {expect_family}")
    if not any((path / name).is_file() for name in _WEIGHT_FILES):
        raise VlmLoadError(f"{path}: no safetensors weights (expected one of {list(_WEIGHT_FILES)}); "
                           "pickled .bin weights are not loaded")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise VlmLoadError(f"{path}: no tokenizer (expected one of {list(_TOKENIZER_FILES)})")
    return ModelDir(path=path, config=config, family=family, image_processor=read_image_processor_settings(path))
