"""`prosem bag record|play`: the rclpy half of bags, plugged into the `prosem` CLI (entry point
group `prosem.cli`, declared in this package's setup.py). `prosem bag info` is the core's."""
from __future__ import annotations

import argparse
import sys

from prosem_core.bags import BagError


def _remaps(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if ":=" not in item:
            raise argparse.ArgumentTypeError(f"--remap takes FROM:=TO, got {item!r}")
        src, dst = item.split(":=", 1)
        out[src] = dst
    return out


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def run_record(args: argparse.Namespace) -> int:
    from prosem_ros.bag_ros import record

    try:
        stats = record(args.output, args.topics, all_topics=args.all, duration_s=args.duration)
    except BagError as err:
        print(f"prosem bag record: {err}", file=sys.stderr)
        return 1
    for topic, count in sorted(stats.counts.items()):
        print(f"{topic}: {count} messages [{stats.types.get(topic, '?')}]")
    print(f"wrote {args.output} ({sum(stats.counts.values())} messages, {stats.duration_s:.1f} s, "
          f"ros_distro {stats.ros_distro or 'unknown'})")
    return 0


def run_play(args: argparse.Namespace) -> int:
    from prosem_ros.bag_ros import play

    try:
        stats = play(
            args.bag,
            rate=args.rate,
            loop=args.loop,
            topics=args.topics or None,
            remap=_remaps(args.remap),
            wait_subscribers_s=args.wait_subscribers,
        )
    except (BagError, argparse.ArgumentTypeError) as err:
        print(f"prosem bag play: {err}", file=sys.stderr)
        return 1
    print(f"published {stats.published} messages in {stats.duration_s:.1f} s ({stats.loops} pass(es))")
    if stats.shortfall:
        print(f"prosem bag play: {stats.shortfall}", file=sys.stderr)
        return 1
    return 0


def register(commands, groups) -> None:
    bag = groups["bag"]
    rec = bag.add_parser("record", help="record live topics into a rosbag2 bag (mcap)")
    rec.add_argument("-o", "--output", required=True, help="new folder for the bag")
    rec.add_argument("topics", nargs="*", help="topics to record (e.g. /camera/image_raw /prosem/layers)")
    rec.add_argument("-a", "--all", action="store_true", help="record every topic (except /rosout, /parameter_events)")
    rec.add_argument("--duration", type=_non_negative, default=0.0, help="seconds to record; 0 = until Ctrl-C")
    rec.set_defaults(func=run_record)

    ply = bag.add_parser("play", help="publish a bag's messages with their original timing")
    ply.add_argument("bag", help="bag folder (with or without metadata.yaml), or an .mcap / .db3 file")
    ply.add_argument("--rate", type=_positive, default=1.0, help="playback speed factor (2 = twice as fast)")
    ply.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    ply.add_argument("--topics", nargs="+", default=[], help="play only these topics")
    ply.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                     help="publish FROM on TO (this option only: it is not passed on to rcl)")
    ply.add_argument(
        "--wait-subscribers", type=_non_negative, default=2.0,
        help="seconds to wait for a subscriber on every topic before the first message",
    )
    ply.set_defaults(func=run_play)

