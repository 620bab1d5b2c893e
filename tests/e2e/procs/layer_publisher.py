"""Test process: publishes numbered SemanticLayers on prosem/layers until killed or --count sent."""
import argparse
import zlib

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy

from prosem_msgs.msg import SemanticLayer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50)
    ap.add_argument("--period", type=float, default=0.1)
    args = ap.parse_args()
    rclpy.init()
    node = rclpy.create_node("xproc_layer_publisher")
    pub = node.create_publisher(SemanticLayer, "prosem/layers", QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
    try:
        for i in range(args.count):
            payload = bytes((i * 7 + j) % 256 for j in range(1000 + i))
            msg = SemanticLayer(stream_id="xproc", frame_seq=i, layer_index=i % 4, layer_count=4, codebook_id=f"{zlib.crc32(payload):08x}")
            msg.payload = payload
            pub.publish(msg)
            rclpy.spin_once(node, timeout_sec=args.period)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
