"""prosem_msgs across processes: layers published by one process arrive intact; a Query is answered."""
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosutil import make_executor, private_context, spin_until  # noqa: E402

from prosem_msgs.msg import SemanticLayer  # noqa: E402
from prosem_msgs.srv import Query  # noqa: E402

PROCS = Path(__file__).parent / "procs"


def _start(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(PROCS / script), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.stdout.read() if proc.stdout else ""


def test_semantic_layers_cross_process():
    with private_context() as ctx:
        node = rclpy.create_node("xproc_layer_sub", context=ctx)
        got = []
        node.create_subscription(SemanticLayer, "prosem/layers", got.append, QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        ex = make_executor(ctx, node)
        proc = _start("layer_publisher.py", "--count", "60", "--period", "0.1")
        try:
            assert spin_until(ex, lambda: len(got) >= 10, 20.0), f"only {len(got)} layers arrived; publisher said: {_stop(proc)}"
        finally:
            out = _stop(proc)
        for msg in got:
            payload = bytes(msg.payload)
            i = msg.frame_seq
            assert msg.stream_id == "xproc" and msg.layer_index == i % 4
            assert payload == bytes((i * 7 + j) % 256 for j in range(1000 + i)), out
            assert msg.codebook_id == f"{zlib.crc32(payload):08x}"
        seqs = [m.frame_seq for m in got]
        assert seqs == sorted(seqs), "reliable keep-last stream reordered samples"
        ex.shutdown()
        node.destroy_node()


def test_query_service_cross_process():
    with private_context() as ctx:
        node = rclpy.create_node("xproc_query_client", context=ctx)
        client = node.create_client(Query, "prosem/query")
        ex = make_executor(ctx, node)
        proc = _start("query_server.py")
        try:
            assert spin_until(ex, client.service_is_ready, 20.0), _stop(proc)
            fut = client.call_async(Query.Request(question="is there a cat?", stream_id="r1", frame_seq=42, min_fidelity=0.8))
            assert spin_until(ex, fut.done, 10.0)
            resp = fut.result()
            assert resp.success and resp.answer == "?tac a ereht si"
            assert resp.frame_seq == 42 and resp.stream_id == "r1" and resp.fidelity == pytest.approx(0.8)
        finally:
            _stop(proc)
        ex.shutdown()
        node.destroy_node()
