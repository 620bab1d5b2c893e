"""The shaped-link harness itself: namespaces, rate, loss, cuts, cleanup (root; skipped otherwise).

Traffic is plain Python sockets between the two namespaces the harness made; each check compares a
measured quantity with what the configured link must produce (physics, not a hard-coded result).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from prosem_core.bench import netns
from prosem_core.bench.netns import LinkConfig, NetnsUnavailable, ShapedLink, list_namespaces

pytestmark = pytest.mark.timeout(60)

REASON = netns.unavailable_reason()
needs_netns = pytest.mark.skipif(REASON is not None, reason=f"shaped link unavailable: {REASON}")

# Stdlib-only helpers run inside the namespaces (-S: no site, starts fast).
TCP_SINK = r"""
import json, socket, sys, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 5001)); srv.listen(1); print("ready", flush=True)
conn, _ = srv.accept(); t0 = time.monotonic(); n = 0
while True:
    chunk = conn.recv(65536)
    if not chunk: break
    n += len(chunk)
print(json.dumps({"bytes": n, "seconds": time.monotonic() - t0}), flush=True)
"""
TCP_SOURCE = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 5001)); s.sendall(b"x" * int(sys.argv[2])); s.close()
"""
UDP_SINK = r"""
import json, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 5002)); s.settimeout(float(sys.argv[2]))
print("ready", flush=True); seen = []; first = last = None
try:
    while True:
        data = s.recv(65536); now = time.monotonic()
        if data == b"end": break
        first = first if first is not None else now; last = now; seen.append(int(data[:8]))
except socket.timeout:
    pass
print(json.dumps({"count": len(seen), "ids": seen, "spread_s": (last - first) if seen else 0.0}), flush=True)
"""
UDP_SOURCE = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
n, size, gap = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
for i in range(n):
    s.sendto(b"%08d" % i + b"x" * (size - 8), (sys.argv[1], 5002))
    if gap: time.sleep(gap)
"""


def _start_sink(link: ShapedLink, where: str, code: str, *args: str) -> subprocess.Popen:
    proc = link.run_in(where, [sys.executable, "-S", "-c", code, *args], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _run_source(link: ShapedLink, where: str, code: str, *args: str) -> None:
    link.exec_in(where, [sys.executable, "-S", "-c", code, *args])


def _finish(proc: subprocess.Popen, timeout: float = 20) -> dict:
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


def _udp_burst(link: ShapedLink, src: str, dst: str, n: int, size: int = 200, gap: float = 0.0,
               sink_timeout: float = 1.5) -> dict:
    sink = _start_sink(link, dst, UDP_SINK, link.addr[dst], str(sink_timeout))
    _run_source(link, src, UDP_SOURCE, link.addr[dst], str(n), str(size), str(gap))
    return _finish(sink)


def test_unavailable_reason_when_not_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in netns.unavailable_reason()
    with pytest.raises(NetnsUnavailable, match="root"):
        ShapedLink().__enter__()


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="rate_bps"):
        LinkConfig(rate_bps=0)
    with pytest.raises(ValueError, match="burst"):
        LinkConfig(burst_bytes=100)
    with pytest.raises(ValueError, match="loss"):
        LinkConfig(loss_percent=130)


@needs_netns
def test_namespaces_appear_and_disappear_even_on_exception():
    before = set(list_namespaces())
    with pytest.raises(KeyboardInterrupt):
        with ShapedLink() as link:
            names = set(link.ns.values())
            assert names <= set(list_namespaces())
            sleeper = link.run_in("edge", ["sleep", "30"])
            # The veth ends live only inside the namespaces: nothing new on the host.
            assert link.dev["edge"] not in subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
            raise KeyboardInterrupt
    assert not names & set(list_namespaces())
    assert set(list_namespaces()) <= before | set()
    assert sleeper.poll() is not None, "processes started in the namespaces are stopped on exit"


@needs_netns
def test_stale_namespaces_of_dead_pids_are_removed():
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"prosem-{dead.pid}-0-edge"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        assert stale in netns.cleanup_stale()
        assert stale not in list_namespaces()
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)


@needs_netns
def test_rate_is_enforced_tcp_and_udp_both_directions():
    payload = 100_000
    with ShapedLink(LinkConfig(rate_bps=1_000_000)) as link:
        sink = _start_sink(link, "cloud", TCP_SINK, link.addr["cloud"])
        _run_source(link, "edge", TCP_SOURCE, link.addr["cloud"], str(payload))
        tcp = _finish(sink)
        assert tcp["bytes"] == payload
        ideal = payload * 8 / 1_000_000  # 0.8 s on the wire, plus TCP/IP headers, minus one bucket
        assert 0.85 * ideal < tcp["seconds"] < 1.5 * ideal, tcp

        # The other direction is shaped on its own: 100 datagrams of 1000 B arrive spread over ~0.8 s.
        udp = _udp_burst(link, "cloud", "edge", n=100, size=1000)
        assert udp["count"] == 100, "the queue must hold a 100 KB burst without drops"
        assert 0.85 * ideal < udp["spread_s"] < 1.5 * ideal, udp

        # Kernel counters see the bytes (used by the benchmark to count wire bytes).
        counters = link.counters("edge")
        assert counters["tx_bytes"] > payload and counters["rx_bytes"] > payload


@needs_netns
def test_loss_rule_drops_about_the_configured_fraction():
    n = 2000
    # A fast link so the loss check is quick; loss does not depend on the rate.
    with ShapedLink(LinkConfig(rate_bps=100_000_000, loss_percent=30)) as link:
        result = _udp_burst(link, "edge", "cloud", n=n, size=100, gap=0.0002)
        lost = 1 - result["count"] / n
        # Binomial(2000, 0.3): sd ~ 1 %; 5 sd either side.
        assert 0.25 < lost < 0.35, lost
        assert link.loss_dropped("edge") == n - result["count"]
        link.set_loss(0)
        assert _udp_burst(link, "edge", "cloud", n=200, size=100, gap=0.0002)["count"] == 200


@needs_netns
def test_cut_stops_traffic_and_link_returns():
    with ShapedLink(LinkConfig(rate_bps=10_000_000)) as link:
        link.set_link(False)
        assert not link.link_up
        assert _udp_burst(link, "edge", "cloud", n=20, sink_timeout=0.5)["count"] == 0
        assert _udp_burst(link, "cloud", "edge", n=20, sink_timeout=0.5)["count"] == 0
        link.set_link(True)
        assert _udp_burst(link, "edge", "cloud", n=20, sink_timeout=0.5)["count"] == 20

        # cut(): blocking for its duration, restores afterwards.
        t0 = time.monotonic()
        link.cut(0.3)
        assert time.monotonic() - t0 >= 0.3 and link.link_up
        assert _udp_burst(link, "cloud", "edge", n=20, sink_timeout=0.5)["count"] == 20
