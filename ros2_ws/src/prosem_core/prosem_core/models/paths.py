"""Where model files live.

Shipped (small, committed): `prosem_core/data/` -- answer head weights, ImageNet labels.
Generated (large, never committed): the ONNX exports of the vision encoder. They are written by
`scripts/setup.d/20-onnx.sh` (`prosem export-onnx`) into a git-ignored folder that `model_dir()`
resolves, so every process (edge node, tests, benchmarks) finds the same files.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
ENV_MODEL_DIR = "PROSEM_MODEL_DIR"


class ModelFileMissing(FileNotFoundError):
    """A model file the caller asked for is not on disk; the message says how to create it."""


def _repo_root() -> Path | None:
    # Editable installs run from the checkout: prosem_core/models -> ros2_ws/src/prosem_core -> repo.
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "ros2_ws").is_dir() and (parent / "scripts" / "setup.sh").is_file():
            return parent
    return None


def model_dir() -> Path:
    """Folder for generated model files: $PROSEM_MODEL_DIR, else <repo>/build/models, else ~/.cache/prosem/models."""
    env = os.environ.get(ENV_MODEL_DIR)
    if env:
        return Path(env)
    root = _repo_root()
    if root is not None:
        return root / "build" / "models"
    return Path.home() / ".cache" / "prosem" / "models"


def data_file(name: str) -> Path:
    """A file shipped in prosem_core/data (raises ModelFileMissing with a hint if absent)."""
    path = DATA_DIR / name
    if not path.is_file():
        raise ModelFileMissing(
            f"shipped model file {path} is missing; it is part of the repository "
            f"(restore it with git, or regenerate it with `prosem train vqa-head`)"
        )
    return path


def onnx_path(variant: str) -> Path:
    """Path of an exported encoder: variant 'fp32' or 'int8'. Does not check existence."""
    if variant not in ("fp32", "int8"):
        raise ValueError(f"unknown ONNX variant {variant!r}; expected 'fp32' or 'int8'")
    return model_dir() / f"efficientnet_lite0_tokens_{variant}.onnx"


def require_onnx(variant: str) -> Path:
    """Existing path of an exported encoder, or ModelFileMissing telling the user how to make it."""
    path = onnx_path(variant)
    if not path.is_file():
        raise ModelFileMissing(
            f"ONNX encoder '{variant}' not found at {path}. Create it with `make setup` "
            f"(runs scripts/setup.d/20-onnx.sh) or `prosem export-onnx` "
            f"(set {ENV_MODEL_DIR} to use another folder)."
        )
    return path


# Shipped files (prosem_core/data).
VQA_HEAD_FILE = "vqa_head.safetensors"
IMAGENET_LABELS_FILE = "imagenet_labels.txt"


def minilm_onnx_path() -> Path:
    return model_dir() / "all_minilm_l6_v2.onnx"


def require_minilm_onnx() -> Path:
    path = minilm_onnx_path()
    if not path.is_file():
        raise ModelFileMissing(f"MiniLM ONNX export not found at {path}; create it with `make setup` or `prosem export-onnx`")
    return path


def atomic_target(path: Path) -> Path:
    """A new, empty temp file beside `path` (readable by all) to write into and then os.replace onto
    `path`, so a half-written model is never picked up. The caller removes it on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; other users/containers read these models
    return Path(tmp)
