"""A moving 640x480 camera over real photos, for link benchmarks (ROS-free, deterministic).

Why not a synthetic pattern: JPEG sizes (what full_cloud pays on the link) depend on natural-image
statistics. Each scene is one of scikit-image's bundled photos, upscaled so a 640x480 window can pan
across it; the window drifts along a smooth path with hand-held jitter, and mild sensor noise is added,
as a robot's camera would see it. Scenes change every `scene_s` seconds so answers vary.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from prosem_core.models.sample_images import bundled_photos

# Photos of things the default answerer can name (ImageNet classes: a tabby cat, an espresso, a rocket);
# not the astronaut portrait (no ImageNet class), microscopy or logos.
NATURAL_SCENES = ("chelsea", "coffee", "rocket", "motorcycle_left")


@dataclass
class CameraConfig:
    width: int = 640
    height: int = 480
    fps: float = 5.0
    scene_s: float = 4.0        # seconds per scene before the camera turns to the next photo
    pan_px_s: float = 40.0      # pan speed across the (upscaled) photo
    jitter_px: float = 2.0      # hand-held shake, px sd
    noise_sd: float = 2.0       # sensor noise, grey levels sd
    seed: int = 0


class CameraSequence:
    """frame(i) -> RGB uint8 [H, W, 3]: frame i of the sequence (random access, deterministic)."""

    def __init__(self, config: CameraConfig | None = None) -> None:
        self.config = config or CameraConfig()
        cfg = self.config
        photos = dict(bundled_photos())
        self.scene_names = [n for n in NATURAL_SCENES if n in photos] or sorted(photos)
        if not self.scene_names:
            raise RuntimeError("no bundled photos available (scikit-image missing?)")
        # Upscale so the window covers at most ~70 % of the photo each way: room to pan.
        self._scenes = []
        for name in self.scene_names:
            im = photos[name]
            scale = max(cfg.width / (0.7 * im.shape[1]), cfg.height / (0.7 * im.shape[0]), 1.0)
            size = (int(round(im.shape[1] * scale)), int(round(im.shape[0] * scale)))
            self._scenes.append(cv2.resize(im, size, interpolation=cv2.INTER_CUBIC))

    def scene_of(self, i: int) -> str:
        return self.scene_names[self._scene_index(i)]

    def _scene_index(self, i: int) -> int:
        return int(i / (self.config.fps * self.config.scene_s)) % len(self._scenes)

    def frame(self, i: int) -> np.ndarray:
        cfg = self.config
        scene = self._scenes[self._scene_index(i)]
        rng = np.random.default_rng((cfg.seed, i))
        t = i / cfg.fps
        span_x, span_y = scene.shape[1] - cfg.width, scene.shape[0] - cfg.height
        # A slow back-and-forth pan (triangle wave) plus a vertical sway, then jitter.
        travel = cfg.pan_px_s * t
        period = 2 * max(span_x, 1)
        x = abs((travel % period) - span_x) if span_x > 0 else 0.0
        y = span_y / 2 * (1 + 0.5 * np.sin(2 * np.pi * t / 7.0))
        x = float(np.clip(x + rng.normal(0, cfg.jitter_px), 0, span_x))
        y = float(np.clip(y + rng.normal(0, cfg.jitter_px), 0, span_y))
        # Sub-pixel window via an affine warp, as a real moving camera does not land on integer pixels.
        m = np.float32([[1, 0, -x], [0, 1, -y]])
        out = cv2.warpAffine(scene, m, (cfg.width, cfg.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        if cfg.noise_sd > 0:
            noise = rng.normal(0, cfg.noise_sd, out.shape)
            out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        return out


def jpeg_bytes(rgb: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
