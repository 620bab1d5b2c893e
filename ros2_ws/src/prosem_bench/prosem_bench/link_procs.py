"""Processes of the link benchmark: node command lines and a JSON-lines reader for the probes.

ROS-free on purpose: the benchmark only starts programs (console scripts, `python -m` helpers that live
in the ROS packages) inside the namespaces and reads what they print.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from prosem_core.bench.netns import ShapedLink

BIN = Path(sys.executable).parent


def console_script(name: str) -> str:
    """Path of a console script of this venv (edge_node, cloud_node), or a clear error."""
    path = BIN / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: install prosem_edge/prosem_cloud into this venv (make setup)")
    return str(path)


def ros_args(params: Mapping[str, Any], remaps: Mapping[str, str] | None = None) -> list[str]:
    """`--ros-args -p name:=value ... -r from:=to ...` for a node command line."""
    out = ["--ros-args"]
    for name, value in params.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        out += ["-p", f"{name}:={value}"]
    for src, dst in (remaps or {}).items():
        out += ["-r", f"{src}:={dst}"]
    return out


class JsonLinesProc:
    """A process inside a namespace whose stdout is JSON lines; stderr (and non-JSON lines) go to a log.

    `events` grows as lines arrive (read by a thread); `wait_for` polls it.
    """

    def __init__(self, link: ShapedLink, where: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path,
                 stdin: bool = False) -> None:
        self.name = Path(argv[0]).name if argv[0] != sys.executable else argv[2]
        self.log_path = log_path
        self._log = open(log_path, "w", buffering=1)
        self.events: list[dict] = []
        self._lock = threading.Lock()
        self.proc = link.run_in(where, list(argv), env=env, stdout=subprocess.PIPE, stderr=self._log,
                                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, text=True, bufsize=1)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                self._log.write(line)
                continue
            with self._lock:
                self.events.append(event)

    def snapshot(self, ev: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self.events if ev is None or e.get("ev") == ev]

    def send(self, obj: dict) -> None:
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()

    def wait_for(self, predicate: Callable[[], bool], timeout_s: float, what: str, watch: Sequence = ()) -> None:
        """Poll until predicate() holds; raises if this process or one in `watch` exits, or on timeout."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            for other in (self, *watch):
                if other.proc.poll() is not None:
                    raise RuntimeError(f"{other.name} exited ({other.proc.returncode}) while waiting for {what}; "
                                       f"log: {other.log_path}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} within {timeout_s:.0f} s; log: {self.log_path}")
            time.sleep(0.05)

    def close(self) -> None:
        self._thread.join(timeout=2)
        self._log.close()


class LoggedProc:
    """A node process inside a namespace, output to a log file."""

    def __init__(self, link: ShapedLink, where: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        self.name = Path(argv[0]).name
        self.log_path = log_path
        self._log = open(log_path, "w", buffering=1)
        self.proc = link.run_in(where, list(argv), env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); last log lines:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        self._log.close()
