"""The pipeline the node tests run: the real default pipeline (ONNX encoder, shipped codebook,
shipped answer head), built once per process, and camera frames/layers made with it."""
from __future__ import annotations

import functools

import numpy as np
from node_harness import camera_frames

# Routed to the easy-VQA head (numpy, ~1 ms): node tests test the nodes, not MiniLM's load time.
QUESTION = "what shape is in the image?"


@functools.lru_cache(maxsize=1)
def real_pipeline():
    from prosem_core.pipeline import default_pipeline

    p = default_pipeline(runtime="onnx")
    _ = p.codec, p.encoder, p.answerer.head  # fail here, loudly, if a shipped file is missing
    return p


@functools.lru_cache(maxsize=8)
def frame_tokens(index: int) -> np.ndarray:
    return real_pipeline().encoder.encode(camera_frames(4)[index % 4])


def real_layers(frame_seq: int, index: int = 0) -> list[bytes]:
    """The layers of camera frame `index` coded as frame `frame_seq` with the shipped codebook."""
    return real_pipeline().codec.encode(frame_tokens(index), frame_seq=frame_seq)
