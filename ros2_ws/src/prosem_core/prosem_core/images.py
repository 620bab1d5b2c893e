"""Camera messages <-> numpy, and JPEG/WebP coding. The one place image bytes are interpreted.

Messages are duck-typed (anything with the sensor_msgs/Image or CompressedImage fields works), so
this module never imports ROS: the nodes, the benchmarks and the tests share it. All functions
return RGB uint8 arrays [H, W, 3] and raise ImageError (a ValueError) on anything malformed.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# encoding -> (channels, conversion code to RGB or None when already RGB)
_RAW_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
}
SUPPORTED_ENCODINGS = tuple(_RAW_ENCODINGS)
MAX_SIDE = 16384  # refuse absurd sizes before allocating


class ImageError(ValueError):
    """An image message or buffer that cannot be turned into pixels."""


def _as_bytes(data: Any) -> bytes | memoryview:
    # rclpy hands uint8[] fields back as array.array('B'); memoryview avoids a copy.
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    try:
        return memoryview(data).cast("B")
    except TypeError:
        return bytes(data)


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/Image-like -> RGB uint8 [H, W, 3] (a copy, safe to keep)."""
    encoding = str(getattr(msg, "encoding", "")).lower()
    if encoding not in _RAW_ENCODINGS:
        raise ImageError(f"unsupported image encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, code = _RAW_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise ImageError(f"bad image size {width}x{height}")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageError(f"step {step} < width*channels {row_bytes}")
    buf = np.frombuffer(_as_bytes(msg.data), dtype=np.uint8)
    # The last row may omit its padding; anything shorter than that is truncated.
    needed = step * (height - 1) + row_bytes
    if buf.size < needed:
        raise ImageError(f"image data truncated: {buf.size} bytes, need {needed}")
    if buf.size < step * height:
        buf = np.concatenate([buf, np.zeros(step * height - buf.size, np.uint8)])
    pixels = buf[: step * height].reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if code is None:
        return pixels.copy()  # own, writable memory: the message's buffer may be reused or read-only
    if channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def decode_image_bytes(data: Any) -> np.ndarray:
    """JPEG/PNG/WebP bytes -> RGB uint8 [H, W, 3]."""
    buf = np.frombuffer(_as_bytes(data), dtype=np.uint8)
    if buf.size == 0:
        raise ImageError("empty compressed image")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"cannot decode compressed image ({buf.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def compressed_msg_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/CompressedImage-like (jpeg/png, any format string OpenCV can sniff) -> RGB."""
    fmt = str(getattr(msg, "format", "")).lower()
    if fmt and not any(k in fmt for k in ("jpeg", "jpg", "png", "webp")):
        raise ImageError(f"unsupported compressed format {fmt!r}")
    return decode_image_bytes(msg.data)


def msg_to_rgb(msg: Any) -> np.ndarray:
    """Either camera message type -> RGB: raw if it has `encoding`, compressed if it has `format`."""
    if hasattr(msg, "encoding"):
        return image_msg_to_rgb(msg)
    if hasattr(msg, "format"):
        return compressed_msg_to_rgb(msg)
    raise ImageError(f"not an image message: {type(msg).__name__}")


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageError(f"expected RGB uint8 [H, W, 3], got {rgb.dtype} {rgb.shape}")
    return np.ascontiguousarray(rgb)


def fill_image_msg(msg: Any, rgb: np.ndarray, encoding: str = "rgb8") -> Any:
    """Write RGB pixels into a sensor_msgs/Image-like object in `encoding`; returns msg."""
    rgb = _check_rgb(rgb)
    if encoding not in _RAW_ENCODINGS:
        raise ImageError(f"unsupported image encoding {encoding!r}")
    out = {
        "rgb8": lambda a: a,
        "bgr8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2BGR),
        "mono8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2GRAY),
        "rgba8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2RGBA),
        "bgra8": lambda a: cv2.cvtColor(a, cv2.COLOR_RGB2BGRA),
    }[encoding](rgb)
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * _RAW_ENCODINGS[encoding][0])
    msg.data = np.ascontiguousarray(out).tobytes()
    return msg


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """RGB -> JPEG bytes (baseline, 4:2:0 as OpenCV/libjpeg default)."""
    if not 1 <= quality <= 100:
        raise ImageError(f"JPEG quality {quality} outside 1..100")
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(_check_rgb(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageError("JPEG encoding failed")
    return buf.tobytes()


def encode_webp(rgb: np.ndarray, quality: int = 80) -> bytes:
    """RGB -> WebP bytes (lossy)."""
    if not 1 <= quality <= 100:
        raise ImageError(f"WebP quality {quality} outside 1..100")
    ok, buf = cv2.imencode(".webp", cv2.cvtColor(_check_rgb(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:
        raise ImageError("WebP encoding failed")
    return buf.tobytes()


def fill_compressed_msg(msg: Any, rgb: np.ndarray, quality: int = 90, fmt: str = "jpeg") -> Any:
    """Write RGB as JPEG (or WebP) into a sensor_msgs/CompressedImage-like object; returns msg."""
    if fmt == "jpeg":
        msg.data = encode_jpeg(rgb, quality)
    elif fmt == "webp":
        msg.data = encode_webp(rgb, quality)
    else:
        raise ImageError(f"unsupported output format {fmt!r}")
    msg.format = fmt
    return msg


def resize_max_side(rgb: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale so the longer side is at most `max_side` (0 = unchanged); area filter avoids aliasing."""
    h, w = rgb.shape[:2]
    if max_side <= 0 or max(h, w) <= max_side:
        return rgb
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
