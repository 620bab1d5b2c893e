"""Image -> pixel array for a VLM's vision tower, in numpy + PIL (no torchvision, no torch).

Settings come from the model directory's image-processor JSON so the edge feeds the tower what the
model was trained on. Arithmetic follows the transformers PIL image processors of the pinned
version (resize on uint8 through PIL, then float64 rescale cast to float32, then float32 normalize),
so pixel arrays match theirs exactly; a test checks this against the real processor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from .base import VlmLoadError, check_rgb_uint8

# transformers' PILImageResampling numbers are PIL's own Resampling numbers.
_RESAMPLE = {int(r): r for r in Image.Resampling}
_MAX_SIDE = 4096  # the Idefics3 processor's absolute cap on an intermediate resize


@dataclass(frozen=True)
class PixelPrep:
    """One model's image preprocessing, parsed once from its settings."""

    layout: Literal["idefics3", "clip"]
    out_hw: tuple[int, int]            # what the vision tower receives
    resample: Image.Resampling
    do_resize: bool
    resize_edge: int | None            # idefics3: longest edge of the first resize; clip: shortest edge
    do_center_crop: bool
    do_pad_square: bool                # llava: pad to a square with the mean colour before resizing
    rescale_factor: float | None       # None: no rescale
    mean: np.ndarray | None            # None: no normalisation
    std: np.ndarray | None
    resize_mode: Literal["processor", "direct"] = "processor"


def _channel_stats(settings: dict[str, Any], key: str, default: list[float]) -> np.ndarray:
    value = settings.get(key, default)
    arr = np.asarray(value if isinstance(value, (list, tuple)) else [value] * 3, dtype=np.float32)
    if arr.shape != (3,):
        raise VlmLoadError(f"image processor {key} must have 3 channels, got {value!r}")
    return arr


def _edge(settings: dict[str, Any], key: str, sub: str) -> int | None:
    value = settings.get(key)
    if isinstance(value, dict):
        value = value.get(sub)
    return int(value) if isinstance(value, (int, float)) else None


def build_pixel_prep(settings: dict[str, Any], layout: Literal["idefics3", "clip"], tower_size: int,
                     resize_mode: Literal["processor", "direct"] = "processor") -> PixelPrep:
    """Parse image-processor settings for a tower that takes `tower_size` x `tower_size` pixels."""
    resample = _RESAMPLE.get(int(settings.get("resample", 1 if layout == "idefics3" else 3)))
    if resample is None:
        raise VlmLoadError(f"unknown resample filter {settings.get('resample')!r}")
    rescale = float(settings.get("rescale_factor", 1 / 255)) if settings.get("do_rescale", True) else None
    if settings.get("do_normalize", True):
        mean, std = (_channel_stats(settings, "image_mean", [0.5] * 3), _channel_stats(settings, "image_std", [0.5] * 3))
        if np.any(std == 0):
            raise VlmLoadError("image processor image_std contains 0")
    else:
        mean = std = None

    if layout == "idefics3":
        # do_image_splitting is ignored on purpose: splitting turns one image into several crops (several
        # token blocks); the edge ships one global view per frame, as the reference paper did.
        side = _edge(settings, "max_image_size", "longest_edge") or tower_size
        if side != tower_size:
            raise VlmLoadError(f"image processor max_image_size {side} != vision tower image_size {tower_size}")
        return PixelPrep("idefics3", (side, side), resample, bool(settings.get("do_resize", True)),
                         _edge(settings, "size", "longest_edge"), False, False, rescale, mean, std, resize_mode)

    crop = settings.get("crop_size", tower_size)
    crop_hw = (int(crop["height"]), int(crop["width"])) if isinstance(crop, dict) else (int(crop), int(crop))
    do_crop = bool(settings.get("do_center_crop", True))
    shortest = _edge(settings, "size", "shortest_edge")
    out_hw = crop_hw if do_crop else ((shortest, shortest) if shortest else (tower_size, tower_size))
    if out_hw != (tower_size, tower_size):
        raise VlmLoadError(f"image processor output {out_hw} != vision tower image_size {tower_size}")
    if settings.get("do_resize", True) and shortest is None:
        raise VlmLoadError("clip-style image processor needs size.shortest_edge")
    return PixelPrep("clip", out_hw, resample, bool(settings.get("do_resize", True)), shortest, do_crop,
                     bool(settings.get("do_pad", False)), rescale, mean, std, resize_mode)


