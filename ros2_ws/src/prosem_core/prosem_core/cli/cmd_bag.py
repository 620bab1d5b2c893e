"""`prosem bag info`: what a rosbag2 bag (metadata.yaml + .mcap) holds; ROS-free.

`prosem bag record|play` need rclpy: they come from the ROS-side glue package, which plugs them into
this CLI through the `prosem.cli` entry-point group (see cli/main.py), so this package never names it.
"""
from __future__ import annotations

import argparse
import sys

from prosem_core.bags import BagError, bag_topics


def run_info(args: argparse.Namespace) -> int:
    try:
        topics = bag_topics(args.bag)
    except BagError as err:
        print(f"prosem bag info: {err}", file=sys.stderr)
        return 1
    for t in topics.values():
        qos = ", ".join(f"{'reliable' if q.reliable else 'best_effort'}/depth {q.depth}" for q in t.qos) or "-"
        print(f"{t.name}  {t.msgtype}  {t.count} messages  offered QoS: {qos}")
    return 0


def register(commands, groups) -> None:
    info = groups["bag"].add_parser("info", help="topics, types, counts and QoS of a bag")
    info.add_argument("bag", help="bag folder (with metadata.yaml)")
    info.set_defaults(func=run_info)
