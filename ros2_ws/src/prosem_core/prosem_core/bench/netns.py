"""Two network namespaces joined by a rate-limited veth: a real, shaped link on one machine.

Root only. Used by `prosem bench link`, the shaped-link tests and `make demo`:

    from prosem_core.bench.netns import ShapedLink, LinkConfig, dds_env

    with ShapedLink(LinkConfig(rate_bps=1_000_000)) as link:
        cloud = link.run_in("cloud", ["cloud_node"], env=dds_env(domain_id=7))
        edge = link.run_in("edge", ["edge_node"], env=dds_env(domain_id=7))
        link.set_loss(30)          # 30 % of the datagrams sent by each side are lost
        link.cut(5.0)              # nothing crosses for 5 s, then the link returns
        link.counters("edge")      # bytes/packets through the veth, as the kernel counts them
    # processes stopped, namespaces and everything in them deleted (also on exceptions/Ctrl-C)

What it builds (names unique per process: "prosem-<pid>-<n>-edge" / "-cloud"):
- a veth pair, one end in each namespace ("to-cloud" in edge, "to-edge" in cloud), on a private /30
  subnet that exists only inside these two namespaces; loopback up in both;
- `tbf rate R burst B limit L` as root qdisc on both ends, so each direction is shaped to R;
- multicast on the veth and a 224.0.0.0/4 route, so DDS discovery works across the pair;
- nftables tables inside the namespaces for datagram loss (`numgen random mod 100 < N drop`) and for
  link cuts (drop everything arriving from the veth), both silent to the sender.
Nothing is configured outside the two namespaces: the host's interfaces, routes and rulesets are never
touched, and no traffic can leave the pair.

Namespaces of dead processes (from a crash or SIGKILL) are removed by `cleanup_stale()`, which every
`ShapedLink` runs on entry.

API (everything else is private):
- `unavailable_reason() -> str | None`: why it cannot run here (not root, ip/tc/nft missing); tests
  skip with it. Entering a ShapedLink raises `NetnsUnavailable` for the same reasons.
- `LinkConfig(rate_bps, burst_bytes, limit_bytes, loss_percent)`; `ShapedLink(config)`, a context manager.
- `link.ns[role]`, `link.addr[role]`, `link.dev[role]` for role "edge" / "cloud".
- `link.run_in(role, argv, env=None, **popen_kwargs) -> Popen` (env is added to os.environ; give
  console scripts by full path or keep the venv's bin on PATH); `link.stop(proc)`; `link.exec_in(role,
  argv)` for short commands.
- `link.set_loss(percent, roles=("edge", "cloud"))`, `link.set_link(up)`, `link.cut(seconds)`.
- `link.counters(role)` (veth bytes/packets, tbf drops), `link.loss_dropped(role)`.
- `dds_env(domain_id)`: environment for ROS 2 processes on both sides (SUBNET discovery, a Fast DDS
  profile whose shared-memory segment holds raw camera frames).
- `cleanup_stale()`, `list_namespaces()`.
"""
from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("edge", "cloud")
NAME_PREFIX = "prosem-"
_NAME_RE = re.compile(r"^prosem-(\d+)-\d+-(?:edge|cloud)$")
_DEVICES = {"edge": "to-cloud", "cloud": "to-edge"}
_LOSS_TABLE = "prosem_loss"
_CUT_TABLE = "prosem_cut"
_counter = itertools.count()


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, tools missing, or the kernel refuses)."""


@dataclass
class LinkConfig:
    """Shape of the link; every direction gets the same token bucket."""

    rate_bps: int = 1_000_000
    # Token bucket depth: one full-size packet. A deeper bucket lets short messages (a 1 KB base
    # layer) leave at line rate instead of at `rate_bps`, flattering small-message modes.
    burst_bytes: int = 1_600
    # Queue in front of the bucket. Deep like a cellular modem's buffer, so that one 64 KB DDS
    # datagram (fragmented into ~45 IP packets) always fits and is not tail-dropped by design.
    limit_bytes: int = 256_000
    # Percent of the datagrams each side sends that are lost (0 = none); see ShapedLink.set_loss.
    loss_percent: int = 0
    # Third octet of the 10.213.X.0/30 subnet; None picks one from the pid (cosmetic: the subnet only
    # exists inside the pair, so two harnesses never collide even with the same value).
    subnet_octet: int | None = None

    def __post_init__(self) -> None:
        if not 8_000 <= self.rate_bps <= 10_000_000_000:
            raise ValueError(f"rate_bps must be 8e3..1e10, got {self.rate_bps}")
        if self.burst_bytes < 1_600:
            raise ValueError(f"burst_bytes must hold one 1500-byte packet (>= 1600), got {self.burst_bytes}")
        if self.limit_bytes < self.burst_bytes:
            raise ValueError("limit_bytes must be >= burst_bytes")
        if not 0 <= self.loss_percent <= 100:
            raise ValueError(f"loss_percent must be 0..100, got {self.loss_percent}")


def unavailable_reason() -> str | None:
    """Why ShapedLink cannot run here, or None when it can (cheap: no namespace is made)."""
    if os.name != "posix" or not hasattr(os, "geteuid"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, e.g. in CI)"
    missing = [tool for tool in ("ip", "tc", "nft") if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (apt-get install iproute2 nftables)"
    return None


# Fast DDS profile with a shared-memory segment large enough for raw camera frames (see the file).
LARGE_FRAMES_PROFILE = Path(__file__).resolve().parent.parent / "data" / "fastdds_large_frames.xml"


def dds_env(domain_id: int, udp_only: bool = False, profile: str | os.PathLike | None = None) -> dict[str, str]:
    """Environment for ROS 2 processes on the two sides of the link.

    SUBNET discovery is required: LOCALHOST (the Makefile's default) never finds the other namespace.
    Fast DDS uses shared memory only between participants with the same host id; measured here, the two
    namespaces get different ones, so data crosses the veth while processes inside one namespace (a
    camera and the edge node) keep the shared-memory path. `profile` (FASTDDS_DEFAULT_PROFILES_FILE):
    the caller's, else the environment's, else LARGE_FRAMES_PROFILE (raw 640x480 frames need a larger
    segment than Fast DDS's default). `udp_only=True` forces UDP everywhere (FASTDDS_BUILTIN_TRANSPORTS).
    """
    env = {"ROS_DOMAIN_ID": str(domain_id), "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET"}
    chosen = profile or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE") or (LARGE_FRAMES_PROFILE if not udp_only else None)
    if chosen:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(chosen)
    if udp_only:
        env["FASTDDS_BUILTIN_TRANSPORTS"] = "UDPv4"
    return env


def _run(argv: Sequence[str], *, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), input=input_text, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_namespaces() -> list[str]:
    """Names of all network namespaces (not only ours)."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_namespace_processes(ns: str) -> None:
    pids = _run(["ip", "netns", "pids", ns], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass


def cleanup_stale() -> list[str]:
    """Delete prosem namespaces whose creating process is dead; returns the names removed."""
    removed = []
    for ns in list_namespaces():
        match = _NAME_RE.match(ns)
        if match and not _pid_alive(int(match.group(1))):
            _kill_namespace_processes(ns)
            if _run(["ip", "netns", "del", ns], check=False).returncode == 0:
                removed.append(ns)
    return removed


@dataclass
class ShapedLink:
    """Context manager owning two namespaces, the veth between them, and processes started in them."""

    config: LinkConfig = field(default_factory=LinkConfig)
    # Seconds a process gets between SIGINT and SIGKILL when the link is torn down.
    stop_grace_s: float = 5.0

    def __post_init__(self) -> None:
        n = next(_counter)
        base = f"{NAME_PREFIX}{os.getpid()}-{n}"
        self.ns: dict[str, str] = {role: f"{base}-{role}" for role in ROLES}
        self.dev: dict[str, str] = dict(_DEVICES)
        octet = self.config.subnet_octet if self.config.subnet_octet is not None else (os.getpid() + n) % 250 + 1
        self.addr: dict[str, str] = {"edge": f"10.213.{octet}.1", "cloud": f"10.213.{octet}.2"}
        self._procs: list[subprocess.Popen] = []
        self._made: list[str] = []
        self._loss = {role: 0 for role in ROLES}
        self._up = True
        self._lock = threading.Lock()
        self._old_sigterm = None

    # ---- lifetime -------------------------------------------------------------------------------
    def __enter__(self) -> ShapedLink:
        reason = unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        cleanup_stale()
        self._install_sigterm()
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _install_sigterm(self) -> None:
        # SIGTERM would end Python without unwinding; turn it into SystemExit so __exit__ still runs.
        if threading.current_thread() is threading.main_thread():
            def _raise(signum, frame):
                raise SystemExit(128 + signum)
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise)

    def _build(self) -> None:
        for role in ROLES:
            proc = _run(["ip", "netns", "add", self.ns[role]], check=False)
            if proc.returncode != 0:
                raise NetnsUnavailable(f"ip netns add failed: {proc.stderr.strip()}")
            self._made.append(self.ns[role])
        # Create the pair directly inside the namespaces: no interface ever exists on the host.
        _run(["ip", "link", "add", self.dev["edge"], "netns", self.ns["edge"], "type", "veth",
              "peer", "name", self.dev["cloud"], "netns", self.ns["cloud"]])
        cfg = self.config
        for role in ROLES:
            dev = self.dev[role]
            self.exec_in(role, ["ip", "link", "set", "lo", "up"])
            self.exec_in(role, ["ip", "addr", "add", f"{self.addr[role]}/30", "dev", dev])
            self.exec_in(role, ["ip", "link", "set", dev, "up", "multicast", "on"])
            self.exec_in(role, ["ip", "route", "add", "224.0.0.0/4", "dev", dev])
            self.exec_in(role, ["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{cfg.rate_bps}bit",
                                "burst", str(cfg.burst_bytes), "limit", str(cfg.limit_bytes)])
        self._wait_carrier()
        if cfg.loss_percent:
            self.set_loss(cfg.loss_percent)

    def _wait_carrier(self, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = [self.exec_in(r, ["cat", f"/sys/class/net/{self.dev[r]}/operstate"]).stdout.strip() for r in ROLES]
            if all(s == "up" for s in states):
                return
            time.sleep(0.05)
        raise RuntimeError(f"veth did not come up within {timeout_s} s")

    def close(self) -> None:
        """Stop every process started here, then delete the namespaces (idempotent)."""
        procs, self._procs = self._procs, []
        for proc in procs:
            _signal_group(proc, signal.SIGINT)
        deadline = time.monotonic() + self.stop_grace_s
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        for ns in reversed(self._made):
            _kill_namespace_processes(ns)
            _run(["ip", "netns", "del", ns], check=False)
        self._made = []
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None

    # ---- running things inside ------------------------------------------------------------------
    def _ns_of(self, where: str) -> str:
        if where in self.ns:
            return self.ns[where]
        if where in self.ns.values():
            return where
        raise ValueError(f"unknown namespace {where!r}: use one of {list(self.ns)}")

    def exec_in(self, where: str, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess:
        """Run a short command inside a namespace and wait for it (raises on failure when check)."""
        return _run(["ip", "netns", "exec", self._ns_of(where), *argv], check=check)

    def run_in(self, where: str, argv: Sequence[str], env: Mapping[str, str] | None = None,
               **popen_kwargs) -> subprocess.Popen:
        """Start a process inside a namespace ("edge" or "cloud"); stopped when the link closes.

        env: variables added to (not replacing) os.environ. The process leads its own process group,
        so stopping it also stops its children.
        """
        full_env = dict(os.environ)
        full_env.update(env or {})
        popen_kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen(["ip", "netns", "exec", self._ns_of(where), *argv], env=full_env, **popen_kwargs)
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, timeout_s: float | None = None) -> int:
        """Stop one process started by run_in (SIGINT, then SIGKILL); returns its exit code."""
        _signal_group(proc, signal.SIGINT)
        try:
            proc.wait(timeout=self.stop_grace_s if timeout_s is None else timeout_s)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(timeout=5)
        if proc in self._procs:
            self._procs.remove(proc)
        return proc.returncode

    # ---- impairments ----------------------------------------------------------------------------
    def set_loss(self, percent: int, roles: Sequence[str] = ROLES) -> None:
        """Lose `percent` % of the IP datagrams each given side sends over the veth (0 removes the rule).

        The drop happens in the input hook of the receiving side, after reassembly: a lost datagram is
        lost whole and silently (the sender sees no error, as on a real link) and it has used link
        capacity on the way, like a packet lost on the air. (Dropping in the sender's output hook would
        make sendto() fail with EPERM, which no real link does.)
        """
        if not 0 <= int(percent) <= 100:
            raise ValueError(f"loss percent must be 0..100, got {percent}")
        for role in roles:
            peer = _peer(role)
            rules = ""
            if percent:
                rules = (f"  chain inp {{ type filter hook input priority 0; policy accept;\n"
                         f"    iifname \"{self.dev[peer]}\" numgen random mod 100 < {int(percent)} counter drop\n  }}\n")
            self._replace_table(peer, _LOSS_TABLE, rules)
            self._loss[role] = int(percent)

    def set_link(self, up: bool) -> None:
        """Cut (up=False) or restore (up=True) the link in both directions.

        A cut drops everything arriving from the veth on both sides, like a radio losing its signal:
        interfaces, addresses and routes stay as they are, senders see no error, packets vanish.
        """
        with self._lock:
            for role in ROLES:
                rules = ""
                if not up:
                    rules = (f"  chain inp {{ type filter hook input priority -10; policy accept; "
                             f"iifname \"{self.dev[role]}\" drop; }}\n")
                self._replace_table(role, _CUT_TABLE, rules)
            self._up = up

    def cut(self, seconds: float) -> None:
        """Cut the link for `seconds` (blocking), then restore it, even if interrupted."""
        self.set_link(False)
        try:
            time.sleep(seconds)
        finally:
            self.set_link(True)

    @property
    def link_up(self) -> bool:
        return self._up

    def _replace_table(self, role: str, table: str, rules: str) -> None:
        # Declare-then-delete makes the delete valid whether or not the table exists; one nft
        # transaction, so there is no moment without the rule when replacing it.
        script = f"table inet {table} {{}}\ndelete table inet {table}\n"
        if rules:
            script += f"table inet {table} {{\n{rules}}}\n"
        proc = _run(["ip", "netns", "exec", self.ns[role], "nft", "-f", "-"], check=False, input_text=script)
        if proc.returncode != 0:
            raise RuntimeError(f"nft in {self.ns[role]} failed: {proc.stderr.strip()}")

    # ---- observation ----------------------------------------------------------------------------
    def counters(self, role: str) -> dict[str, int]:
        """Kernel counters of the veth on one side: tx/rx bytes and packets, tbf drops."""
        dev = self.dev[role]
        stats = {}
        for key in ("tx_bytes", "rx_bytes", "tx_packets", "rx_packets"):
            stats[key] = int(self.exec_in(role, ["cat", f"/sys/class/net/{dev}/statistics/{key}"]).stdout)
        qdisc = self.exec_in(role, ["tc", "-s", "qdisc", "show", "dev", dev]).stdout
        match = re.search(r"dropped (\d+)", qdisc)
        stats["qdisc_dropped"] = int(match.group(1)) if match else 0
        return stats

    def loss_dropped(self, role: str) -> int:
        """Datagrams sent by `role` and dropped so far by the loss rule (0 when no rule)."""
        if not self._loss[role]:
            return 0
        out = self.exec_in(_peer(role), ["nft", "list", "table", "inet", _LOSS_TABLE]).stdout
        match = re.search(r"counter packets (\d+)", out)
        return int(match.group(1)) if match else 0


def _peer(role: str) -> str:
    return "cloud" if role == "edge" else "edge"


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass
