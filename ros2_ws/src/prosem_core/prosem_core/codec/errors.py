"""The one exception type of the codec."""
from __future__ import annotations


class CodecError(ValueError):
    """Raised for anything the codec cannot accept: malformed or truncated layers, wrong magic or
    version, a layer of another codebook or frame, duplicated / missing / out-of-order layers, CRC
    mismatch, absurd shapes, a missing temporal reference, or a corrupt codebook file.

    It subclasses ValueError so callers that already guard against bad values keep working.
    """
