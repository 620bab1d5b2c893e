"""Shared-key authentication of layer and feedback messages (HMAC-SHA256).

Layers: the tag covers every field a receiver routes or decodes by (stream, epoch, frame, layer
position, codebook), the edge's send stamp and the payload, so a forged or replayed-into-another-frame
layer fails the check, and a receiver can refuse a correctly signed layer that is old (a capture
replayed later): the cloud accepts a signed layer only while its send stamp is within a freshness
window of the cloud's own clock (assembly.AssemblyConfig.auth_max_skew_s). Both clocks are system
time, kept within milliseconds by chrony/NTP on any networked robot; the window (default 30 s) only
has to cover clock error plus transit.

Feedback (cloud -> edge): the tag covers every LayerFeedback field, so an edge with the key ignores
(and counts) feedback that asks for a pull storm or reports receipts it did not get from the cloud.

Fields are length-prefixed before hashing: concatenating "ab"+"c" and "a"+"bc" must not collide.
Each message kind has its own domain string, so a layer tag never verifies as a feedback tag.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from pathlib import Path

TAG_BYTES = 32  # SHA-256 digest size
_DOMAIN = b"prosem-layer-auth/2"  # binds the tag to this use of the key (2: the send stamp is covered)
_FEEDBACK_DOMAIN = b"prosem-feedback-auth/1"


@dataclass(frozen=True)
class LayerIdentity:
    """The fields of a SemanticLayer that the tag protects besides the payload."""

    stream_id: str
    epoch: int
    frame_seq: int
    layer_index: int
    layer_count: int
    codebook_id: str
    send_stamp_ns: int = 0  # SemanticLayer.send_stamp as whole nanoseconds (sec * 1e9 + nanosec)


@dataclass(frozen=True)
class FeedbackFields:
    """Every field of a LayerFeedback, ROS-free; stamps as whole nanoseconds (sec * 1e9 + nanosec).

    hold_s is a float32 on the wire: it is hashed as float32, so the sender's float and the value the
    receiver reads back give the same tag.
    """

    stream_id: str
    frame_seq: int
    epoch: int
    received_mask: int = 0
    prefix_layers: int = 0
    bytes_received: int = 0
    stamp_ns: int = 0  # header.stamp
    frame_id: str = ""  # header.frame_id
    receive_stamp_ns: int = 0
    echo_send_stamp_ns: int = 0
    hold_s: float = 0.0
    layers_expected: int = 0
    layers_arrived: int = 0
    pull_layers: int = 0
    request_keyframe: bool = False
    reason: str = ""
    status: int = 0


def _field(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def _message(identity: LayerIdentity, payload: bytes) -> bytes:
    return b"".join(
        (
            _field(_DOMAIN),
            _field(identity.stream_id.encode("utf-8")),
            struct.pack("<IQBBQ", identity.epoch, identity.frame_seq, identity.layer_index, identity.layer_count,
                        identity.send_stamp_ns),
            _field(identity.codebook_id.encode("utf-8")),
            _field(bytes(payload)),
        )
    )


def _feedback_message(fb: FeedbackFields) -> bytes:
    return b"".join(
        (
            _field(_FEEDBACK_DOMAIN),
            _field(fb.stream_id.encode("utf-8")),
            struct.pack("<QIIBIQQQfIIB?B", fb.frame_seq, fb.epoch, fb.received_mask, fb.prefix_layers, fb.bytes_received,
                        fb.stamp_ns, fb.receive_stamp_ns, fb.echo_send_stamp_ns, fb.hold_s, fb.layers_expected,
                        fb.layers_arrived, fb.pull_layers, bool(fb.request_keyframe), fb.status),
            _field(fb.frame_id.encode("utf-8")),
            _field(fb.reason.encode("utf-8")),
        )
    )


def _tag(key: bytes, message: bytes) -> bytes:
    if not key:
        raise ValueError("empty authentication key")
    return hmac.new(key, message, hashlib.sha256).digest()


def _matches(key: bytes, build, tag: bytes) -> bool:
    """Constant-time compare; a message whose fields cannot even be packed (out of range) fails."""
    if len(tag) != TAG_BYTES:
        return False
    try:
        message = build()
    except (struct.error, OverflowError, UnicodeError, TypeError):
        return False
    return hmac.compare_digest(_tag(key, message), bytes(tag))


def sign(key: bytes, identity: LayerIdentity, payload: bytes) -> bytes:
    """The 32-byte tag for this layer under `key` (raises struct.error for out-of-range fields)."""
    return _tag(key, _message(identity, payload))


def verify(key: bytes, identity: LayerIdentity, payload: bytes, tag: bytes) -> bool:
    """True when `tag` is the right tag; constant-time compare so timing leaks nothing."""
    return _matches(key, lambda: _message(identity, payload), tag)


def sign_feedback(key: bytes, fields: FeedbackFields) -> bytes:
    """The 32-byte tag for one LayerFeedback under `key`."""
    return _tag(key, _feedback_message(fields))


def verify_feedback(key: bytes, fields: FeedbackFields, tag: bytes) -> bool:
    return _matches(key, lambda: _feedback_message(fields), tag)


def stamp_skew_s(stamp_ns: int, now_s: float) -> float:
    """Seconds a sender's stamp lies ahead of (+) or behind (-) the receiver's clock `now_s`."""
    return stamp_ns * 1e-9 - now_s


def load_key(key_text: str = "", key_file: str = "") -> bytes:
    """The shared key from a file (preferred: parameters are readable by anyone on the graph) or text.

    Returns b"" when neither is given (authentication off). Raises ValueError for an empty file
    or a file that cannot be read, so a misconfigured node fails loudly instead of running open.
    """
    if key_file:
        try:
            data = Path(key_file).read_bytes().strip()
        except OSError as exc:
            raise ValueError(f"cannot read auth key file {key_file!r}: {exc}") from exc
        if not data:
            raise ValueError(f"auth key file {key_file!r} is empty")
        return data
    return key_text.encode("utf-8")
