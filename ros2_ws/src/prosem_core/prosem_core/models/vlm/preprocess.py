"""Image -> pixel array for a VLM's vision tower, in numpy + PIL (no torchvision, no torch).

Settings come from the model directory's image-processor JSON so the edge feeds the tower what the
model was trained on. Arithmetic follows the transformers PIL image processors of the pinned
version (resize on uint8 through PIL, then float64 rescale cast to float32, then float32 normalize),
so pixel arrays match theirs exactly; a test checks this against the real processor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from .base import VlmInputError, VlmLoadError, check_rgb_uint8

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
    resize_hw: tuple[int, int] | None = None  # clip: a fixed-size resize (SigLIP-style size.height/width)


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
        # do_image_splitting is not read here: whether the edge splits is ProSem's choice (VlmConfig
        # image_splitting, off by default), made with a grid fixed per config (split_grid_for).
        side = _edge(settings, "max_image_size", "longest_edge") or tower_size
        if side != tower_size:
            raise VlmLoadError(f"image processor max_image_size {side} != vision tower image_size {tower_size}")
        return PixelPrep("idefics3", (side, side), resample, bool(settings.get("do_resize", True)),
                         _edge(settings, "size", "longest_edge"), False, False, rescale, mean, std, resize_mode)

    crop = settings.get("crop_size", tower_size)
    crop_hw = (int(crop["height"]), int(crop["width"])) if isinstance(crop, dict) else (int(crop), int(crop))
    do_crop = bool(settings.get("do_center_crop", True))
    shortest = _edge(settings, "size", "shortest_edge")
    size = settings.get("size")
    fixed_hw = ((int(size["height"]), int(size["width"])) if isinstance(size, dict) and shortest is None
                and "height" in size and "width" in size else None)  # SigLIP-style: one resize to h x w
    if "do_center_crop" not in settings and fixed_hw is not None:
        do_crop = False  # SigLIP processors have no crop step
    out_hw = crop_hw if do_crop else ((shortest, shortest) if shortest else (fixed_hw or (tower_size, tower_size)))
    if out_hw != (tower_size, tower_size):
        raise VlmLoadError(f"image processor output {out_hw} != vision tower image_size {tower_size}")
    if settings.get("do_resize", True) and shortest is None and fixed_hw is None:
        raise VlmLoadError("clip-style image processor needs size.shortest_edge or size.height + size.width")
    return PixelPrep("clip", out_hw, resample, bool(settings.get("do_resize", True)), shortest, do_crop,
                     bool(settings.get("do_pad", False)), rescale, mean, std, resize_mode, fixed_hw)


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
        if prep.do_resize and prep.resize_hw is not None:  # fixed size: the processor's only resize
            rgb = np.asarray(_resize(Image.fromarray(rgb), prep.resize_hw, prep.resample))
        elif prep.do_resize and prep.resize_mode == "processor":
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
    return _to_float(arr, prep)


def _to_float(arr: np.ndarray, prep: PixelPrep) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [3, H, W], rescaled and normalised as the processors do."""
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    out = (chw.astype(np.float64) * prep.rescale_factor).astype(np.float32) if prep.rescale_factor else chw.astype(np.float32)
    if prep.mean is not None:
        out = (out - prep.mean[:, None, None]) / prep.std[:, None, None]
    return out.astype(np.float32, copy=False)


# A typical robot camera frame (4:3 landscape); the default split grid is the processor's grid for it.
DEFAULT_SPLIT_FRAME_HW = (480, 640)


def split_grid_for(h: int, w: int, prep: PixelPrep) -> tuple[int, int]:
    """(rows, cols) of tiles the Idefics3 processor cuts an h x w image into (its resize chain:
    longest edge to size.longest_edge, then both sides up to multiples of the tile)."""
    if prep.layout != "idefics3":
        raise VlmLoadError("image splitting exists only for SmolVLM/Idefics3 models")
    tile = prep.out_hw[0]
    if prep.do_resize and prep.resize_edge:
        h, w = _idefics3_first_resize(h, w, prep.resize_edge)
    aspect = w / h
    if w >= h:
        cols = math.ceil(w / tile)
        rows = math.ceil(int(cols * tile / aspect) / tile)
    else:
        rows = math.ceil(h / tile)
        cols = math.ceil(int(rows * tile * aspect) / tile)
    return max(rows, 1), max(cols, 1)


def prepare_views(rgb_uint8_hwc: np.ndarray, prep: PixelPrep, grid: tuple[int, int]) -> np.ndarray:
    """Image splitting: float32 [rows * cols + 1, 3, tile, tile], the tiles row-major, then the global view.

    The frame is resized to rows x cols tiles (processor mode: through the processor's first resize;
    direct: in one step), cut, and the whole resized frame is shrunk to one tile for the global view:
    for a frame whose processor grid is `grid`, this equals the Idefics3 processor's pixels exactly.
    """
    if prep.layout != "idefics3":
        raise VlmLoadError("image splitting exists only for SmolVLM/Idefics3 models")
    rows, cols = grid
    if rows < 1 or cols < 1 or rows * cols < 2:
        raise VlmInputError(f"split grid must have at least 2 tiles, got {rows} x {cols}")
    rgb = check_rgb_uint8(rgb_uint8_hwc)
    tile = prep.out_hw[0]
    img = Image.fromarray(rgb)
    if prep.do_resize and prep.resize_edge and prep.resize_mode == "processor":
        img = _resize(img, _idefics3_first_resize(rgb.shape[0], rgb.shape[1], prep.resize_edge), prep.resample)
    img = _resize(img, (rows * tile, cols * tile), prep.resample)
    big = np.asarray(img)
    views = [big[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] for r in range(rows) for c in range(cols)]
    views.append(np.asarray(_resize(img, (tile, tile), prep.resample)))
    return np.stack([_to_float(v, prep) for v in views])


def edge_pixels(rgb_uint8_hwc: np.ndarray, prep: PixelPrep, grid: tuple[int, int] | None) -> np.ndarray:
    """What the edge half feeds its vision tower: float32 [V, 3, H, W]; V = 1 (grid None) or tiles + 1."""
    if grid is None:
        return prepare_pixels(rgb_uint8_hwc, prep)[None]
    return prepare_views(rgb_uint8_hwc, prep, grid)
