"""Where a VLM's exported edge half lives, and its manifest (plain file I/O: the edge reads this without torch).

    MODEL_DIR/prosem_onnx/<split>_fp32.onnx    vision tower (+ connector / projector), full views
    MODEL_DIR/prosem_onnx/<split>_int8.onnx    the same, int8
    MODEL_DIR/prosem_onnx/<split>.json         manifest: family, fingerprint, shapes, token errors

<split> names what the graph contains: "vision_connector" (SmolVLM), "vision_projector" (LLaVA with
the projector on the edge) or "vision" (LLaVA, projector on the cloud).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

ONNX_SUBDIR = "prosem_onnx"
MANIFEST_VERSION = 1
VARIANTS = {"onnx": "fp32", "onnx-int8": "int8"}


def onnx_dir(model_dir: str | Path, override: str | Path | None = None) -> Path:
    return Path(override).expanduser() if override else Path(model_dir).expanduser() / ONNX_SUBDIR


def split_name(family: str, projector_on_edge: bool = True) -> str:
    if family == "smolvlm":
        return "vision_connector"
    if family == "llava":
        return "vision_projector" if projector_on_edge else "vision"
    raise ValueError(f"no ONNX edge split for family {family!r}")


def onnx_file(folder: Path, split: str, variant: str) -> Path:
    if variant not in ("fp32", "int8"):
        raise ValueError(f"ONNX variant must be 'fp32' or 'int8', got {variant!r}")
    return folder / f"{split}_{variant}.onnx"


def manifest_path(folder: Path, split: str) -> Path:
    return folder / f"{split}.json"


def read_manifest(folder: Path, split: str) -> dict[str, Any] | None:
    """The manifest, or None if there is none; ValueError if it is unreadable."""
    path = manifest_path(folder, split)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read ONNX manifest {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        raise ValueError(f"ONNX manifest {path} has an unknown format")
    return data


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
