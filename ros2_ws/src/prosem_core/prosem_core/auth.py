"""Shared-key authentication of layer messages (HMAC-SHA256).

The tag covers every field a receiver routes or decodes by (stream, epoch, frame, layer position,
codebook) and the payload, so a forged or replayed-into-another-frame layer fails the check.
Fields are length-prefixed before hashing: concatenating "ab"+"c" and "a"+"bc" must not collide.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from pathlib import Path

TAG_BYTES = 32  # SHA-256 digest size
_DOMAIN = b"prosem-layer-auth/1"  # binds the tag to this use of the key


@dataclass(frozen=True)
class LayerIdentity:
    """The fields of a SemanticLayer that the tag protects besides the payload."""

    stream_id: str
    epoch: int
    frame_seq: int
    layer_index: int
    layer_count: int
    codebook_id: str


def _field(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def _message(identity: LayerIdentity, payload: bytes) -> bytes:
    return b"".join(
        (
            _field(_DOMAIN),
            _field(identity.stream_id.encode("utf-8")),
            struct.pack("<IQBB", identity.epoch & 0xFFFFFFFF, identity.frame_seq, identity.layer_index & 0xFF, identity.layer_count & 0xFF),
            _field(identity.codebook_id.encode("utf-8")),
            _field(bytes(payload)),
        )
    )


def sign(key: bytes, identity: LayerIdentity, payload: bytes) -> bytes:
    """The 32-byte tag for this layer under `key`."""
    if not key:
        raise ValueError("empty authentication key")
    return hmac.new(key, _message(identity, payload), hashlib.sha256).digest()


def verify(key: bytes, identity: LayerIdentity, payload: bytes, tag: bytes) -> bool:
    """True when `tag` is the right tag; constant-time compare so timing leaks nothing."""
    if len(tag) != TAG_BYTES:
        return False
    return hmac.compare_digest(sign(key, identity, payload), bytes(tag))


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
