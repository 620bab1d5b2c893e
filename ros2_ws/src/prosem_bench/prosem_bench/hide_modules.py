"""Run a console script as if some packages were not installed (`python -m prosem_bench.hide_modules`).

    python -m prosem_bench.hide_modules --hide torch,transformers --cpus 0 edge_node --ros-args ...

A meta-path finder placed first refuses the named top-level packages (and their submodules) with
ModuleNotFoundError, exactly what an edge computer without them would raise; anything that needs
them fails loudly instead of silently using them. `--cpus` pins the process to those cores first.
Used by the edge-footprint benchmark to check that edge_node runs on ONNX Runtime alone.
"""
from __future__ import annotations

import argparse
import importlib.abc
import os
import runpy
import shutil
import sys


class HiddenPackages(importlib.abc.MetaPathFinder):
    def __init__(self, names: set[str]) -> None:
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {fullname!r} (hidden: this run stands for an edge without it)",
                                      name=fullname)
        return None


def hide(names: set[str]) -> None:
    already = sorted(n for n in sys.modules if n.split(".")[0] in names)
    if already:
        raise RuntimeError(f"cannot hide modules that are already imported: {already[:5]}")
    sys.meta_path.insert(0, HiddenPackages(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hide", default="torch", help="comma list of top-level packages to hide")
    parser.add_argument("--cpus", default="", help="comma list of CPU ids to pin to ('' = no pinning)")
    parser.add_argument("script", help="console script name or path")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    hide({n.strip() for n in args.hide.split(",") if n.strip()})
    script = args.script if os.path.sep in args.script else (shutil.which(args.script) or args.script)
    rest = args.args[1:] if args.args[:1] == ["--"] else args.args
    sys.argv = [script, *rest]
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
