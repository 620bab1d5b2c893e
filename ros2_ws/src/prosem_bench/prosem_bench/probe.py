"""Benchmark query probe (`python -m prosem_bench.probe`), run by `prosem bench link`.

Runs in the cloud namespace next to cloud_node and asks prosem/query (service) the way a user would,
recording when each answer came back. What to ask and when:
- trigger "feedback": the moment the cloud acknowledges a new frame (prosem/feedback, a local
  subscription that never crosses the link), ask about exactly that frame; the benchmark then measures
  capture -> answer without the idle time a randomly timed question would add;
- trigger "stdin": one request per input line `{"seq": N, "kind": K}` (seq -1 = latest);
- trigger "period": ask about the latest frame every `period_s` (with "feedback": when no query was
  asked for `period_s`, e.g. while the link is cut).
A frame the cloud does not hold yet (full_cloud acknowledges a JPEG before encoding it) is asked again
every `retry_s` until it is answered or `timeout_s` passes; `sent` is the first attempt's time.
Queries alternate over the streams given by --stream-id and over the `--kind NAME:MIN_FIDELITY` list
(e.g. first:0.0 refined:0.95); one query is in flight at a time. One JSON object per line on stdout.
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from prosem_core.query_types import RESULT_FIELDS
from prosem_msgs.msg import LayerFeedback
from prosem_msgs.srv import Query
from prosem_ros.spin import spin_until_shutdown

_FIELDS = RESULT_FIELDS


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


# Errors that mean "not there yet" (full_cloud: the cloud acknowledges a JPEG before encoding it).
_RETRYABLE = ("not held", "no decodable frame", "unknown stream", "no stream has sent")


class Probe:
    def __init__(self, node, args) -> None:
        self.node = node
        self.args = args
        self.kinds = [(k.split(":")[0], float(k.split(":")[1])) for k in args.kind]
        self.questions = args.question
        self.client = node.create_client(Query, args.service)
        self.busy = False
        self.asked = 0
        self.last_ask = 0.0
        self.last_seq = -1
        self.pending: list[dict] = []      # requests not yet answered, oldest first
        self.lock = threading.Lock()
        if args.trigger == "feedback":
            qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
            node.create_subscription(LayerFeedback, args.feedback_topic, self._on_feedback, qos)
        node.create_timer(0.01, self._tick)
        if args.trigger == "stdin":
            threading.Thread(target=self._read_stdin, daemon=True).start()

    # -- triggers -----------------------------------------------------------------------------------
    def _enqueue(self, seq: int, kind: str | None) -> None:
        now = time.time()
        with self.lock:
            self.pending.append({"seq": seq, "kind": kind, "t_in": now, "deadline": time.monotonic() + self.args.timeout_s,
                                 "attempts": 0, "next_at": 0.0})

    def _on_feedback(self, msg) -> None:
        seq = int(msg.frame_seq)
        if self.args.stream_id and msg.stream_id not in self.args.stream_id:
            return
        if msg.prefix_layers < 1 or seq <= self.last_seq:
            return
        self.last_seq = seq
        with self.lock:
            idle = not self.pending
        if not self.busy and idle and time.monotonic() - self.last_ask >= self.args.min_gap_s:
            self._enqueue(seq, None)
            self._tick()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if line:
                req = json.loads(line)
                self._enqueue(int(req.get("seq", -1)), req.get("kind"))

    def _tick(self) -> None:
        if self.busy or not self.client.service_is_ready():
            return
        now = time.monotonic()
        with self.lock:
            req = self.pending[0] if self.pending else None
        if req is None:
            # No acknowledgement for a while (a cut, heavy loss) or period trigger: ask about the latest.
            if self.args.trigger != "stdin" and self.args.period_s > 0 and now - self.last_ask >= self.args.period_s:
                self._enqueue(-1, None)
                self._tick()
            return
        if now < req["next_at"]:
            return
        kind = next((k for k in self.kinds if k[0] == req["kind"]), None) or self.kinds[self.asked % len(self.kinds)]
        req["kind"] = kind[0]
        self._ask(req, kind)

    # -- asking ---------------------------------------------------------------------------------------
    def _ask(self, req: dict, kind: tuple[str, float]) -> None:
        self.busy = True
        self.last_ask = time.monotonic()
        req["attempts"] += 1
        question = self.questions[self.asked % len(self.questions)]
        streams = self.args.stream_id or [""]
        req.setdefault("stream", streams[self.asked % len(streams)])
        request = Query.Request(question=question, stream_id=req["stream"], frame_seq=req["seq"],
                                min_fidelity=kind[1], timeout_s=self.args.timeout_s)
        sent = time.time()
        req.setdefault("sent", sent)
        future = self.client.call_async(request)
        future.add_done_callback(lambda f: self._done(f, req, kind, question))

    def _done(self, future, req: dict, kind: tuple[str, float], question: str) -> None:
        now = time.time()
        resp = future.result()
        retry = (resp is not None and not resp.success and any(e in resp.error for e in _RETRYABLE)
                 and time.monotonic() + self.args.retry_s < req["deadline"])
        if retry:
            req["next_at"] = time.monotonic() + self.args.retry_s
            self.busy = False
            return
        record = {"ev": "answer", "t": now, "sent": req["sent"], "trigger_t": req["t_in"], "seq_asked": req["seq"],
                  "kind": kind[0], "min_fidelity": kind[1], "question": question, "attempts": req["attempts"]}
        if resp is not None:
            record.update({f: getattr(resp, f) for f in _FIELDS})
            record["frame_seq"] = int(record["frame_seq"])
        else:
            record.update({"success": False, "error": "no response"})
        with self.lock:
            if self.pending and self.pending[0] is req:
                self.pending.pop(0)
        self.asked += 1
        self.busy = False
        _emit(record)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trigger", choices=("feedback", "stdin", "period"), default="feedback")
    parser.add_argument("--kind", action="append", default=[], help="NAME:MIN_FIDELITY, alternated")
    parser.add_argument("--question", action="append", default=[])
    parser.add_argument("--stream-id", action="append", default=[], help="stream(s) to ask about, cycled ('' = the only one)")
    parser.add_argument("--service", default="prosem/query")
    parser.add_argument("--feedback-topic", default="prosem/feedback")
    parser.add_argument("--timeout-s", type=float, default=3.0)
    parser.add_argument("--min-gap-s", type=float, default=0.0, help="feedback trigger: least time between queries")
    parser.add_argument("--period-s", type=float, default=1.0, help="0 = never ask on a timer")
    parser.add_argument("--retry-s", type=float, default=0.02)
    args = parser.parse_args(argv)
    args.kind = args.kind or ["first:0.0"]
    args.question = args.question or ["what is in the image?"]
    rclpy.init()
    node = rclpy.create_node("prosem_bench_probe")
    Probe(node, args)
    executor = SingleThreadedExecutor()
    _emit({"ev": "ready", "t": time.time()})
    return spin_until_shutdown(node, executor)


if __name__ == "__main__":
    sys.exit(main())
