"""Image -> encoder input, in numpy only (shared by the torch and ONNX runtimes so both see the same pixels).

EfficientNet-Lite0 was trained at 224x224 with pixels mapped to [-1, 1]: (x/255 - 0.5) / 0.5.
The whole camera frame is resized (no crop): a robot asks about everything in view.
"""
from __future__ import annotations

import numpy as np

IMAGE_SIZE = 224


def check_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an RGB uint8 HxWx3 array (grey HxW and RGBA are converted); clear error otherwise."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f"image too small: {image.shape[:2]}")
    return np.ascontiguousarray(image[:, :, :3])


def resize_rgb(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    import cv2  # local: keeps module import cheap

    h, w = image.shape[:2]
    # Area averaging when shrinking avoids aliasing; bilinear when enlarging (easy-VQA is 64x64).
    interp = cv2.INTER_AREA if (h > size and w > size) else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def to_input(image: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 [1, 3, size, size] in [-1, 1]."""
    rgb = resize_rgb(check_rgb(image), size)
    x = rgb.astype(np.float32) * (1.0 / 127.5) - 1.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def batch_input(images: list[np.ndarray], size: int = IMAGE_SIZE) -> np.ndarray:
    return np.concatenate([to_input(im, size) for im in images], axis=0)
