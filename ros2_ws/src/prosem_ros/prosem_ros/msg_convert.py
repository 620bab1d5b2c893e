"""SemanticLayer / LayerFeedback <-> the core's plain types, and ROS time <-> float seconds."""
from __future__ import annotations

from builtin_interfaces.msg import Time

from prosem_core.assembly import LayerIn
from prosem_core.field_checks import stamp_ns
from prosem_core.jpeg_frame_id import format_jpeg_frame_id
from prosem_core.jpeg_frame_id import parse_jpeg_frame_id as _parse_jpeg_frame_id


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def from_seconds(seconds: float) -> Time:
    ns = max(0, int(round(seconds * 1e9)))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def layer_in(msg) -> LayerIn:
    """A received SemanticLayer as the assembler's LayerIn (bytes copied out of the message)."""
    return LayerIn(
        stream_id=msg.stream_id,
        epoch=int(msg.epoch),
        frame_seq=int(msg.frame_seq),
        layer_index=int(msg.layer_index),
        layer_count=int(msg.layer_count),
        codebook_id=msg.codebook_id,
        payload=bytes(msg.payload),
        token_shape=tuple(int(x) for x in msg.token_shape),
        fidelity=float(msg.fidelity),
        send_stamp_ns=stamp_ns(msg.send_stamp.sec, msg.send_stamp.nanosec, "send_stamp"),
        auth_tag=bytes(msg.auth_tag),
        codec_id=msg.codec_id,
    )


def stream_id_for_namespace(namespace: str, default: str = "robot0") -> str:
    """The stream id a namespace stands for when nobody configured one: its last component."""
    parts = [p for p in namespace.split("/") if p]
    return parts[-1] if parts else default


def jpeg_frame_id(stream_id: str, epoch: int, frame_seq: int) -> str:
    """full_cloud: CompressedImage has no stream/frame fields, so header.frame_id carries them."""
    return format_jpeg_frame_id(stream_id, epoch, frame_seq)


def parse_jpeg_frame_id(frame_id: str) -> tuple[str, int, int]:
    """Inverse of jpeg_frame_id, range-checked (prosem_core.jpeg_frame_id); raises ValueError otherwise."""
    parsed = _parse_jpeg_frame_id(frame_id)
    return parsed.stream_id, parsed.epoch, parsed.frame_seq
