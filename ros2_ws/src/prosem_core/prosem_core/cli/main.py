"""Entry point of the `prosem` command.

Subcommands are discovered from the `cmd_*.py` modules of this package. Each module defines
`register(commands, groups)`: `commands` is the top-level argparse subparsers object; `groups`
maps a group name ("bench", "bag") to the subparsers object of that group, so `prosem bench codec`
and `prosem bench vqa` can live in different modules. A registered parser sets `func=callable(args)
-> int` with `set_defaults`.

Packages above the core add subcommands the same way without the core naming them: a module listed
in the `prosem.cli` entry-point group (their setup.py) is loaded after the core's own and its
`register` called (the ROS glue adds `prosem bag record|play`, the benchmark harness `prosem bench link`).
A plugin that cannot load (its package half-installed) is reported on `prosem --help`, not fatal.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

import prosem_core.cli as cli_pkg

PLUGIN_GROUP = "prosem.cli"
GROUPS = {
    "bench": "benchmarks that write JSON",
    "bag": "record and play rosbag2 bags (standard layout, mcap)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prosem", description="ProSem: progressive semantic communication for edge-cloud VLMs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups = {}
    for name, help_text in GROUPS.items():
        group_parser = commands.add_parser(name, help=help_text)
        groups[name] = group_parser.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")
        group_parser.set_defaults(func=lambda _args, p=group_parser: (p.print_help(), 2)[1])
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{cli_pkg.__name__}.{info.name}")
            module.register(commands, groups)
    broken = []
    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            ep.load().register(commands, groups)
        except Exception as exc:  # a broken plugin must not take the whole CLI down
            broken.append(f"{ep.name} ({ep.value}): {type(exc).__name__}: {exc}")
    if broken:
        parser.epilog = "unavailable plugins: " + "; ".join(broken)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
