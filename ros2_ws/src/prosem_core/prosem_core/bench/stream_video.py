"""Live-stream video codecs for `prosem bench stream`: H.264, H.265 and AV1 through PyAV (FFmpeg).

What a ROS user streams a camera with instead of semantic layers (ffmpeg_image_transport style):
a low-latency encoder with no B-frames, so every frame leaves the robot as soon as it is captured,
and a long keyframe interval. Settings per codec (all single-threaded, so bitstreams are
reproducible and the shared CPU is not oversubscribed):
  h264  libx264   preset medium, tune zerolatency (no B-frames, no lookahead), CRF
  h265  libx265   preset medium, tune zerolatency, bframes=0, CRF
  av1   libsvtav1 preset 8, rtc=1 (real-time mode), pred-struct=1 (low delay), CRF; decoded by libdav1d
Each encoder keeps its own scene-cut behaviour (x264 starts an IDR on a scene cut; x265 with
zerolatency and SVT-AV1 in low delay do not): that is what a user gets with these settings.

Bytes: every packet the encoder emits, as is. The encoders are opened without a global header, so
parameter sets / sequence headers travel in-band in the keyframes and are counted there; the tests
check that the counted bytes alone decode (a fresh decoder, no extradata).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

PYAV_PIN = "av==18.1.0"  # the PyAV wheel this benchmark was measured with (bundles FFmpeg 8 + x264/x265/SVT-AV1/dav1d)


class VideoCodecUnavailable(RuntimeError):
    """PyAV is missing, or its FFmpeg build lacks an encoder or decoder the benchmark needs."""


@dataclass(frozen=True)
class VideoCodec:
    name: str  # short name used in rows: h264 | h265 | av1
    encoder: str  # FFmpeg encoder
    decoder: str  # FFmpeg decoder
    options: dict[str, str] = field(default_factory=dict)  # fixed encoder options (besides the quality)
    quality_option: str = "crf"
    # Parameters that must go into a codec-specific parameter string, with the keyframe interval filled in.
    params_option: str | None = None
    params: str = ""


VIDEO_CODECS: dict[str, VideoCodec] = {
    "h264": VideoCodec("h264", "libx264", "h264", {"preset": "medium", "tune": "zerolatency"}),
    "h265": VideoCodec("h265", "libx265", "hevc", {"preset": "medium", "tune": "zerolatency"},
                       params_option="x265-params",
                       params="keyint={keyint}:bframes=0:pools=1:frame-threads=1:log-level=error"),
    "av1": VideoCodec("av1", "libsvtav1", "libdav1d", {"preset": "8"}, params_option="svtav1-params",
                      params="rtc=1:pred-struct=1:lp=1"),
}


@dataclass
class EncodedStream:
    """One encoded sequence: the packet bytes of each frame (in frame order) and which are keyframes."""
    codec: str
    quality: int
    width: int
    height: int
    packets: list[bytes]
    keyframe: list[bool]

    @property
    def frame_bytes(self) -> np.ndarray:
        return np.array([len(p) for p in self.packets], dtype=np.int64)


def _av():
    try:
        import av
    except ImportError as exc:
        raise VideoCodecUnavailable(f"PyAV is not installed: pip install {PYAV_PIN} (make setup installs it)") from exc
    av.logging.set_level(av.logging.ERROR)
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole config at info level otherwise
    return av


def check_available(codecs: list[str]) -> None:
    """Raise VideoCodecUnavailable naming every missing encoder/decoder (and what to do)."""
    av = _av()
    missing = []
    for name in codecs:
        if name not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {name!r}; choose from {', '.join(VIDEO_CODECS)}")
        spec = VIDEO_CODECS[name]
        for codec_name, mode in ((spec.encoder, "w"), (spec.decoder, "r")):
            try:
                av.Codec(codec_name, mode)
            except Exception:
                missing.append(f"{codec_name} ({'encoder' if mode == 'w' else 'decoder'})")
    if missing:
        raise VideoCodecUnavailable(f"this PyAV/FFmpeg build lacks {', '.join(missing)}: install {PYAV_PIN} "
                                    "or leave those codecs out (--video-codecs)")


def library_versions() -> dict:
    av = _av()
    return {"pyav": av.__version__, "ffmpeg_libs": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()}}


def encoder_settings(codec: str, quality: int, keyint: int) -> dict[str, str]:
    """The exact encoder options used for `codec` at `quality` (also written into the JSON meta)."""
    spec = VIDEO_CODECS[codec]
    opts = dict(spec.options)
    opts[spec.quality_option] = str(int(quality))
    if spec.params_option:
        opts[spec.params_option] = spec.params.format(keyint=keyint)
    return opts


def _on_own_thread(fn, *args):
    """fn(*args) on a thread of its own, which then ends. SVT-AV1, run as root, switches the thread that
    opens it to SCHED_FIFO priority 99, in the kernel and in glibc's record of the thread, which every
    thread created from it later inherits (Fast DDS's threads of a test's nodes then spin at real-time
    priority and starve the machine). Confined to a thread that dies, it leaks to nothing."""
    result: list = []

    def run() -> None:
        try:
            result.append((True, fn(*args)))
        except BaseException as exc:  # re-raised in the caller
            result.append((False, exc))

    worker = threading.Thread(target=run, name="video_encoder")
    worker.start()
    worker.join()
    ok, value = result[0]
    if not ok:
        raise value
    return value


def encode_frames(frames: list[np.ndarray], codec: str, quality: int, fps: float, keyint: int) -> EncodedStream:
    """RGB uint8 frames (all the same size, even width/height) -> one live-settings stream."""
    return _on_own_thread(_encode_frames, frames, codec, quality, fps, keyint)


def _encode_frames(frames: list[np.ndarray], codec: str, quality: int, fps: float, keyint: int) -> EncodedStream:
    if not frames:
        raise ValueError("no frames to encode")
    h, w = frames[0].shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"frame size {w}x{h}: 4:2:0 video needs even width and height")
    if keyint < 1:
        raise ValueError("keyframe interval must be >= 1 frame")
    av = _av()
    spec = VIDEO_CODECS[codec]
    ctx = av.CodecContext.create(spec.encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
    rate = Fraction(fps).limit_denominator(1000)
    ctx.time_base, ctx.framerate = 1 / rate, rate
    ctx.gop_size, ctx.max_b_frames, ctx.thread_count = keyint, 0, 1
    ctx.options = encoder_settings(codec, quality, keyint)
    by_pts: dict[int, tuple[bytes, bool]] = {}

    def take(packets) -> None:
        for p in packets:
            if p.pts is None or p.pts in by_pts:
                raise RuntimeError(f"{spec.encoder}: packet without a unique frame timestamp (pts {p.pts})")
            by_pts[int(p.pts)] = (bytes(p), bool(p.is_keyframe))

    for i, rgb in enumerate(frames):
        if rgb.shape[:2] != (h, w):
            raise ValueError("all frames of a stream must have the same size")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        take(ctx.encode(frame))
    take(ctx.encode(None))
    if sorted(by_pts) != list(range(len(frames))):
        raise RuntimeError(f"{spec.encoder} returned packets for frames {sorted(by_pts)[:5]}..., expected one per frame")
    packets = [by_pts[i][0] for i in range(len(frames))]
    return EncodedStream(codec, int(quality), w, h, packets, [by_pts[i][1] for i in range(len(frames))])


def decode_stream(stream: EncodedStream) -> list[np.ndarray]:
    """Decode every packet in order with a fresh decoder (no extradata: only the counted bytes)."""
    av = _av()
    dec = av.CodecContext.create(VIDEO_CODECS[stream.codec].decoder, "r")
    dec.thread_count = 1
    out: list[np.ndarray] = []
    for data in stream.packets:
        out += [f.to_ndarray(format="rgb24") for f in dec.decode(av.Packet(data))]
    out += [f.to_ndarray(format="rgb24") for f in dec.decode(None)]
    if len(out) != len(stream.packets):
        raise RuntimeError(f"{stream.codec}: decoded {len(out)} frames from {len(stream.packets)} packets")
    return out


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10.0 * float(np.log10(255.0 ** 2 / mse))
