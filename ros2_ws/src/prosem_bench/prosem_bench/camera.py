"""Benchmark camera and edge-side tap (`python -m prosem_bench.camera`), run by `prosem bench link`.

Inside the edge namespace it
- publishes sensor_msgs/Image frames (rgb8) read from a .npy stack [N, H, W, 3] at a fixed rate, each
  stamped with its capture time (wall clock, the same clock the cloud namespace reads);
- taps what the edge node sends (prosem/layers[/refine], and in full_cloud mode prosem/image_jpeg)
  with local subscriptions: those never cross the shaped link, and they tell the benchmark which
  capture stamp each frame_seq carries and how many bytes each frame put on the link.
Everything it learns is printed as one JSON object per line on stdout; diagnostics go to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from prosem_msgs.msg import SemanticLayer
from prosem_ros.spin import spin_until_shutdown


def _stamp_s(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


class BenchCamera:
    def __init__(self, node, frames: np.ndarray, args) -> None:
        self.node = node
        self.frames = frames
        self.index = 0
        self.published = 0
        self.limit = args.frames
        self.pub = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
        if args.fps > 0:
            self.timer = node.create_timer(1.0 / args.fps, self._tick)
        tap_qos = QoSProfile(depth=200, reliability=ReliabilityPolicy.BEST_EFFORT)
        for topic in filter(None, args.tap_layers):  # '' = no layer tap (a counters-only tap)
            node.create_subscription(SemanticLayer, topic, self._on_layer, tap_qos)
        if args.tap_jpeg:
            node.create_subscription(CompressedImage, args.tap_jpeg, self._on_jpeg, tap_qos)
        if args.tap_counters:
            node.create_subscription(String, args.tap_counters, self._on_counters, 10)

    def _tick(self) -> None:
        if self.limit and self.published >= self.limit:
            return
        rgb = self.frames[self.index % len(self.frames)]
        msg = Image()
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        msg.header.frame_id = "bench_camera"
        msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
        msg.encoding = "rgb8"
        msg.step = msg.width * 3
        msg.data = np.ascontiguousarray(rgb).tobytes()
        self.pub.publish(msg)
        _emit({"ev": "capture", "i": self.index, "stamp": now * 1e-9})
        self.index += 1
        self.published += 1

    def _on_layer(self, msg) -> None:
        _emit({"ev": "layer", "t": time.time(), "stream": msg.stream_id, "seq": int(msg.frame_seq),
               "epoch": int(msg.epoch), "idx": int(msg.layer_index), "count": int(msg.layer_count),
               "stamp": _stamp_s(msg.header.stamp), "bytes": len(msg.payload), "fid": float(msg.fidelity)})

    def _on_counters(self, msg) -> None:
        try:
            counters = json.loads(msg.data)
        except ValueError:
            return
        _emit({"ev": "counters", "t": time.time(), "counters": counters})

    def _on_jpeg(self, msg) -> None:
        # full_cloud: the edge names the frame in header.frame_id as "stream:epoch:seq".
        try:
            stream, epoch, seq = msg.header.frame_id.rsplit(":", 2)
            epoch, seq = int(epoch), int(seq)
        except ValueError:
            stream, epoch, seq = msg.header.frame_id, 0, -1
        _emit({"ev": "layer", "t": time.time(), "stream": stream, "seq": seq, "epoch": epoch, "idx": 0, "count": 1,
               "stamp": _stamp_s(msg.header.stamp), "bytes": len(msg.data), "fid": 1.0, "jpeg": True})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames-npy", required=True, help=".npy stack [N, H, W, 3] uint8, RGB")
    parser.add_argument("--fps", type=float, default=5.0, help="0 = publish nothing (tap only)")
    parser.add_argument("--frames", type=int, default=0, help="stop publishing after this many (0 = never)")
    parser.add_argument("--topic", default="camera/image_raw")
    parser.add_argument("--tap-layers", action="append", default=None,
                        help="SemanticLayer topic to tap (repeatable; default prosem/layers and prosem/layers/refine)")
    parser.add_argument("--tap-jpeg", default="prosem/image_jpeg", help="full_cloud CompressedImage topic to tap ('' = none)")
    parser.add_argument("--tap-counters", default="", help="std_msgs/String JSON counters topic to tap ('' = none)")
    args = parser.parse_args(argv)
    if args.tap_layers is None:
        args.tap_layers = ["prosem/layers", "prosem/layers/refine"]
    frames = np.load(args.frames_npy, mmap_mode="r")
    rclpy.init()
    node = rclpy.create_node("prosem_bench_camera")
    BenchCamera(node, frames, args)
    executor = SingleThreadedExecutor()
    _emit({"ev": "ready", "t": time.time()})
    return spin_until_shutdown(node, executor)


if __name__ == "__main__":
    sys.exit(main())
