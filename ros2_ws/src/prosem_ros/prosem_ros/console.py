"""The first lines of every node's console script: import the node module, then run its main.

A Ctrl-C in the first second of a launch reaches the process while Python is still importing rclpy,
numpy or the models' packages, before `spin.run_node` can treat it as a normal stop; the console
script's own import line would then print a KeyboardInterrupt traceback and exit 1. Importing the
node module here, under a guard, makes that Ctrl-C a clean exit 0 like any later one. This module
imports nothing heavy itself (no rclpy), so the guard covers everything that can take time.

A C extension whose initialisation is interrupted does not pass the KeyboardInterrupt on: pybind11
wraps it as `ImportError: initialization failed` (rclpy's `_rclpy_pybind11` does this, seen in CI).
So an import error counts as Ctrl-C when a KeyboardInterrupt is anywhere in its cause chain.
"""
from __future__ import annotations

import importlib


def interrupted(exc: BaseException) -> bool:
    """True when `exc` is a KeyboardInterrupt or was raised while handling / because of one."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, KeyboardInterrupt):
            return True
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return False


def guarded_main(module: str, args: list[str] | None = None) -> int:
    """Import `module` and return its main(args); 0 when Ctrl-C interrupts the import."""
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        return 0
    except ImportError as exc:
        if interrupted(exc):
            return 0
        raise
    return main(args)
