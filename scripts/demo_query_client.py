#!/usr/bin/env python3
"""Ask the cloud node questions through the real `prosem/query` service, one per stdin line.

Run by scripts/demo.py on the cloud side of the link (in the cloud namespace when the link is
shaped). Protocol, one JSON object per line:
  stdout first: {"ready": true} once the service is available (or {"ready": false, "error": ...});
  stdin:  {"question": str, "stream_id": str, "frame_seq": int, "min_fidelity": float, "timeout_s": float}
  stdout: the response fields as JSON, plus "client_latency_s" (call to response, this side's clock),
          or {"error": "..."} when the call itself failed.
  stdin:  {"set_param": {"node": "/camera_replay", "name": "source", "value": "demo:coffee"}}
  stdout: {"successful": bool, "reason": str} (the node's set_parameters service; string values only)
"""
from __future__ import annotations

import json
import sys
import time

import rclpy
from rclpy.executors import SingleThreadedExecutor

from prosem_core.query_types import RESULT_FIELDS
from prosem_msgs.srv import Query

RESPONSE_FIELDS = RESULT_FIELDS


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def set_param(own_node, executor, node: str, name: str, value: str) -> dict:
    """Set one string parameter of the node named `node` through its set_parameters service."""
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    target = node
    client = own_node.create_client(SetParameters, f"{target}/set_parameters")
    try:
        if not client.wait_for_service(timeout_sec=10.0):
            return {"successful": False, "reason": f"{target}/set_parameters not available"}
        req = SetParameters.Request(parameters=[Parameter(
            name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(value)))])
        future = client.call_async(req)
        executor.spin_until_future_complete(future, timeout_sec=10.0)
        if not future.done():
            return {"successful": False, "reason": "set_parameters timed out"}
        result = future.result().results[0]
        return {"successful": bool(result.successful), "reason": result.reason}
    finally:
        own_node.destroy_client(client)


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
            if "set_param" in ask:
                emit(set_param(node, executor, **ask["set_param"]))
                continue
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
