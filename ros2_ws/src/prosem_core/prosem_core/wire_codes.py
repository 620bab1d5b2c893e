"""Numeric codes of the interfaces, mirrored for ROS-free code.

The values must equal the constants of LayerFeedback.msg (STATUS_*) and srv/Query.srv (ERROR_*):
tests/core/test_wire_codes.py reads those files and fails when they drift apart.
"""
from __future__ import annotations

# LayerFeedback.status: what the cloud makes of the stream the feedback is about.
STATUS_OK = 0
STATUS_REJECTED = 1  # the layers are rejected (reason says why: foreign codebook, bad tag, stale clock, ...)
STATUS_DUPLICATE_STREAM = 2  # another edge sends under the same stream_id
STATUS_STALE_EPOCH = 3  # this epoch was replaced by a newer one of the same stream

# Query.error_code: machine-readable reason for success == false.
ERROR_NONE = 0
ERROR_BAD_REQUEST = 1
ERROR_UNKNOWN_STREAM = 2
ERROR_NO_FRAME = 3
ERROR_STALE_STREAM = 4
ERROR_REJECTED = 5
ERROR_BUSY = 6
ERROR_TIMEOUT = 7
ERROR_MODEL = 8
ERROR_CANCELED = 9
ERROR_UNAVAILABLE = 10
