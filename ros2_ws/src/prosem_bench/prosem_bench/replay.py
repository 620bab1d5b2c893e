"""Many robots' layer streams from one light process (`python -m prosem_bench.replay`).

For `prosem bench link`'s multi-stream section: eight real edge_nodes would need eight vision encoders
(several CPU cores); the cloud's load does not depend on who computed the tokens. This process holds
precomputed tokens of real camera frames and, for each robot namespace NS, codes one frame per period
with the shipped Meta AutoEncoder (so every layer is genuine, with its own frame_seq in the header),
publishes NS/prosem/layers (base, reliable) and NS/prosem/layers/refine (best effort) up to a byte
budget per frame, and serves pull requests from NS/prosem/feedback like the edge node does.
One JSON line per published frame on stdout.

With --pre-encoded (the scale section: up to 64 streams), each token frame is coded once at start and
every published frame is that frame's layers renumbered (codec.layer_format.with_frame_seq): the
layers are still genuine, and the process costs microseconds per frame instead of a codec encode.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import OrderedDict

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy

from prosem_core.codec import read_header
from prosem_core.codec.layer_format import with_frame_seq
from prosem_core.pipeline import default_pipeline
from prosem_core.uplink.progressive import CODEC_ID
from prosem_msgs.msg import LayerFeedback, SemanticLayer
from prosem_ros.msg_convert import from_seconds
from prosem_ros.spin import spin_until_shutdown

HELD_FRAMES = 16


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class ReplayStream:
    def __init__(self, node, ns: str, codec, tokens: np.ndarray, push_bytes: int, offset: int,
                 pre_encoded: list[list[bytes]] | None = None) -> None:
        self.ns, self.stream_id = ns, ns.strip("/").split("/")[-1]
        self.codec, self.tokens, self.push_bytes, self.offset = codec, tokens, push_bytes, offset
        self.pre_encoded = pre_encoded
        self.epoch = random.SystemRandom().randrange(1, 2**32)
        self.seq = 0
        self.held: OrderedDict[int, tuple[list[bytes], object]] = OrderedDict()
        self.last_resend: dict[tuple[int, int], float] = {}
        reliable = QoSProfile(depth=16, reliability=ReliabilityPolicy.RELIABLE)
        best_effort = QoSProfile(depth=16, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.base = node.create_publisher(SemanticLayer, f"{ns}/prosem/layers", reliable)
        self.refine = node.create_publisher(SemanticLayer, f"{ns}/prosem/layers/refine", best_effort)
        node.create_subscription(LayerFeedback, f"{ns}/prosem/feedback", self._on_feedback,
                                 QoSProfile(depth=32, reliability=ReliabilityPolicy.BEST_EFFORT))

    def publish_frame(self) -> None:
        seq = self.seq
        self.seq += 1
        stamp = from_seconds(time.time())
        i = (seq + self.offset) % len(self.tokens)
        if self.pre_encoded is None:
            layers = self.codec.encode(self.tokens[i], frame_seq=seq & 0xFFFFFFFF)
        else:
            layers = [with_frame_seq(x, seq) for x in self.pre_encoded[i]]
        self.held[seq] = (layers, stamp)
        while len(self.held) > HELD_FRAMES:
            self.held.popitem(last=False)
        total, pushed = 0, 0
        for index, payload in enumerate(layers):
            if index > 0 and total + len(payload) > self.push_bytes:
                break
            self._send(seq, index, payload, stamp, pulled=False)
            total += len(payload)
            pushed += 1
        _emit({"ev": "frame", "stream": self.stream_id, "seq": seq, "stamp": stamp.sec + stamp.nanosec * 1e-9,
               "layers": pushed, "bytes": total})

    def _send(self, seq: int, index: int, payload: bytes, stamp, pulled: bool) -> None:
        h = read_header(payload)
        msg = SemanticLayer()
        msg.header.stamp = stamp
        msg.header.frame_id = "bench_replay"
        msg.stream_id, msg.frame_seq, msg.epoch = self.stream_id, seq, self.epoch
        msg.layer_index, msg.layer_count = index, h.layer_count
        msg.codec_id, msg.codebook_id = CODEC_ID, h.codebook_id
        msg.token_shape = [int(x) for x in h.token_shape]
        msg.keyframe, msg.ref_frame_seq, msg.fidelity = bool(h.keyframe), int(h.ref_frame_seq), float(h.fidelity)
        msg.send_stamp = from_seconds(time.time())
        msg.payload = payload
        (self.base if index == 0 or pulled else self.refine).publish(msg)

    def _on_feedback(self, fb) -> None:
        if fb.stream_id != self.stream_id or fb.epoch != self.epoch or fb.pull_layers <= fb.prefix_layers:
            return
        held = self.held.get(int(fb.frame_seq))
        if held is None:
            return
        layers, stamp = held
        now = time.monotonic()
        for index in range(min(fb.pull_layers, len(layers))):
            key = (int(fb.frame_seq), index)
            if fb.received_mask >> index & 1 or now - self.last_resend.get(key, -1.0) < 0.1:
                continue
            self.last_resend[key] = now
            self._send(int(fb.frame_seq), index, layers[index], stamp, pulled=True)
        if len(self.last_resend) > 4096:
            self.last_resend.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens-npy", required=True, help="float32 [N, T, D] tokens of camera frames")
    parser.add_argument("--namespaces", nargs="+", required=True)
    parser.add_argument("--fps", type=float, default=5.0)
    parser.add_argument("--push-bytes", type=int, default=20_000, help="bytes pushed per frame (layer 0 always)")
    parser.add_argument("--codebook", default="", help="codebook path ('' = the shipped one, as the nodes)")
    parser.add_argument("--solo-s", type=float, default=0.0, help="only the first namespace streams for this long")
    parser.add_argument("--pre-encoded", action="store_true", help="code each token frame once, then renumber (light)")
    args = parser.parse_args(argv)
    tokens = np.load(args.tokens_npy).astype(np.float32)
    codec = default_pipeline(codebook=args.codebook or None).codec  # the nodes' codec (only the codec is built)
    rclpy.init()
    node = rclpy.create_node("prosem_bench_replay")
    pre = [codec.encode(t, frame_seq=0) for t in tokens] if args.pre_encoded else None
    streams = [ReplayStream(node, ns, codec, tokens, args.push_bytes, offset=7 * i, pre_encoded=pre)
               for i, ns in enumerate(args.namespaces)]
    t0 = time.monotonic()
    state = {"all": args.solo_s <= 0}

    def tick() -> None:
        if not state["all"] and time.monotonic() - t0 >= args.solo_s:
            state["all"] = True
            _emit({"ev": "all_streams", "t": time.time()})
        for stream in streams if state["all"] else streams[:1]:
            stream.publish_frame()

    node.create_timer(1.0 / args.fps, tick)
    executor = SingleThreadedExecutor()
    _emit({"ev": "ready", "t": time.time()})
    return spin_until_shutdown(node, executor)


if __name__ == "__main__":
    sys.exit(main())
