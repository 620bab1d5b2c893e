"""`prosem bag info`: what a bag holds (a rosbag2 folder, a folder without metadata.yaml, or a bare
.mcap/.db3 file); ROS-free. A file cut short is scanned, and info says how much was recovered.

`prosem bag record|play` need rclpy: they come from the ROS-side glue package, which plugs them into
this CLI through the `prosem.cli` entry-point group (see cli/main.py), so this package never names it.
"""
from __future__ import annotations

import argparse
import sys

from prosem_core.bags import BagError, BagSummary, summarize


def format_summary(s: BagSummary) -> list[str]:
    """The lines `prosem bag info` prints."""
    lines = [
        f"bag:        {s.path} ({s.layout}, {s.storage_id or '?'})",
        f"files:      {', '.join(f.name for f in s.files)}",
        f"ros_distro: {s.ros_distro or '-'}",
    ]
    total = s.message_count
    promised = f" of {s.promised_count} in metadata.yaml" if s.promised_count is not None and s.promised_count != total else ""
    lines.append(f"messages:   {total}{promised}")
    if not s.topics:
        lines.append("topics:     none: the bag is empty (no topics, no messages)")
    elif total == 0:
        lines.append(f"            the bag holds no messages ({len(s.topics)} topic(s) declared)")
    for t in s.topics.values():
        count = f"{t.count}" + (f" of {t.promised}" if t.promised is not None and t.promised != t.count else "")
        qos = "; ".join(q.describe() for q in t.qos) or "-"
        lines.append(f"{t.name}  {t.msgtype}  {count} messages  offered QoS: {qos}")
    lines += [f"note: {n}" for n in s.notes]
    return lines


def run_info(args: argparse.Namespace) -> int:
    try:
        summary = summarize(args.bag)
    except BagError as err:
        print(f"prosem bag info: {err}", file=sys.stderr)
        return 1
    print("\n".join(format_summary(summary)))
    return 0


def register(commands, groups) -> None:
    info = groups["bag"].add_parser("info", help="topics, types, counts and QoS of a bag (recovers cut .mcap files)")
    info.add_argument("bag", help="bag folder (with or without metadata.yaml), or an .mcap / .db3 file")
    info.set_defaults(func=run_info)
