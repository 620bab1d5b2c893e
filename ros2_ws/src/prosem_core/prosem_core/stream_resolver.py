"""Which stream a query means, and an error that says why when it cannot tell.

A query names a stream, or leaves stream_id empty. Empty means, in this order:
  1. the stream configured for the namespace the query arrived on (`namespace_defaults`, e.g. the
     node maps "/robot1" -> "robot1"), when that stream is known;
  2. the one stream whose layers arrive on that namespace;
  3. `default_stream`, when known;
  4. the one stream there is.
"The one stream" counts established streams only when there are any: a junk id that sent a few
layers (provisional, see assembly.AssemblyConfig.establish_frames) does not make a robot's queries
ambiguous. A stream whose layers are all rejected is reported as such (foreign codebook, bad tag,
stale clock, duplicate stream), not as "nothing sent yet".
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from prosem_core import wire_codes
from prosem_core.field_checks import clip

MAX_LISTED = 8  # stream ids named in one error message


@dataclass(frozen=True)
class StreamView:
    """What the resolver needs of one held stream."""

    stream_id: str
    namespace: str
    established: bool


@dataclass(frozen=True)
class Rejection:
    """The last hard rejection of a stream's layers, for query errors and logs."""

    status: str  # the counter name, e.g. "foreign_codebook"
    detail: str
    epoch: int
    count: int  # layers rejected since the record was created
    last_at: float  # assembler clock

    def describe(self, now: float) -> str:
        return f"{self.status.replace('_', ' ')}: {self.detail} ({self.count} layers, last {max(0.0, now - self.last_at):.1f} s ago)"


@dataclass(frozen=True)
class StreamChoice:
    stream_id: str | None  # None: no answer possible, see error_code and error
    error_code: int = wire_codes.ERROR_NONE
    error: str = ""


def _single(views: Sequence[StreamView]) -> StreamView | None:
    established = [v for v in views if v.established]
    if len(established) == 1:
        return established[0]
    if not established and len(views) == 1:
        return views[0]
    return None


def _listing(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(clip(s, 32)) for s in ids[:MAX_LISTED])
    return shown + (f" and {len(ids) - MAX_LISTED} more" if len(ids) > MAX_LISTED else "")


def resolve_stream(requested: str, views: Sequence[StreamView], rejections: Mapping[str, Rejection], now: float,
                   namespace: str = "", default_stream: str = "",
                   namespace_defaults: Mapping[str, str] | None = None) -> StreamChoice:
    """The stream a query means (see the module docstring), or an error code and message."""
    by_id = {v.stream_id: v for v in views}
    if requested:
        if requested in by_id:
            return StreamChoice(requested)
        rejected = rejections.get(requested)
        if rejected is not None:
            return StreamChoice(None, wire_codes.ERROR_REJECTED,
                                f"stream {clip(requested)!r}: its layers are rejected: {rejected.describe(now)}")
        return StreamChoice(None, wire_codes.ERROR_UNKNOWN_STREAM,
                            f"unknown stream {clip(requested)!r} (known: {_listing(list(by_id)) or 'none'})")
    configured = (namespace_defaults or {}).get(namespace, "")
    if configured in by_id:
        return StreamChoice(configured)
    if namespace:
        local = _single([v for v in views if v.namespace == namespace])
        if local is not None:
            return StreamChoice(local.stream_id)
    if default_stream in by_id:
        return StreamChoice(default_stream)
    only = _single(views)
    if only is not None:
        return StreamChoice(only.stream_id)
    if not views:
        if rejections:
            recent = sorted(rejections.items(), key=lambda kv: -kv[1].last_at)[:3]
            said = "; ".join(f"{clip(sid)!r}: {r.describe(now)}" for sid, r in recent)
            return StreamChoice(None, wire_codes.ERROR_REJECTED, f"no stream is accepted; rejected: {said}")
        return StreamChoice(None, wire_codes.ERROR_UNKNOWN_STREAM, "no stream has sent anything yet")
    return StreamChoice(None, wire_codes.ERROR_UNKNOWN_STREAM,
                        f"several streams ({_listing(sorted(by_id))}): say which in stream_id")
