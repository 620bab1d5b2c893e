"""The bench camera sequence (prosem_core.bench.camera_sequence): deterministic, moving, natural."""
from __future__ import annotations

import numpy as np

from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence, jpeg_bytes


def test_camera_sequence_is_deterministic_moving_and_natural():
    cam = CameraSequence(CameraConfig(seed=1))
    a, b = cam.frame(3), CameraSequence(CameraConfig(seed=1)).frame(3)
    assert a.shape == (480, 640, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    # The camera moves: consecutive frames differ, but are of the same scene.
    diff = np.abs(cam.frame(4).astype(int) - a.astype(int)).mean()
    assert 1.0 < diff < 60.0
    # Natural-image statistics: a 640x480 JPEG at q90 is tens of KB (a flat or random image is not).
    size = len(jpeg_bytes(a, 90))
    assert 20_000 < size < 200_000
    assert len(jpeg_bytes(a, 75)) < size
    # Scenes change over time.
    assert cam.scene_of(0) != cam.scene_of(int(cam.config.fps * cam.config.scene_s))
