"""ProSem cloud node: assemble robots' layer streams, answer questions, pull layers when needed.

Per robot namespace NS (parameter `namespaces`; "" = this node's own namespace):
  sub NS/prosem/layers (base + pulled; base_reliability), NS/prosem/layers/refine (best effort),
      NS/prosem/image_jpeg (full_cloud mode)
  pub NS/prosem/feedback (LayerFeedback: a receipt per accepted layer, pull requests)
  client NS/prosem/edge_query (full_edge mode: the edge answers, the cloud relays)
  full_tokens mode: NS/prosem/layers carries fp16 token chunks (prosem_core.token_chunks); the same
      assembler holds them (chunk = layer) and a query is answered from the exact tokens of a whole frame
Serves prosem/query as a service (prosem_msgs/srv/Query) and as an action (prosem_msgs/action/Query,
streaming a refined answer each time more layers of the frame arrive). Counters on ~/counters.

Threads: layer callbacks run in one mutually exclusive group and only check and store bytes; the
query service and action run in a reentrant group on a MultiThreadedExecutor, so a query waiting
for pulled layers (a Condition wait, bounded by timeout_s) never stops layers from arriving.
Decoding and answering happen in the query threads; JPEG encoding (full_cloud) in worker threads.
With 8 robots the executor thread is busy in Python about half the time (rclpy rebuilds its wait
set for every message); a decode gives up the GIL at each numpy call and, at Python's default 5 ms
switch interval, waited that long to get it back each time (p95 query 0.22 s vs 0.06 s for one
robot). main() therefore sets a short switch interval (parameter gil_switch_interval_s).
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import rclpy
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String

from prosem_core import auth, images, token_chunks
from prosem_core.assembly import Assembler, AssemblyConfig, FrameAssembly
from prosem_core.codec import read_header
from prosem_core.latest_slot import LatestSlot
from prosem_core.link.qos_policy import BASE_READER_QOS, FEEDBACK_QOS, REFINE_READER_QOS
from prosem_msgs.action import Query as QueryAction
from prosem_msgs.msg import LayerFeedback, SemanticLayer
from prosem_msgs.srv import Query
from prosem_ros.msg_convert import from_seconds, layer_in, parse_jpeg_frame_id, stream_id_for_namespace
from prosem_ros.params import ParamSpec, check_update, declare_all
from prosem_ros.qos import to_profile
from prosem_ros.spin import spin_until_shutdown

MODES = ("progressive", "full_cloud", "full_tokens", "full_edge")
RESULT_FIELDS = ("success", "error", "answer", "confidence", "frame_seq", "layers_used", "bytes_used", "fidelity",
                 "latency_s", "fidelity_reached", "stream_id")

PARAMS = [
    ParamSpec("mode", "progressive", "what the robots send", choices=MODES, read_only=True),
    ParamSpec("namespaces", [""], "robot namespaces whose prosem/* topics to serve ('' = this node's namespace)", read_only=True),
    ParamSpec("allowed_streams", [], "stream ids accepted (empty = any, up to max_streams)", read_only=True),
    ParamSpec("default_stream", "", "stream a query with empty stream_id means when several streams exist"),
    ParamSpec("runtime", "torch", "full_cloud: vision encoder runtime", choices=("onnx", "onnx-int8", "torch"), read_only=True),
    ParamSpec("encoder_threads", 1, "full_cloud: threads of the vision encoder (0 = the runtime's default)", 0, 64, read_only=True),
    ParamSpec("codebook", "", "Meta AutoEncoder codebook path (.npz/.json stem); empty = the shipped one", read_only=True),
    ParamSpec("answer_head", "", "answer head file; empty = the shipped one", read_only=True),
    ParamSpec("warmup", True, "load the answerer (and, in full_cloud, the encoder) at start, not on the first query", read_only=True),
    ParamSpec("base_reliability", "best_effort", "QoS reliability of the prosem/layers reader (match the edges' base_reliability)",
              choices=("reliable", "best_effort"), read_only=True),
    ParamSpec("max_streams", 16, "most streams held at once", 1, 4096, read_only=True),
    ParamSpec("max_frames_per_stream", 16, "frames held per stream (older ones are evicted)", 1, 4096, read_only=True),
    ParamSpec("max_bytes_per_stream", 8 << 20, "payload bytes held per stream", 64 << 10, 1 << 30, read_only=True),
    ParamSpec("stream_stale_s", 3.0, "a 'latest frame' query fails when the stream has been silent this long", 0.1, 3600.0),
    ParamSpec("stream_expire_s", 120.0, "streams silent this long are forgotten", 1.0, 86400.0),
    ParamSpec("pull_retry_s", 0.25, "repeat a pull request this often while a query waits", 0.01, 10.0),
    ParamSpec("max_timeout_s", 30.0, "cap on a query's timeout_s", 0.0, 600.0),
    ParamSpec("num_threads", 4, "executor threads (queries wait in them)", 2, 64, read_only=True),
    ParamSpec("gil_switch_interval_s", 0.0005, "main(): sys.setswitchinterval for this process; short, so a query's decode "
              "(many numpy calls, each giving up the GIL) is not held back 5 ms a call by the busy executor thread",
              1e-5, 0.1, read_only=True),
    ParamSpec("counters_period_s", 2.0, "period of ~/counters", 0.1, 3600.0, read_only=True),
    ParamSpec("auth_key", "", "shared HMAC key as text (prefer auth_key_file: parameters are readable)", read_only=True),
    ParamSpec("auth_key_file", "", "file holding the shared HMAC key; with a key, untagged layers are rejected", read_only=True),
]


def _topic(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('/')}/{name}" if namespace else name


class CloudNode(Node):
    def __init__(self, pipeline: Any = None, **kwargs: Any) -> None:
        super().__init__("prosem_cloud", **kwargs)
        # First, so destroy_node works even when a bad parameter stops __init__ below.
        self._stop = threading.Event()
        self._jpeg_slots: dict[str, LatestSlot] = {}
        self._workers: list[threading.Thread] = []
        self.action_server = None
        self._specs = {s.name: s for s in PARAMS}
        self.p = declare_all(self, PARAMS)
        self.mode = self.p["mode"]
        self.namespaces = list(dict.fromkeys(self.p["namespaces"])) or [""]
        self._pipeline = pipeline
        self._pipeline_lock = threading.Lock()
        self._answer_lock = threading.Lock()  # answerers (torch) are not assumed thread-safe
        self._encoder_lock = threading.Lock()  # full_cloud: one encoder, several JPEG workers
        self.counters: Counter[str] = Counter()
        self._log_throttle: dict[str, float] = {}

        codec = self.pipeline.codec
        chunked = self.mode == "full_tokens"  # chunks of raw fp16 tokens instead of codec layers
        self.assembler = Assembler(
            AssemblyConfig(
                codebook_id=token_chunks.FP16_CODEBOOK_ID if chunked else codec.codebook_id, max_streams=self.p["max_streams"],
                max_frames_per_stream=self.p["max_frames_per_stream"], max_bytes_per_stream=self.p["max_bytes_per_stream"],
                allowed_streams=tuple(self.p["allowed_streams"]),
                auth_key=auth.load_key(self.p["auth_key"], self.p["auth_key_file"]),
            ),
            read_header=token_chunks.read_chunk_header if chunked else read_header,
            decode=token_chunks.join_chunks if chunked else codec.decode,
            clock=self._now,  # arrival times on the node clock: they go into feedback stamps
        )
        self.stream_ns: dict[str, str] = {}  # stream id -> namespace its layers came from
        self.ns_stream = {ns: stream_id_for_namespace(self.get_namespace() if not ns else ns) for ns in self.namespaces}

        ingest = MutuallyExclusiveCallbackGroup()
        self.query_group = ReentrantCallbackGroup()
        self.feedback_pubs = {}
        self.edge_clients = {}
        for ns in self.namespaces:
            self.feedback_pubs[ns] = self.create_publisher(LayerFeedback, _topic(ns, "prosem/feedback"), to_profile(FEEDBACK_QOS))
            if self.mode in ("progressive", "full_tokens"):
                base_reader = dataclasses.replace(BASE_READER_QOS, reliability=self.p["base_reliability"])
                topics = (("prosem/layers", base_reader), ("prosem/layers/refine", REFINE_READER_QOS))
                for name, spec in topics[:1] if chunked else topics:
                    self.create_subscription(SemanticLayer, _topic(ns, name), lambda m, ns=ns: self._on_layer(m, ns),
                                             to_profile(spec), callback_group=ingest)
            elif self.mode == "full_cloud":
                slot: LatestSlot = LatestSlot()
                self._jpeg_slots[ns] = slot
                self.create_subscription(CompressedImage, _topic(ns, "prosem/image_jpeg"), lambda m, ns=ns: self._on_jpeg(m, ns),
                                         to_profile(BASE_READER_QOS), callback_group=ingest)
                worker = threading.Thread(target=self._jpeg_worker, args=(ns, slot), name=f"jpeg_{ns or 'default'}", daemon=True)
                self._workers.append(worker)
            else:
                self.edge_clients[ns] = self.create_client(Query, _topic(ns, "prosem/edge_query"),
                                                           callback_group=MutuallyExclusiveCallbackGroup())
        self.create_service(Query, "prosem/query", self._on_query_service, callback_group=self.query_group)
        self.action_server = ActionServer(
            self, QueryAction, "prosem/query", execute_callback=self._on_query_action,
            goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=lambda _h: CancelResponse.ACCEPT,
            callback_group=self.query_group,
        )
        self.counters_pub = self.create_publisher(String, "~/counters", 10)
        self.create_timer(self.p["counters_period_s"], self._housekeeping)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.ready = threading.Event()  # set once the models are loaded
        if self.p["warmup"]:
            threading.Thread(target=self._warm_up, name="prosem_cloud_warmup", daemon=True).start()
        else:
            self.ready.set()
        for worker in self._workers:
            worker.start()
        self.get_logger().info(
            f"cloud up: mode={self.mode} namespaces={self.namespaces} codebook={codec.codebook_id} "
            f"auth={'on' if self.assembler.cfg.auth_key else 'off'}"
        )

    @property
    def pipeline(self):
        with self._pipeline_lock:
            if self._pipeline is None:
                from prosem_core.pipeline import default_pipeline

                p = self.p
                self._pipeline = default_pipeline(runtime=p["runtime"], threads=p["encoder_threads"] or None,
                                                  codebook=p["codebook"] or None, answer_head=p["answer_head"] or None)
        return self._pipeline

    def _warm_up(self) -> None:
        """Background thread: load what the first query (or JPEG frame) would otherwise wait for."""
        try:
            # Under the same locks as their users: lazy imports (transformers) are not thread-safe,
            # and a query arriving during the warm-up must wait for it, not build a second model.
            with self._answer_lock:
                answerer = self.pipeline.answerer
                if hasattr(answerer, "warm_up"):
                    answerer.warm_up()
            if self.mode == "full_cloud":
                with self._encoder_lock:
                    self.pipeline.encoder.encode(np.zeros((224, 224, 3), np.uint8))
        except Exception as exc:
            self.counters["model_errors"] += 1
            self.get_logger().error(f"cannot build the models: {exc}")
        finally:
            self.ready.set()

    def _on_set_parameters(self, params):
        result = check_update(self._specs, params)
        if not result.successful:
            self.counters["param_rejected"] += 1
            self.get_logger().warning(f"parameter change rejected: {result.reason}")
            return result
        self.p = {**self.p, **{prm.name: prm.value for prm in params if prm.name in self._specs}}
        return result

    def _warn(self, key: str, text: str, period_s: float = 2.0) -> None:
        """One log line per kind of failure per period: per-layer paths can fail hundreds of times a second."""
        key = re.sub(r"\d+", "#", key)[:48]  # frame numbers etc. do not make a new kind
        if len(self._log_throttle) > 256:  # names chosen by senders must not grow this without bound
            self._log_throttle.clear()
        now = time.monotonic()
        if now - self._log_throttle.get(key, -math.inf) >= period_s:
            self._log_throttle[key] = now
            self.get_logger().warning(text)

    # -- ingest -------------------------------------------------------------------------------

    def _on_layer(self, msg: SemanticLayer, ns: str) -> None:
        try:
            layer = layer_in(msg)
        except Exception as exc:  # a message that does not even convert
            self.counters["malformed"] += 1
            self._warn("convert", f"unreadable layer message: {exc}")
            return
        result = self.assembler.add(layer)
        if not result.accepted:
            if result.status != "duplicate":  # duplicates are normal (pulls racing refinements)
                self._warn(result.status, f"layer rejected ({result.status}) from stream {layer.stream_id!r}: {result.detail}")
            return
        self.stream_ns[layer.stream_id] = ns
        self._send_feedback(result.frame, ns, result.frame.last_arrival, layer.send_stamp)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _send_feedback(self, frame: FrameAssembly, ns: str, arrived: float, echo: float, pull: int = 0, reason: str = "",
                       bytes_received: int | None = None) -> None:
        msg = LayerFeedback()
        now = self._now()
        msg.header.stamp = from_seconds(now)
        msg.stream_id = frame.stream_id
        msg.frame_seq = frame.frame_seq
        msg.epoch = frame.epoch
        with self.assembler.changed:
            msg.received_mask = frame.received_mask
            msg.prefix_layers = frame.prefix
            msg.bytes_received = frame.bytes_total if bytes_received is None else bytes_received
        msg.receive_stamp = from_seconds(arrived)
        msg.echo_send_stamp = from_seconds(echo)
        msg.hold_s = float(max(0.0, now - arrived))
        msg.layers_expected, msg.layers_arrived = self.assembler.take_loss_counts(frame.stream_id)
        msg.pull_layers = pull
        msg.reason = reason
        self.feedback_pubs[ns].publish(msg)

    def _on_jpeg(self, msg: CompressedImage, ns: str) -> None:
        arrived = self._now()
        try:
            stream_id, epoch, seq = parse_jpeg_frame_id(msg.header.frame_id)
        except ValueError:
            self.counters["malformed_jpeg"] += 1
            self._warn("jpeg_id", f"JPEG frame without 'stream:epoch:seq' frame_id: {msg.header.frame_id!r}")
            return
        # Receipt first (RTT and goodput for the edge's rate control), then the heavy work elsewhere.
        receipt = LayerFeedback()
        receipt.header.stamp = from_seconds(arrived)
        receipt.stream_id, receipt.epoch, receipt.frame_seq = stream_id, epoch, seq
        receipt.received_mask, receipt.prefix_layers, receipt.bytes_received = 1, 1, len(msg.data)
        receipt.receive_stamp = receipt.echo_send_stamp = from_seconds(arrived)
        self.feedback_pubs[ns].publish(receipt)
        if self._jpeg_slots[ns].put((stream_id, epoch, seq, bytes(msg.data))):
            self.counters["jpeg_dropped_handoff"] += 1

    def _jpeg_worker(self, ns: str, slot: LatestSlot) -> None:
        while not self._stop.is_set():
            item = slot.take(timeout=0.2)
            if item is None:
                continue
            stream_id, epoch, seq, data = item
            try:
                rgb = images.decode_image_bytes(data)
                with self._encoder_lock:
                    tokens = self.pipeline.encoder.encode(rgb)
                layers = self.pipeline.codec.encode(tokens, frame_seq=seq & 0xFFFFFFFF)
                result = self.assembler.add_complete_frame(stream_id, epoch, seq, layers)
                if result.accepted:
                    self.stream_ns[stream_id] = ns
                    self.counters["jpeg_frames_encoded"] += 1
                else:
                    self._warn("jpeg_" + result.status, f"JPEG frame {seq} not kept: {result.status} {result.detail}")
            except Exception as exc:
                self.counters["jpeg_errors"] += 1
                self._warn("jpeg_error", f"JPEG frame {seq} of {stream_id!r} failed: {exc}")

    # -- queries ------------------------------------------------------------------------------

    def _on_query_service(self, request, response):
        result = self._run_query(request)
        for name in RESULT_FIELDS:
            setattr(response, name, result[name])
        return response

    def _on_query_action(self, goal_handle):
        t0 = time.monotonic()

        def refine(fields: dict) -> None:
            fb = QueryAction.Feedback()
            for name in ("answer", "confidence", "frame_seq", "layers_used", "bytes_used", "fidelity"):
                setattr(fb, name, fields[name])
            fb.elapsed_s = time.monotonic() - t0
            goal_handle.publish_feedback(fb)

        result = self._run_query(goal_handle.request, on_refine=refine, cancelled=lambda: goal_handle.is_cancel_requested)
        out = QueryAction.Result()
        for name in RESULT_FIELDS:
            setattr(out, name, result[name])
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif result["success"]:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return out

    def _result(self, t0: float, **fields) -> dict:
        """A final query result (counted, failures logged)."""
        out = self._fields(t0, **fields)
        if not out["success"]:
            self.counters["query_errors"] += 1
            self._warn("query:" + out["error"][:40], f"query failed: {out['error']}")
        else:
            self.counters["queries_answered"] += 1
        return out

    @staticmethod
    def _fields(t0: float, **fields) -> dict:
        out = {"success": False, "error": "", "answer": "", "confidence": 0.0, "frame_seq": -1, "layers_used": 0,
               "bytes_used": 0, "fidelity": 0.0, "latency_s": 0.0, "fidelity_reached": False, "stream_id": ""}
        out.update(fields)
        out["latency_s"] = time.monotonic() - t0
        return out

    def _resolve_stream(self, requested: str) -> tuple[str | None, str]:
        known = list(self.assembler.streams) if self.mode != "full_edge" else list(self.ns_stream.values())
        if requested:
            if requested in known:
                return requested, ""
            return None, f"unknown stream {requested!r} (known: {', '.join(known) or 'none'})"
        if len(known) == 1:
            return known[0], ""
        if self.p["default_stream"] in known:
            return self.p["default_stream"], ""
        if not known:
            return None, "no stream has sent anything yet"
        return None, f"several streams ({', '.join(known)}): say which in stream_id"

    def _run_query(self, req, on_refine: Callable[[dict], None] | None = None,
                   cancelled: Callable[[], bool] = lambda: False) -> dict:
        t0 = time.monotonic()
        question = req.question.strip()
        if not question:
            return self._result(t0, error="empty question")
        min_fid, timeout = float(req.min_fidelity), float(req.timeout_s)
        if not 0.0 <= min_fid <= 1.0:
            return self._result(t0, error=f"min_fidelity {min_fid} outside [0, 1]")
        if not timeout >= 0.0:  # also catches NaN
            return self._result(t0, error=f"timeout_s {timeout} must be >= 0")
        if req.frame_seq < -1:
            return self._result(t0, error=f"frame_seq {req.frame_seq}: use a frame number >= 0, or -1 for the latest")
        deadline = t0 + min(timeout, self.p["max_timeout_s"])
        stream_id, error = self._resolve_stream(req.stream_id)
        if stream_id is None:
            return self._result(t0, error=error)
        if self.mode == "full_edge":
            return self._relay(req, stream_id, deadline, t0)
        frame, error = self._pick_frame(stream_id, int(req.frame_seq))
        if frame is None:
            return self._result(t0, error=error, stream_id=stream_id)

        ns = self.stream_ns.get(stream_id, self.namespaces[0])
        version, last_pull, answered_k = -1, -math.inf, 0
        partial: dict = {}
        while True:
            with self.assembler.changed:
                version, prefix, fidelity, complete = self.assembler.version, frame.prefix, frame.fidelity, frame.complete
            # (full_tokens: only a whole frame answers; a partial one would just fail)
            if on_refine is not None and prefix > answered_k and (self.mode != "full_tokens" or complete):
                partial = self._answer(frame, question, t0, stream_id)
                answered_k = prefix
                if partial["success"]:
                    on_refine(partial)
            if fidelity >= min_fid and prefix > 0 or complete or cancelled():
                break
            now = time.monotonic()
            if now >= deadline:
                break
            if self.mode in ("progressive", "full_tokens") and now - last_pull >= self.p["pull_retry_s"]:
                want = self.assembler.layers_needed(frame, min_fid) if prefix else 1
                # Echo the newest layer with its true arrival: hold_s then keeps the RTT sample honest.
                self._send_feedback(frame, ns, frame.last_arrival, frame.last_send_stamp, pull=want,
                                    reason=f"query min_fidelity {min_fid:.3f}")
                self.counters["pull_requests"] += 1
                last_pull = now
            self.assembler.wait_for_change(version, min(deadline - now, self.p["pull_retry_s"]))
        if frame.prefix == 0:
            return self._result(t0, error=f"no base layer of frame {frame.frame_seq} arrived within {timeout:g} s",
                                stream_id=stream_id, frame_seq=frame.frame_seq)
        if partial.get("success") and answered_k == frame.prefix:
            result = dict(partial)  # the last refinement already answered this prefix
            result["latency_s"] = time.monotonic() - t0
        else:
            result = self._answer(frame, question, t0, stream_id)
        if result["success"]:
            result["fidelity_reached"] = bool(result["fidelity"] >= min_fid)
            if not result["fidelity_reached"]:
                self.counters["queries_below_fidelity"] += 1
        return self._result(t0, **{k: v for k, v in result.items() if k != "latency_s"})

    def _pick_frame(self, stream_id: str, frame_seq: int) -> tuple[FrameAssembly | None, str]:
        with self.assembler.changed:
            stream = self.assembler.streams.get(stream_id)
            if stream is None:
                return None, f"unknown stream {stream_id!r}"
            if frame_seq >= 0:
                frame = stream.frames.get(frame_seq)
                if frame is None:
                    held = f"{min(stream.frames)}..{max(stream.frames)}" if stream.frames else "none"
                    return None, f"frame {frame_seq} not held for stream {stream_id!r} (held: {held})"
                return frame, ""
            frame = stream.latest_decodable()
            if frame is None:
                return None, f"stream {stream_id!r} has no decodable frame yet (no base layer arrived)"
            idle = self._now() - stream.last_arrival  # the assembler runs on this clock too
            if idle > self.p["stream_stale_s"]:
                return None, (f"stream {stream_id!r} is stale: nothing for {idle:.1f} s; newest frame {frame.frame_seq} "
                              f"(ask for it by frame_seq to use it anyway)")
            return frame, ""

    def _answer(self, frame: FrameAssembly, question: str, t0: float, stream_id: str) -> dict:
        try:
            tokens, k = self.assembler.tokens(frame)
            with self._answer_lock:
                ans = self.pipeline.answerer.answer(tokens, question)
        except Exception as exc:
            self.counters["answer_errors"] += 1
            return self._fields(t0, error=f"cannot answer from frame {frame.frame_seq}: {exc}", stream_id=stream_id,
                                frame_seq=frame.frame_seq)
        with self.assembler.changed:
            fidelity, nbytes = float(frame.fidelities[k - 1]), frame.prefix_bytes(k)
        return self._fields(t0, success=True, answer=str(ans.text), confidence=float(ans.confidence), frame_seq=frame.frame_seq,
                            layers_used=k, bytes_used=nbytes, fidelity=fidelity, stream_id=stream_id)

    def _relay(self, req, stream_id: str, deadline: float, t0: float) -> dict:
        """full_edge: ask the edge's own service; wait (this query thread only) for its answer."""
        ns = next(ns for ns, sid in self.ns_stream.items() if sid == stream_id)
        client = self.edge_clients[ns]
        if not client.service_is_ready():
            return self._result(t0, error=f"edge service of stream {stream_id!r} is not available", stream_id=stream_id)
        forward = Query.Request(question=req.question, stream_id=stream_id, frame_seq=req.frame_seq,
                                min_fidelity=req.min_fidelity, timeout_s=req.timeout_s)
        future = client.call_async(forward)
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(max(0.0, deadline - time.monotonic()) + 1.0):  # +1 s: the edge's own compute
            client.remove_pending_request(future)
            return self._result(t0, error=f"edge of stream {stream_id!r} did not answer in time", stream_id=stream_id)
        resp = future.result()
        fields = {name: getattr(resp, name) for name in RESULT_FIELDS if name != "latency_s"}
        fields["stream_id"] = stream_id
        return self._result(t0, **fields)

    # -- housekeeping -------------------------------------------------------------------------

    def all_counters(self) -> dict[str, int]:
        merged = Counter(self.assembler.counters)
        merged.update(self.counters)
        return dict(merged)

    def _housekeeping(self) -> None:
        for sid in self.assembler.expire_streams(self.p["stream_expire_s"]):
            self.stream_ns.pop(sid, None)
            self.get_logger().info(f"stream {sid!r} expired (silent > {self.p['stream_expire_s']:g} s)")
        self.counters_pub.publish(String(data=json.dumps(self.all_counters(), sort_keys=True)))

    def destroy_node(self) -> None:
        self._stop.set()
        for slot in self._jpeg_slots.values():
            slot.close()
        for worker in self._workers:
            worker.join(timeout=5.0)
        if self.action_server is not None:
            self.action_server.destroy()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = CloudNode()
    except ValueError as exc:  # bad parameter at start: say why, exit non-zero
        print(f"cloud_node: {exc}", flush=True)
        rclpy.try_shutdown()
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        rclpy.try_shutdown()
        return 0
    sys.setswitchinterval(node.p["gil_switch_interval_s"])  # process-wide: see the module docstring
    return spin_until_shutdown(node, MultiThreadedExecutor(num_threads=node.p["num_threads"]))


if __name__ == "__main__":
    raise SystemExit(main())
