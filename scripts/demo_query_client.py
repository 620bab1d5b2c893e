#!/usr/bin/env python3
"""Ask the cloud node questions through the real `prosem/query` service, one per stdin line.

Run by scripts/demo.py on the cloud side of the link (in the cloud namespace when the link is
shaped). Protocol, one JSON object per line:
  stdout first: {"ready": true} once the service is available (or {"ready": false, "error": ...});
  stdin:  {"question": str, "stream_id": str, "frame_seq": int, "min_fidelity": float, "timeout_s": float}
  stdout: the response fields as JSON, plus "client_latency_s" (call to response, this side's clock),
          or {"error": "..."} when the call itself failed.
"""
from __future__ import annotations

import json
import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

from prosem_msgs.srv import Query

RESPONSE_FIELDS = ("success", "error", "answer", "confidence", "frame_seq", "layers_used", "bytes_used",
                   "fidelity", "latency_s", "fidelity_reached", "stream_id")


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main() -> int:
    service = sys.argv[1] if len(sys.argv) > 1 else "prosem/query"
    wait_s = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    rclpy.init()
    node = rclpy.create_node("prosem_demo_client")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = node.create_client(Query, service)
    try:
        if not client.wait_for_service(timeout_sec=wait_s):
            emit({"ready": False, "error": f"service {service} not available after {wait_s:.0f} s"})
            return 1
        emit({"ready": True})
        for line in sys.stdin:
            if not line.strip():
                continue
            ask = json.loads(line)
            req = Query.Request()
            req.question = ask["question"]
            req.stream_id = ask.get("stream_id", "")
            req.frame_seq = int(ask.get("frame_seq", -1))
            req.min_fidelity = float(ask.get("min_fidelity", 0.0))
            req.timeout_s = float(ask.get("timeout_s", 2.0))
            start = time.monotonic()
            future = client.call_async(req)
            # The server answers within timeout_s (it says so when fidelity was not reached); allow
            # start-up and transfer on top before calling the service broken.
            executor.spin_until_future_complete(future, timeout_sec=req.timeout_s + 10.0)
            if not future.done():
                client.remove_pending_request(future)
                emit({"error": f"no response within {req.timeout_s + 10.0:.0f} s"})
                continue
            res = future.result()
            out = {k: getattr(res, k) for k in RESPONSE_FIELDS}
            out["client_latency_s"] = time.monotonic() - start
            emit(out)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
