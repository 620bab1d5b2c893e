"""Live-stream video wrappers of `prosem bench stream` (PyAV): round trip, byte counts, keyframes."""
from __future__ import annotations

import io
import os
import threading

import numpy as np
import pytest

from prosem_core.bench.camera_sequence import CameraConfig, CameraSequence
from prosem_core.bench.stream_video import (
    VIDEO_CODECS,
    VideoCodecUnavailable,
    check_available,
    decode_stream,
    encode_frames,
    encoder_settings,
    psnr,
)

# The raw elementary-stream demuxer of each codec: parsing the concatenated packets with it shows the
# counted bytes carry everything a decoder needs (parameter sets in-band, no hidden extradata).
RAW_FORMAT = {"h264": "h264", "h265": "hevc", "av1": "obu"}


@pytest.fixture(scope="module")
def frames():
    import cv2

    cam = CameraSequence(CameraConfig(seed=2))
    return [cv2.resize(cam.frame(i), (160, 120), interpolation=cv2.INTER_AREA) for i in range(7)]


@pytest.mark.parametrize("codec", sorted(VIDEO_CODECS))
def test_round_trip_counts_every_byte_the_decoder_needs(codec, frames):
    import av

    check_available([codec])
    policy = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    stream = encode_frames(frames, codec, quality=30 if codec != "av1" else 40, fps=5.0, keyint=4)
    # SVT-AV1 run as root makes its calling thread SCHED_FIFO 99, and threads created from it later
    # inherit that; the encoder runs on a thread of its own, so neither this thread nor a new one changes.
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == policy
    probe = []
    later = threading.Thread(target=lambda: probe.append(os.sched_getscheduler(0)))
    later.start()
    later.join()
    assert probe == [policy[0]]
    assert len(stream.packets) == len(frames) == len(stream.keyframe)
    assert stream.frame_bytes.tolist() == [len(p) for p in stream.packets] and all(stream.frame_bytes > 0)
    # Keyframes where the interval puts them (x264 may add one on a scene cut: none in 7 frames of one scene).
    assert [i for i, k in enumerate(stream.keyframe) if k] == [0, 4]
    assert stream.frame_bytes[0] > 3 * np.median(stream.frame_bytes[1:4])  # an intra frame costs more than a P frame
    decoded = decode_stream(stream)
    assert len(decoded) == len(frames) and decoded[0].shape == frames[0].shape
    assert min(psnr(a, b) for a, b in zip(decoded, frames)) > 28.0
    # The counted bytes, concatenated, are a decodable stream on their own.
    with av.open(io.BytesIO(b"".join(stream.packets)), format=RAW_FORMAT[codec]) as raw:
        assert sum(1 for _ in raw.decode(video=0)) == len(frames)
    # Lower quality setting: fewer bytes (the sweep's knob works in the expected direction).
    coarse = encode_frames(frames, codec, quality=45 if codec != "av1" else 60, fps=5.0, keyint=4)
    assert coarse.frame_bytes.sum() < stream.frame_bytes.sum()


def test_encoding_is_reproducible(frames):
    a = encode_frames(frames[:3], "h264", 30, 5.0, 50)
    b = encode_frames(frames[:3], "h264", 30, 5.0, 50)
    assert a.packets == b.packets


def test_settings_are_live_stream_settings():
    h264 = encoder_settings("h264", 30, 50)
    assert h264["tune"] == "zerolatency" and h264["crf"] == "30"
    assert "bframes=0" in encoder_settings("h265", 30, 50)["x265-params"]
    assert "keyint=50" in encoder_settings("h265", 30, 50)["x265-params"]
    av1 = encoder_settings("av1", 40, 50)["svtav1-params"]
    assert "rtc=1" in av1 and "pred-struct=1" in av1


def test_bad_input_is_a_clear_error(frames):
    with pytest.raises(ValueError, match="even"):
        encode_frames([np.zeros((31, 32, 3), np.uint8)], "h264", 30, 5.0, 10)
    with pytest.raises(ValueError, match="no frames"):
        encode_frames([], "h264", 30, 5.0, 10)
    with pytest.raises(ValueError, match="same size"):
        encode_frames([frames[0], frames[0][:64, :64]], "h264", 30, 5.0, 10)
    with pytest.raises(ValueError, match="unknown video codec"):
        check_available(["mpeg2"])
    assert issubclass(VideoCodecUnavailable, RuntimeError)
