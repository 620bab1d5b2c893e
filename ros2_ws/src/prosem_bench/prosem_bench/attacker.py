"""Hostile traffic for the soak (`python -m prosem_bench.attacker`), run by `prosem bench link --only soak`.

Runs in the cloud namespace (an intruder on the server's network, past the robot's thin link) and,
for as long as it runs:
- every second publishes `junk_per_s` layers of random bytes with plausible headers under a pool of
  `junk_ids` stream ids (junk fills stream tables and caches if anything is unbounded);
- every second republishes the newest genuine base layer it overheard with its frame number moved
  `ahead` frames into the future (a well-formed layer: its CRC and codebook are right; only the
  frame number lies), which must never become the frame a "latest" question is answered from;
- every `question_every_s` asks one oversize question and one full of control characters, which
  must be refused as bad requests, quickly.
One JSON object per line on stdout (what was sent, how the hostile questions were answered).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from prosem_core.uplink.progressive import CODEC_ID
from prosem_msgs.msg import SemanticLayer
from prosem_msgs.srv import Query
from prosem_ros.spin import spin_until_shutdown

HOSTILE_QUESTIONS = {
    "oversize": "is there a " + " " * 100_000 + "y?",
    "control": "what\x01 is\x7f this\x1b[2J\x08\x08?",
}


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class Attacker:
    def __init__(self, node, args) -> None:
        self.node = node
        self.args = args
        self.rng = np.random.default_rng(args.seed)
        self.template: SemanticLayer | None = None
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.pub = node.create_publisher(SemanticLayer, args.layers_topic, qos)
        node.create_subscription(SemanticLayer, args.layers_topic, self._overhear, qos)
        self.client = node.create_client(Query, args.service)
        self.sent = {"junk": 0, "forged": 0, "questions": 0}
        node.create_timer(1.0, self._every_second)
        node.create_timer(args.question_every_s, self._ask)

    def _overhear(self, msg: SemanticLayer) -> None:
        # Only genuine layers make templates: the attacker hears its own junk and forgeries too.
        if msg.stream_id == self.args.stream_id and msg.layer_index == 0 and msg.frame_seq < self.args.ahead:
            self.template = msg

    def _every_second(self) -> None:
        for _ in range(self.args.junk_per_s):
            msg = SemanticLayer()
            msg.stream_id = f"junk{int(self.rng.integers(self.args.junk_ids))}"
            msg.frame_seq = int(self.rng.integers(0, 1 << 62))
            msg.epoch = int(self.rng.integers(0, 1 << 32))
            msg.layer_count = int(self.rng.integers(1, 9))
            msg.layer_index = int(self.rng.integers(0, msg.layer_count))
            msg.codec_id = CODEC_ID
            msg.codebook_id = self.rng.bytes(8).hex()
            msg.token_shape = [49, 1280]
            msg.keyframe = True
            msg.payload = self.rng.bytes(int(self.rng.integers(16, 2048)))
            self.pub.publish(msg)
            self.sent["junk"] += 1
        if self.template is not None:
            forged = copy.deepcopy(self.template)
            forged.frame_seq = int(self.template.frame_seq) + self.args.ahead
            self.pub.publish(forged)
            self.sent["forged"] += 1
        _emit({"ev": "sent", "t": time.time(), **self.sent})

    def _ask(self) -> None:
        if not self.client.service_is_ready():
            return
        for kind, question in HOSTILE_QUESTIONS.items():
            sent = time.time()
            future = self.client.call_async(Query.Request(question=question, frame_seq=-1, timeout_s=1.0))
            future.add_done_callback(lambda f, kind=kind, sent=sent: self._answered(f, kind, sent))
            self.sent["questions"] += 1

    def _answered(self, future, kind: str, sent: float) -> None:
        r = future.result()
        _emit({"ev": "hostile_answer", "kind": kind, "sent": sent, "t": time.time(), "success": bool(r.success),
               "error_code": int(r.error_code), "answer_chars": len(r.answer)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream-id", default="robot0", help="the genuine stream whose layers are forged")
    parser.add_argument("--layers-topic", default="prosem/layers")
    parser.add_argument("--service", default="prosem/query")
    parser.add_argument("--junk-per-s", type=int, default=5)
    parser.add_argument("--junk-ids", type=int, default=20)
    parser.add_argument("--ahead", type=int, default=1_000_000, help="frames a forged layer is moved into the future")
    parser.add_argument("--question-every-s", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    rclpy.init()
    node = rclpy.create_node("prosem_bench_attacker")
    Attacker(node, args)
    _emit({"ev": "ready", "t": time.time()})
    return spin_until_shutdown(node, SingleThreadedExecutor())


if __name__ == "__main__":
    sys.exit(main())
