"""Uplink modes: what the edge sends the cloud. The one list every node, launch file and benchmark uses.

`progressive` is the product: Meta AutoEncoder layers, the base layer pushed, refinements pushed as the
link allows and pulled when a question needs them. The others are baselines to measure it against.
Each mode's edge-side logic is one module of prosem_core.uplink (see `uplink.build_uplink`); the
nodes only move what it returns onto the wire kind named here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModeInfo:
    name: str
    # What travels edge -> cloud: "layers" (SemanticLayer on prosem/layers[/refine]), "jpeg"
    # (CompressedImage on prosem/image_jpeg, the cloud runs the vision half) or "service" (nothing:
    # the edge answers on prosem/edge_query and the cloud relays).
    wire: str
    baseline: bool
    summary: str


MODES: dict[str, ModeInfo] = {m.name: m for m in (
    ModeInfo("progressive", "layers", False,
             "Meta AutoEncoder layers: base pushed, refinements pushed as the link allows and pulled on demand"),
    ModeInfo("full_cloud", "jpeg", True, "baseline: camera frames as JPEG, the cloud runs the vision half"),
    ModeInfo("full_tokens", "layers", True, "baseline: the vision half's tokens uncompressed (fp16 chunks)"),
    ModeInfo("full_edge", "service", True, "baseline: the edge answers itself; the cloud relays questions"),
)}
MODE_NAMES: tuple[str, ...] = tuple(MODES)


def mode_info(name: str) -> ModeInfo:
    try:
        return MODES[name]
    except KeyError:
        raise ValueError(f"unknown mode {name!r}; choose one of {', '.join(MODE_NAMES)}") from None