def _resize(img: Image.Image, hw: tuple[int, int], resample: Image.Resampling) -> Image.Image:
    return img if img.size == (hw[1], hw[0]) else img.resize((hw[1], hw[0]), resample=resample)


def _idefics3_first_resize(h: int, w: int, longest: int) -> tuple[int, int]:
    """Longest side to `longest`, aspect kept, the other side rounded up to even; then capped at 4096."""
    aspect = w / h
    if w >= h:
        w, h = longest, int(longest / aspect)
        h += h % 2
    else:
        h, w = longest, int(longest * aspect)
        w += w % 2
    h, w = max(h, 1), max(w, 1)
    if w >= h and w > _MAX_SIDE:
        w, h = _MAX_SIDE, int(_MAX_SIDE / aspect)
    elif h > w and h > _MAX_SIDE:
        h, w = _MAX_SIDE, int(_MAX_SIDE * aspect)
    return max(h, 1), max(w, 1)


def _pad_square(rgb: np.ndarray, fill: tuple[int, int, int]) -> np.ndarray:
    h, w, _ = rgb.shape
    if h == w:
        return rgb
    side = max(h, w)
    out = np.empty((side, side, 3), dtype=rgb.dtype)
    out[...] = np.asarray(fill, dtype=rgb.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top:top + h, left:left + w] = rgb
    return out


def _center_crop(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w, _ = rgb.shape
    ch, cw = hw
    if h < ch or w < cw:  # a resize to shortest_edge >= crop never gets here; pad symmetric with zeros
        out = np.zeros((max(h, ch), max(w, cw), 3), dtype=rgb.dtype)
        top, left = (out.shape[0] - h) // 2, (out.shape[1] - w) // 2
        out[top:top + h, left:left + w] = rgb
        rgb, h, w = out, out.shape[0], out.shape[1]
    top, left = (h - ch) // 2, (w - cw) // 2
    return rgb[top:top + ch, left:left + cw]


def prepare_pixels(rgb_uint8_hwc: np.ndarray, prep: PixelPrep) -> np.ndarray:
    """One RGB uint8 image -> float32 [3, H, W] ready for the vision tower."""
    rgb = check_rgb_uint8(rgb_uint8_hwc)
    if prep.layout == "idefics3":
        img = Image.fromarray(rgb)
        if prep.do_resize and prep.resize_edge and prep.resize_mode == "processor":
            img = _resize(img, _idefics3_first_resize(rgb.shape[0], rgb.shape[1], prep.resize_edge), prep.resample)
        arr = np.asarray(_resize(img, prep.out_hw, prep.resample))
    else:
        if prep.do_pad_square:
            fill = tuple(int(m * 255) for m in prep.mean) if prep.mean is not None else (0, 0, 0)
            rgb = _pad_square(rgb, fill)
        if prep.do_resize and prep.resize_mode == "processor":
            h, w, _ = rgb.shape
            short, long = (w, h) if w <= h else (h, w)
            new_short, new_long = prep.resize_edge, int(prep.resize_edge * long / short)
            hw = (new_long, new_short) if w <= h else (new_short, new_long)
            rgb = np.asarray(_resize(Image.fromarray(rgb), hw, prep.resample))
        elif prep.do_resize:  # direct: one resize straight to the tower's input, aspect not kept
            rgb = np.asarray(_resize(Image.fromarray(rgb), prep.out_hw, prep.resample))
        arr = _center_crop(rgb, prep.out_hw) if prep.do_center_crop else rgb
    if arr.shape[:2] != prep.out_hw:
        raise VlmLoadError(f"preprocessing produced {arr.shape[:2]}, expected {prep.out_hw}; check do_resize")
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    out = (chw.astype(np.float64) * prep.rescale_factor).astype(np.float32) if prep.rescale_factor else chw.astype(np.float32)
    if prep.mean is not None:
        out = (out - prep.mean[:, None, None]) / prep.std[:, None, None]
    return out.astype(np.float32, copy=False)
