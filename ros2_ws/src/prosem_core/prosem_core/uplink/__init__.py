"""Edge-side logic of each uplink mode (prosem_core.modes), ROS-free.

A frame goes through an uplink in two steps, so the node can keep its lock short:

    prepared = uplink.prepare(rgb)                 # heavy, no lock: encoder (+ codec or JPEG)
    out = uplink.commit(prepared, now, context)    # under the node's lock: rate plan, frame numbering
    for o in out: publish(o)                       # Outgoing: payload + the fields of its message

and feedback from the cloud through `uplink.feedback(fields, auth_tag, now) -> (outcome, [Outgoing])`
(checked by the session; the Outgoing records are pulled layers). `context` is whatever the node
wants back with every Outgoing of that frame (the camera header). A new mode is one module here
plus its line in `UPLINKS` and in modes.MODES.
"""
from __future__ import annotations

from prosem_core.uplink.base import EdgeUplink, Outgoing, UplinkConfig
from prosem_core.uplink.full_cloud import FullCloudUplink
from prosem_core.uplink.full_edge import FullEdgeUplink
from prosem_core.uplink.full_tokens import FullTokensUplink
from prosem_core.uplink.progressive import ProgressiveUplink

UPLINKS: dict[str, type[EdgeUplink]] = {
    "progressive": ProgressiveUplink,
    "full_cloud": FullCloudUplink,
    "full_tokens": FullTokensUplink,
    "full_edge": FullEdgeUplink,
}


def build_uplink(mode: str, session, pipeline, cfg: UplinkConfig | None = None) -> EdgeUplink:
    from prosem_core.modes import mode_info

    mode_info(mode)  # a clear error for an unknown name
    return UPLINKS[mode](session, pipeline, cfg or UplinkConfig())


__all__ = ["EdgeUplink", "Outgoing", "UplinkConfig", "UPLINKS", "build_uplink"]
