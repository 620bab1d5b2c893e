"""The one exception of the bags package (its own module so every part can raise it)."""
from __future__ import annotations


class BagError(RuntimeError):
    """A bag cannot be read or written (missing, not rosbag2, unknown message type, ...)."""
