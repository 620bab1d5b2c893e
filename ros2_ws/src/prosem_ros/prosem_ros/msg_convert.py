"""prosem_msgs messages <-> the core's plain types, and ROS time <-> float seconds.

Everything a node reads from or writes to a ProSem message goes through here, so the field lists
live in one place (the core's dataclasses) and the nodes stay thin.
"""
from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time

from prosem_core.assembly import LayerIn
from prosem_core.auth import FeedbackFields
from prosem_core.field_checks import stamp_ns
from prosem_core.jpeg_frame_id import format_jpeg_frame_id
from prosem_core.jpeg_frame_id import parse_jpeg_frame_id as _parse_jpeg_frame_id
from prosem_core.query_types import FEEDBACK_FIELDS, RESULT_FIELDS, QueryRequest, QueryResult
from prosem_core.uplink import Outgoing
from prosem_msgs.msg import LayerFeedback, SemanticLayer


def to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def from_seconds(seconds: float) -> Time:
    return _time(seconds_to_ns(seconds))


def layer_in(msg: SemanticLayer) -> LayerIn:
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


def layer_msg(out: Outgoing, stream_id: str, epoch: int, send_stamp: float, sign=None) -> SemanticLayer:
    """The SemanticLayer for one of the uplink's Outgoing layers (out.context is the camera header).
    `sign(out, send_stamp_ns) -> tag` (EdgeSession.layer_tag) signs the stamp exactly as sent."""
    msg = SemanticLayer()
    if out.context is not None:
        msg.header = out.context
    msg.stream_id = stream_id
    msg.frame_seq = out.frame_seq
    msg.epoch = epoch
    msg.layer_index = out.index
    msg.layer_count = out.layer_count
    msg.codec_id = out.codec_id
    msg.codebook_id = out.codebook_id
    msg.token_shape = [int(x) for x in out.token_shape]
    msg.keyframe = bool(out.keyframe)
    msg.ref_frame_seq = int(out.ref_frame_seq)
    msg.fidelity = float(out.fidelity)
    msg.payload = out.payload
    msg.send_stamp = from_seconds(send_stamp)
    if sign is not None:
        msg.auth_tag = sign(out, _ns(msg.send_stamp))
    return msg


def feedback_fields(msg: LayerFeedback) -> FeedbackFields:
    """A received LayerFeedback as plain fields (what the edge checks, verifies and uses)."""
    return FeedbackFields(
        stream_id=msg.stream_id, frame_seq=int(msg.frame_seq), epoch=int(msg.epoch), received_mask=int(msg.received_mask),
        prefix_layers=int(msg.prefix_layers), bytes_received=int(msg.bytes_received),
        stamp_ns=_ns(msg.header.stamp), frame_id=msg.header.frame_id, receive_stamp_ns=_ns(msg.receive_stamp),
        echo_send_stamp_ns=_ns(msg.echo_send_stamp), hold_s=float(msg.hold_s), layers_expected=int(msg.layers_expected),
        layers_arrived=int(msg.layers_arrived), pull_layers=int(msg.pull_layers), request_keyframe=bool(msg.request_keyframe),
        reason=msg.reason, status=int(msg.status))


def feedback_msg(fields: FeedbackFields, auth_tag: bytes = b"") -> LayerFeedback:
    """The LayerFeedback carrying `fields` (the cloud signs the fields, then sends this)."""
    msg = LayerFeedback()
    msg.header.stamp = _time(fields.stamp_ns)
    msg.header.frame_id = fields.frame_id
    msg.stream_id, msg.frame_seq, msg.epoch = fields.stream_id, fields.frame_seq, fields.epoch
    msg.received_mask, msg.prefix_layers, msg.bytes_received = fields.received_mask, fields.prefix_layers, fields.bytes_received
    msg.receive_stamp, msg.echo_send_stamp = _time(fields.receive_stamp_ns), _time(fields.echo_send_stamp_ns)
    msg.hold_s = fields.hold_s
    msg.layers_expected, msg.layers_arrived = fields.layers_expected, fields.layers_arrived
    msg.pull_layers, msg.request_keyframe = fields.pull_layers, fields.request_keyframe
    msg.reason, msg.status = fields.reason, fields.status
    msg.auth_tag = auth_tag
    return msg


def seconds_to_ns(seconds: float) -> int:
    """Whole nanoseconds of a non-negative time in seconds (how stamps are signed)."""
    return max(0, int(round(seconds * 1e9)))


def _ns(stamp: Time) -> int:
    return stamp_ns(stamp.sec, stamp.nanosec, "stamp")


def _time(ns: int) -> Time:
    return Time(sec=min(ns // 1_000_000_000, 2**31 - 1), nanosec=ns % 1_000_000_000)


def query_request(msg: Any, namespace: str = "") -> QueryRequest:
    """A Query service request or action goal as the core's QueryRequest."""
    return QueryRequest(question=msg.question, stream_id=msg.stream_id, frame_seq=int(msg.frame_seq),
                        min_fidelity=float(msg.min_fidelity), timeout_s=float(msg.timeout_s),
                        max_new_tokens=int(msg.max_new_tokens), namespace=namespace)


def fill_result(msg: Any, result: QueryResult) -> Any:
    """Copy a QueryResult into a Query service response or action result (same fields)."""
    for name in RESULT_FIELDS:
        setattr(msg, name, getattr(result, name))
    return msg


def fill_feedback(msg: Any, result: QueryResult, partial: bool, elapsed_s: float) -> Any:
    for name in FEEDBACK_FIELDS:
        setattr(msg, name, getattr(result, name))
    msg.partial = bool(partial)
    msg.elapsed_s = float(elapsed_s)
    return msg


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
