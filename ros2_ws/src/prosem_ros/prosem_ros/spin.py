"""How every ProSem process starts, spins and stops: one place, so each behaves the same on Ctrl-C.

`run_node` is the body of every node's console script:
- rclpy.init with the process's own arguments (explicit, so nothing else parses them);
- the node is built (parameters checked, models loaded) before spinning; a StartupError (bad or
  unknown parameter, missing model files) prints ONE line saying what to do and exits 2, instead of
  a traceback or a node that stays up doing nothing;
- Ctrl-C and SIGTERM are normal exits (code 0, no traceback) whenever they come: while the models
  load, while spinning, or twice in a row. A terminal's Ctrl-C reaches every process of the group and
  `ros2 launch` forwards one more, so a node often gets two SIGINTs: after the first, further ones
  are ignored while the node tears down (executor first, so running callbacks finish, then the node,
  then rclpy).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


class StartupError(RuntimeError):
    """A node cannot start; str() is one line for the user: what is wrong and what to run."""


def _ignore_further_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread (a test hosting nodes): nothing to protect
            pass


TEARDOWN_LIMIT_S = 15.0  # a teardown stuck longer than this (a wedged driver) ends the process anyway


def _teardown(node: Node | None, executor: Executor | None) -> None:
    # Further signals are ignored from here, so nothing may hang: callbacks still running get 2 s,
    # pool threads are not waited for (a query's own wait ends on the node's stop flag), and a
    # watchdog ends the process if something still blocks.
    watchdog = threading.Timer(TEARDOWN_LIMIT_S, _give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        if isinstance(executor, MultiThreadedExecutor):
            executor.shutdown(timeout_sec=2.0, wait_for_threads=False)
        elif executor is not None:
            executor.shutdown(timeout_sec=2.0)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    finally:
        watchdog.cancel()


def _give_up() -> None:
    print(f"shutdown did not finish within {TEARDOWN_LIMIT_S:g} s; exiting", file=sys.stderr, flush=True)
    os._exit(0)


def spin_until_shutdown(node: Node, executor: Executor, until: Callable[[], bool] | None = None) -> int:
    """Spin `node` on `executor` until Ctrl-C, SIGTERM, an external shutdown or `until()` (checked
    every 0.1 s when given); tear down; return 0."""
    try:
        executor.add_node(node)
        if until is None:
            executor.spin()
        else:
            while executor.context.ok() and not until():
                executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A signal that shut the context down just before add_node or spin makes rclpy raise its own
        # errors about an invalid context: that is still a normal stop, not a crash to report.
        if executor.context.ok():
            raise
    finally:
        _ignore_further_signals()
        _teardown(node, executor)
    return 0


def run_node(prog: str, make_node: Callable[[], Node], threads: Callable[[Node], int] | int = 2,
             args: list[str] | None = None, until: Callable[[Node], bool] | None = None) -> int:
    """Init rclpy, build the node (StartupError -> one line, exit 2), spin on an executor with `threads`
    threads until shutdown (or until(node)); exit code 0 on Ctrl-C / SIGTERM."""
    try:
        return _run(prog, make_node, threads, sys.argv if args is None else args, until)
    except KeyboardInterrupt:  # a second Ctrl-C before the first one's teardown could ignore it
        return 0


def _run(prog: str, make_node: Callable[[], Node], threads: Callable[[Node], int] | int, args: list[str],
         until: Callable[[Node], bool] | None) -> int:
    try:
        rclpy.init(args=args)
    except Exception as exc:  # rcl rejects bad --ros-args (unparsable -p, missing params file)
        print(f"{prog}: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    node = None
    try:
        node = make_node()
    except StartupError as exc:
        _ignore_further_signals()
        if not rclpy.ok():
            # Ctrl-C while the models loaded: what failed was interrupted (an extension's import
            # raises ImportError), so the user stopped it, and nothing needs fixing.
            _teardown(node, None)
            return 0
        print(f"{prog}: {exc}", file=sys.stderr, flush=True)
        _teardown(node, None)
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        _ignore_further_signals()
        _teardown(node, None)
        return 0
    except Exception:
        # rclpy's own SIGINT handler shuts the context down at once; a node still being built then
        # fails inside rclpy ("context is invalid"). That is Ctrl-C during start-up, not a crash.
        if rclpy.ok():
            raise
        _ignore_further_signals()
        _teardown(node, None)
        return 0
    try:
        # A Ctrl-C can land here too, between the model load and the first spin.
        count = threads(node) if callable(threads) else threads
        # One thread: rclpy warns about a one-thread MultiThreadedExecutor, and needs none.
        executor = SingleThreadedExecutor() if count == 1 else MultiThreadedExecutor(num_threads=count)
    except (KeyboardInterrupt, ExternalShutdownException):
        _ignore_further_signals()
        _teardown(node, None)
        return 0
    return spin_until_shutdown(node, executor, None if until is None else lambda: until(node))
