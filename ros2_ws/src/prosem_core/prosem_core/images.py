"""Camera messages <-> numpy, and JPEG/WebP coding. The one place image bytes are interpreted.

Messages are duck-typed (anything with the sensor_msgs/Image or CompressedImage fields works), so
this module never imports ROS: the nodes, the benchmarks and the tests share it. All functions
return RGB uint8 arrays [H, W, 3] and raise ImageError (a ValueError) on anything malformed.

Limits (ImageLimits) are checked from the message header, before anything is allocated: pixel count
and side for raw images (with `step` and the data length agreeing), compressed byte count and the
pixel count read from the PNG/JPEG/WebP header (image_header) before decoding. Depth images (16UC1,
32FC1, compressedDepth, 16-bit greyscale PNG) are refused with a clear error: the encoder reads colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from prosem_core.image_header import ImageHeaderError, read_image_header

# encoding -> (channels, conversion code to RGB or None when already RGB)
_RAW_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
}
SUPPORTED_ENCODINGS = tuple(_RAW_ENCODINGS)
# Depth and other non-colour encodings a camera driver publishes (REP 118 / image_encodings).
DEPTH_ENCODINGS = frozenset({"16uc1", "16sc1", "32fc1", "32sc1", "64fc1", "mono16", "16uc3", "32fc3"})
MAX_SIDE = 16384  # refuse absurd sizes before allocating
MAX_ROW_PADDING = 4096  # bytes of padding a row may carry beyond width * channels (alignment)


@dataclass(frozen=True)
class ImageLimits:
    """What a camera message may ask this process to allocate.

    The defaults take any camera up to ~16 MP (4096 x 4096); a 30000 x 30000 PNG or a 1x1 image
    claiming a 3 GiB row are refused before any allocation.
    """

    max_pixels: int = 4096 * 4096
    max_side: int = MAX_SIDE
    max_compressed_bytes: int = 32 << 20


DEFAULT_LIMITS = ImageLimits()


class ImageError(ValueError):
    """An image message or buffer that cannot be turned into pixels."""


def _check_size(width: int, height: int, limits: ImageLimits) -> None:
    if not (0 < height <= limits.max_side and 0 < width <= limits.max_side):
        raise ImageError(f"bad image size {width}x{height} (each side 1..{limits.max_side})")
    if width * height > limits.max_pixels:
        raise ImageError(f"image of {width}x{height} = {width * height} pixels exceeds the limit of {limits.max_pixels}; "
                         "lower the camera resolution or raise the edge's max_image_pixels")


def _as_bytes(data: Any) -> bytes | memoryview:
    # rclpy hands uint8[] fields back as array.array('B'); memoryview avoids a copy.
    if isinstance(data, (bytes, bytearray, memoryview)):
        return data
    try:
        return memoryview(data).cast("B")
    except TypeError:
        return bytes(data)


def image_msg_to_rgb(msg: Any, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """sensor_msgs/Image-like -> RGB uint8 [H, W, 3] (a copy, safe to keep).

    Everything is checked from the header fields first; the only allocation is the H x W x 3 result.
    """
    encoding = str(getattr(msg, "encoding", ""))[:32].lower()
    if encoding in DEPTH_ENCODINGS:
        raise ImageError(f"depth/non-colour image encoding {encoding!r}: ProSem encodes colour images; "
                         f"subscribe the camera's colour topic (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    if encoding not in _RAW_ENCODINGS:
        raise ImageError(f"unsupported image encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, code = _RAW_ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    _check_size(width, height, limits)
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageError(f"step {step} < width*channels {row_bytes}")
    if step > row_bytes + MAX_ROW_PADDING:
        raise ImageError(f"step {step} pads a row of {row_bytes} bytes by more than {MAX_ROW_PADDING} bytes: a broken header")
    buf = np.frombuffer(_as_bytes(msg.data), dtype=np.uint8)
    # The last row may omit its padding; anything shorter than that is truncated, anything longer
    # than height rows is not this image.
    needed = step * (height - 1) + row_bytes
    if buf.size < needed:
        raise ImageError(f"image data truncated: {buf.size} bytes, need {needed}")
    if buf.size > step * height:
        raise ImageError(f"image data of {buf.size} bytes is longer than step x height = {step * height}")
    # A strided view of the rows (no padding copied in), then one copy of the pixels.
    pixels = np.lib.stride_tricks.as_strided(buf, shape=(height, width, channels), strides=(step, channels, 1), writeable=False)
    if code is None:
        return pixels.copy()  # own, writable memory: the message's buffer may be reused or read-only
    if channels == 1:
        pixels = pixels[:, :, 0]
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def check_compressed(data: Any, limits: ImageLimits = DEFAULT_LIMITS) -> tuple[str, int, int]:
    """(format, width, height) of compressed image bytes, read from the header; ImageError when the
    bytes are too many, not PNG/JPEG/WebP, a depth image, or declare more pixels than allowed."""
    size = len(data)
    if size == 0:
        raise ImageError("empty compressed image")
    if size > limits.max_compressed_bytes:
        raise ImageError(f"compressed image of {size} bytes exceeds the limit of {limits.max_compressed_bytes}")
    try:
        header = read_image_header(_as_bytes(data))
    except ImageHeaderError as exc:
        raise ImageError(f"cannot read the compressed image's header: {exc}") from None
    if header.format == "png" and header.bit_depth == 16 and header.channels in (1, 2):
        raise ImageError("16-bit greyscale PNG: a depth image? ProSem encodes colour images")
    _check_size(header.width, header.height, limits)
    return header.format, header.width, header.height


def decode_image_bytes(data: Any, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """JPEG/PNG/WebP bytes -> RGB uint8 [H, W, 3]; the size is checked from the header first."""
    check_compressed(data, limits)
    buf = np.frombuffer(_as_bytes(data), dtype=np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"cannot decode compressed image ({buf.size} bytes)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def compressed_msg_to_rgb(msg: Any, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """sensor_msgs/CompressedImage-like (jpeg/png/webp; the format string may be empty) -> RGB."""
    fmt = str(getattr(msg, "format", ""))[:64].lower()
    if "compresseddepth" in fmt or any(enc in fmt for enc in DEPTH_ENCODINGS):
        raise ImageError(f"depth image (format {fmt!r}): ProSem encodes colour images; subscribe the colour topic")
    if fmt and not any(k in fmt for k in ("jpeg", "jpg", "png", "webp")):
        raise ImageError(f"unsupported compressed format {fmt!r}")
    return decode_image_bytes(msg.data, limits)


def msg_to_rgb(msg: Any, limits: ImageLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Either camera message type -> RGB: raw if it has `encoding`, compressed if it has `format`."""
    if hasattr(msg, "encoding"):
        return image_msg_to_rgb(msg, limits)
    if hasattr(msg, "format"):
        return compressed_msg_to_rgb(msg, limits)
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
