"""ProSem cloud node: assemble robots' uplinks, answer questions, pull layers when a question needs them.

Per robot namespace NS (parameter `namespaces`; "" = this node's own namespace), by uplink mode:
  layers (progressive, full_tokens): sub NS/prosem/layers, NS/prosem/layers/refine -> the Assembler
  jpeg (full_cloud): sub NS/prosem/image_jpeg -> the cloud runs the vision half -> the Assembler
  service (full_edge): client NS/prosem/edge_query (the edge answers, the cloud relays)
  pub NS/prosem/feedback (LayerFeedback: a receipt per accepted layer, pull requests)
Serves prosem/query as a service (prosem_msgs/srv/Query) and as an action (prosem_msgs/action/Query,
streaming partial answers and a refined answer each time more layers of the frame arrive), in this
node's namespace (any stream) and in each NS (that robot's stream by default). ~/counters (JSON).

Threads: the wire (layer and JPEG subscriptions, feedback publishers) lives on a second node,
`<name>_ingest`, spun by a thread of its own (ingest_node: a MultiThreadedExecutor walking every
query service and action server for each message cost half the cloud's CPU at 32 robots); its
callbacks only check and store bytes, so the queries never wait for the layers they need. Query
callbacks (QuerySession: pick frame, pull, wait, decode, answer) run in a reentrant group on this
node's MultiThreadedExecutor of num_threads + max_pending_queries threads, and at most
max_pending_queries queries are admitted (prosem_core.admission); one query more is answered `busy`
at once. A decode gives up the GIL at each numpy call and, at Python's default 5 ms switch interval,
waited that long to get it back from the busy ingest each time (with 8 robots: p95 query 0.22 s vs
0.06 s for one), so the process runs with a short switch interval (parameter gil_switch_interval_s).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import sys
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String

from prosem_cloud.ingest_node import IngestNode
from prosem_core import auth, images, token_chunks
from prosem_core.admission import AdmissionBusy, QueryAdmission
from prosem_core.assembly import Assembler, AssemblyConfig, FrameAssembly
from prosem_core.auth import FeedbackFields
from prosem_core.codec import read_header
from prosem_core.field_checks import clip
from prosem_core.latest_slot import LatestSlot
from prosem_core.link.qos_policy import BASE_READER_QOS, FEEDBACK_QOS, REFINE_READER_QOS
from prosem_core.modes import MODE_NAMES, mode_info
from prosem_core.query_session import QuerySession, QuerySessionConfig, locked_answerer
from prosem_core.query_types import ErrorCode, QueryRequest, QueryResult
from prosem_core.questions import BadRequest
from prosem_core.temporal_refs import TemporalRefs
from prosem_msgs.action import Query as QueryAction
from prosem_msgs.msg import LayerFeedback, SemanticLayer
from prosem_msgs.srv import Query
from prosem_ros.model_params import MODEL_PARAMS, pipeline_from_params
from prosem_ros.msg_convert import (
    feedback_msg,
    fill_feedback,
    fill_result,
    layer_in,
    parse_jpeg_frame_id,
    query_request,
    seconds_to_ns,
    stream_id_for_namespace,
)
from prosem_ros.params import ParameterBinding, ParamSpec
from prosem_ros.qos import to_profile
from prosem_ros.spin import StartupError, run_node

PARAMS = [
    ParamSpec("mode", "progressive", "what the robots send", choices=MODE_NAMES, read_only=True),
    *MODEL_PARAMS,  # runtime: the vision half's, used here only in full_cloud mode
    ParamSpec("namespaces", [""], "robot namespaces whose prosem/* topics to serve ('' = this node's namespace)", read_only=True),
    ParamSpec("allowed_streams", ["*"], "stream ids accepted; ['*'] = any, up to max_streams (production: list your robots)",
              read_only=True),
    ParamSpec("default_stream", "", "stream a query with empty stream_id means when several streams exist"),
    ParamSpec("warmup", True, "load every answering model at start, not on the first query", read_only=True),
    ParamSpec("base_reliability", "best_effort", "QoS reliability of the prosem/layers reader (match the edges' base_reliability)",
              choices=("reliable", "best_effort"), read_only=True),
    ParamSpec("temporal", True, "keep each stream's reference chain so frames predicted from earlier ones (edge "
              "temporal:=true) decode; false rejects them ('unsupported_temporal')", read_only=True),
    ParamSpec("max_streams", 16, "most streams held at once", 1, 4096, read_only=True),
    ParamSpec("max_frames_per_stream", 16, "frames held per stream (older ones are evicted)", 1, 4096, read_only=True),
    ParamSpec("max_bytes_per_stream", 8 << 20, "payload bytes held per stream", 64 << 10, 1 << 30, read_only=True),
    ParamSpec("stream_stale_s", 3.0, "a 'latest frame' query fails when the stream has been silent this long", 0.1, 3600.0),
    ParamSpec("stream_expire_s", 120.0, "streams silent this long are forgotten", 1.0, 86400.0),
    ParamSpec("pull_retry_s", 0.25, "repeat a pull request this often while a query waits", 0.01, 10.0),
    ParamSpec("max_timeout_s", 30.0, "cap on a query's timeout_s", 0.0, 600.0),
    ParamSpec("num_threads", 2, "executor threads kept for timers and parameters (queries get max_pending_queries more; "
              "layers have a thread of their own)",
              2, 64, read_only=True),
    ParamSpec("query_threads", 4, "queries decoded and answered at once (the others admitted wait for a turn)",
              1, 64, read_only=True),
    ParamSpec("max_pending_queries", 16, "queries admitted (running or waiting); one more is answered 'busy' at once",
              1, 1024, read_only=True),
    ParamSpec("gil_switch_interval_s", 0.0005, "main(): sys.setswitchinterval for this process; short, so a query's decode "
              "(many numpy calls, each giving up the GIL) is not held back 5 ms a call by the busy executor thread",
              1e-5, 0.1, read_only=True),
    ParamSpec("counters_period_s", 2.0, "period of ~/counters", 0.1, 3600.0, read_only=True),
    ParamSpec("auth_key", "", "shared HMAC key as text (prefer auth_key_file: parameters are readable)", read_only=True),
    ParamSpec("auth_key_file", "", "file holding the shared HMAC key; with a key, untagged layers are rejected", read_only=True),
    ParamSpec("auth_max_skew_s", 30.0, "with a key: signed layers whose send stamp is further than this from our clock are "
              "refused (replays; robots and server keep time with chrony/NTP)", 0.1, 3600.0, read_only=True),
    ParamSpec("max_question_chars", 1000, "longer questions are refused with a clear error", 1, 100_000),
]


def _topic(namespace: str, name: str) -> str:
    return f"{namespace.rstrip('/')}/{name}" if namespace else name


class CloudNode(Node):
    def __init__(self, pipeline: Any = None, **kwargs: Any) -> None:
        super().__init__("prosem_cloud", **kwargs)
        # First, so destroy_node works whatever stops __init__ below.
        self._stop = threading.Event()
        self._jpeg_slots: dict[str, LatestSlot] = {}
        self._workers: list[threading.Thread] = []
        self.action_servers: list[ActionServer] = []
        self.admission: QueryAdmission | None = None
        self.ingest: IngestNode | None = None
        try:
            self.params = ParameterBinding(self, PARAMS, apply=self._apply_params)
            key = auth.load_key(self.params["auth_key"], self.params["auth_key_file"])
            self._pipeline = pipeline if pipeline is not None else pipeline_from_params(self.params.values)
        except ValueError as exc:  # bad or unknown parameter, bad model options, unreadable key file
            raise StartupError(str(exc)) from None
        p = self.params
        self.mode = mode_info(p["mode"])
        self.namespaces = list(dict.fromkeys(p["namespaces"])) or [""]
        self._answer_lock = threading.Lock()  # answerers (torch) are not assumed thread-safe
        self._encoder_lock = threading.Lock()  # full_cloud: one encoder, several JPEG workers
        self.counters: Counter[str] = Counter()
        self._log_throttle: dict[str, float] = {}
        self.ready = threading.Event()  # set by start(): models loaded

        chunked = self.mode.name == "full_tokens"  # chunks of raw fp16 tokens instead of codec layers
        try:
            codebook_id = token_chunks.FP16_CODEBOOK_ID if chunked else self.pipeline.codec.codebook_id
        except Exception as exc:
            raise StartupError(f"cannot load the codebook: {exc}") from None
        # Chains hold base layers of a few more frames than the assembler keeps, so every frame it
        # still holds decodes, however late a question comes.
        self.refs = (TemporalRefs(self.pipeline.codec, history=p["max_frames_per_stream"] + 32, max_streams=p["max_streams"])
                     if p["temporal"] and self.mode.name == "progressive" else None)
        self.assembler = Assembler(
            AssemblyConfig(codebook_id=codebook_id, max_streams=p["max_streams"], max_frames_per_stream=p["max_frames_per_stream"],
                           max_bytes_per_stream=p["max_bytes_per_stream"],
                           allowed_streams=tuple(s for s in p["allowed_streams"] if s != "*"), auth_key=key,
                           auth_max_skew_s=p["auth_max_skew_s"]),
            read_header=token_chunks.read_chunk_header if chunked else read_header,
            decode=token_chunks.join_chunks if chunked else (lambda layers: self.pipeline.codec.decode(layers)),
            clock=self._now,  # arrival times on the node clock: they go into feedback stamps
            refs=self.refs,
        )
        self.auth_key = key
        self.stream_ns: dict[str, str] = {}  # stream id -> namespace its layers came from
        self.ns_stream = {ns: stream_id_for_namespace(self.get_namespace() if not ns else ns) for ns in self.namespaces}
        self.queries = QuerySession(self.assembler, self._answer, self._pull, self._session_config())

        self.ingest = IngestNode(self, on_error=lambda: self.counters.update(("errors",)))
        try:
            self._make_entities(chunked)
        except BaseException:  # nothing else can destroy a node whose constructor raised
            self.ingest.close()
            self.ingest = None
            raise
        self.get_logger().info(f"cloud up: mode={self.mode.name} namespaces={self.namespaces} codebook={codebook_id} "
                               f"auth={'on' if key else 'off'}")

    def _make_entities(self, chunked: bool) -> None:
        """The wire on the ingest node (feedback publishers, layer or JPEG subscriptions), the edge
        clients (full_edge), and the query service and action server of every namespace."""
        p = self.params
        wire = self.ingest
        queries = ReentrantCallbackGroup()
        self.feedback_pubs = {}
        self.edge_clients = {}
        for ns in self.namespaces:
            self.feedback_pubs[ns] = wire.create_publisher(LayerFeedback, self._wire_name(ns, "prosem/feedback"),
                                                           to_profile(FEEDBACK_QOS))
            if self.mode.wire == "layers":
                base_reader = dataclasses.replace(BASE_READER_QOS, reliability=p["base_reliability"])
                topics = [("prosem/layers", base_reader)] + ([] if chunked else [("prosem/layers/refine", REFINE_READER_QOS)])
                for name, spec in topics:
                    wire.create_subscription(SemanticLayer, self._wire_name(ns, name), lambda m, ns=ns: self._on_layer(m, ns),
                                             to_profile(spec))
            elif self.mode.wire == "jpeg":
                slot: LatestSlot = LatestSlot()
                self._jpeg_slots[ns] = slot
                wire.create_subscription(CompressedImage, self._wire_name(ns, "prosem/image_jpeg"),
                                         lambda m, ns=ns: self._on_jpeg(m, ns), to_profile(BASE_READER_QOS))
                self._workers.append(threading.Thread(target=self._jpeg_worker, args=(ns, slot), name=f"jpeg_{ns or 'default'}",
                                                      daemon=True))
            else:
                self.edge_clients[ns] = self.create_client(Query, _topic(ns, "prosem/edge_query"),
                                                           callback_group=MutuallyExclusiveCallbackGroup())
        # prosem/query in this node's namespace (any stream), and in each robot namespace (its stream).
        self.admission = QueryAdmission(p["query_threads"], max(p["max_pending_queries"], p["query_threads"]))
        for ns in dict.fromkeys(["", *[n for n in self.namespaces if n]]):
            name = _topic(ns, "prosem/query")
            self.create_service(Query, name, functools.partial(self._on_query_service, ns=ns), callback_group=queries)
            self.action_servers.append(ActionServer(
                self, QueryAction, name, execute_callback=functools.partial(self._on_query_action, ns=ns),
                goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=lambda _h: CancelResponse.ACCEPT,
                callback_group=queries))
        self.counters_pub = self.create_publisher(String, "~/counters", 10)
        self.create_timer(p["counters_period_s"], self._housekeeping, clock=Clock(clock_type=ClockType.STEADY_TIME))

    # -- models -------------------------------------------------------------------------------

    @property
    def pipeline(self) -> Any:
        return self._pipeline

    def start(self) -> CloudNode:
        """Load the answering models (and, in full_cloud, the vision half) now: a StartupError says
        what to run when a file is missing. Then start the JPEG workers."""
        try:
            check = getattr(self.pipeline, "check", None)  # test doubles have none
            if check is not None and self.mode.name != "full_tokens":  # full_tokens needs no codebook
                with self._answer_lock:  # lazy imports (transformers) are not thread-safe
                    summary = check("both" if self.mode.wire == "jpeg" else "cloud")
                self.get_logger().info(f"model: {summary}")
            with self._answer_lock:
                answerer = self.pipeline.answerer
                if self.params["warmup"] and hasattr(answerer, "warm_up"):
                    answerer.warm_up()
            if self.params["warmup"] and self.mode.name != "full_tokens":
                # The first decode inverts the codebook's coarse transform (~1 s on a small CPU):
                # do it now, not inside the first users' queries.
                codec = self.pipeline.codec
                codec.decode(codec.encode(np.zeros(codec.token_shape, np.float32))[:1])
            if self.mode.wire == "jpeg":
                with self._encoder_lock:
                    self.pipeline.encoder.encode(np.zeros((224, 224, 3), np.uint8))
        except Exception as exc:
            raise StartupError(f"cannot start the cloud models: {exc}") from None
        for worker in self._workers:
            worker.start()
        self.ingest.start()  # layers are taken in from now on, as they were once the node spun
        self.ready.set()
        return self

    def _wire_name(self, ns: str, name: str) -> str:
        """A wire topic's full name as this node resolves it (namespace, remaps): see ingest_node."""
        return self.resolve_topic_name(_topic(ns, name))

    def _answer(self, tokens, question, **kwargs):
        return locked_answerer(self.pipeline.answerer, self._answer_lock)(tokens, question, **kwargs)

    # -- parameters -----------------------------------------------------------------------------

    def _session_config(self) -> QuerySessionConfig:
        p = self.params
        return QuerySessionConfig(pull_retry_s=p["pull_retry_s"], max_timeout_s=p["max_timeout_s"],
                                  stream_stale_s=p["stream_stale_s"], default_stream=p["default_stream"],
                                  namespace_defaults={ns: sid for ns, sid in self.ns_stream.items() if ns},
                                  max_question_chars=p["max_question_chars"],
                                  whole_frames_only=self.mode.name == "full_tokens", pulls=self.mode.wire == "layers")

    def _apply_params(self, changed: set[str]) -> None:
        self.queries.cfg = self._session_config()
        self.get_logger().info(f"parameters changed: {', '.join(sorted(changed))}")

    def _warn(self, key: str, text: str, period_s: float = 2.0) -> None:
        """One log line per kind of failure per period: per-layer paths can fail hundreds of times a second."""
        key = re.sub(r"\d+", "#", key)[:48]  # frame numbers etc. do not make a new kind
        if len(self._log_throttle) > 256:  # names chosen by senders must not grow this without bound
            self._log_throttle.clear()
        now = time.monotonic()
        if now - self._log_throttle.get(key, -math.inf) >= period_s:
            self._log_throttle[key] = now
            self.get_logger().warning(text)

    def _now(self) -> float:
        return time.time()

    # -- ingest ---------------------------------------------------------------------------------

    def _on_layer(self, msg: SemanticLayer, ns: str) -> None:
        try:
            layer = layer_in(msg)
        except Exception as exc:  # a message that does not even convert (a stamp out of range, ...)
            self.counters["malformed"] += 1
            self._warn("convert", f"unreadable layer message: {clip(str(exc), 120)}")
            return
        result = self.assembler.add(layer, namespace=ns)
        if not result.accepted:
            if result.status != "duplicate":  # duplicates are normal (pulls racing refinements)
                self._warn(result.status, f"layer rejected ({result.status}) from stream {clip(layer.stream_id)!r}: {result.detail}")
            if result.notify:  # tell that edge why its layers are not used (rate-limited by the assembler)
                self._publish_feedback(ns, FeedbackFields(result.stream_id, result.frame_seq, result.epoch,
                                                          stamp_ns=seconds_to_ns(self._now()), status=result.feedback_status,
                                                          reason=clip(result.detail, 200)))
            return
        self.stream_ns[layer.stream_id] = ns
        self._send_feedback(result.frame, ns, result.frame.last_arrival, layer.send_stamp)

    def _send_feedback(self, frame: FrameAssembly, ns: str, arrived: float, echo: float, pull: int = 0, reason: str = "",
                       bytes_received: int | None = None) -> None:
        now = self._now()
        status, why = self.assembler.feedback_status(frame.stream_id)
        with self.assembler.changed:
            mask, prefix, total = frame.received_mask, frame.prefix, frame.bytes_total
        expected, arrived_count = self.assembler.take_loss_counts(frame.stream_id)
        self._publish_feedback(ns, FeedbackFields(
            frame.stream_id, frame.frame_seq, frame.epoch, received_mask=mask, prefix_layers=prefix,
            bytes_received=total if bytes_received is None else bytes_received, stamp_ns=seconds_to_ns(now),
            receive_stamp_ns=seconds_to_ns(arrived), echo_send_stamp_ns=seconds_to_ns(echo),
            hold_s=float(np.float32(max(0.0, now - arrived))), layers_expected=expected, layers_arrived=arrived_count,
            pull_layers=pull, reason=reason or why, status=status,
            request_keyframe=self.refs is not None and self.refs.keyframe_wanted(frame.stream_id)))

    def _publish_feedback(self, ns: str, fields: FeedbackFields) -> None:
        """Sign (with a key) and publish one LayerFeedback."""
        tag = auth.sign_feedback(self.auth_key, fields) if self.auth_key else b""
        self.feedback_pubs[ns].publish(feedback_msg(fields, tag))

    def _pull(self, frame: FrameAssembly, want: int, reason: str) -> None:
        """A waiting query asks the edge for layers up to `want` (repeated by the session until they come).
        The newest layer is echoed with its true arrival, so hold_s keeps the edge's RTT sample honest."""
        ns = self.stream_ns.get(frame.stream_id, self.namespaces[0])
        self._send_feedback(frame, ns, frame.last_arrival, frame.last_send_stamp, pull=want, reason=reason)
        self.counters["pull_requests"] += 1

    def _on_jpeg(self, msg: CompressedImage, ns: str) -> None:
        arrived = self._now()
        try:
            stream_id, epoch, seq = parse_jpeg_frame_id(msg.header.frame_id)
        except ValueError:
            self.counters["malformed_jpeg"] += 1
            self._warn("jpeg_id", f"JPEG frame without a valid 'stream:epoch:seq' frame_id: {clip(msg.header.frame_id, 80)!r}")
            return
        # Receipt first (RTT and goodput for the edge's rate control), then the heavy work elsewhere.
        now_ns = seconds_to_ns(arrived)
        self._publish_feedback(ns, FeedbackFields(stream_id, seq, epoch, received_mask=1, prefix_layers=1,
                                                  bytes_received=len(msg.data), stamp_ns=now_ns, receive_stamp_ns=now_ns,
                                                  echo_send_stamp_ns=now_ns))
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

    # -- queries ----------------------------------------------------------------------------------

    def _on_query_service(self, request, response, ns: str = ""):
        req = query_request(request, ns)  # on NS/prosem/query an empty stream_id means NS's robot
        return fill_result(response, self._counted(self._admitted(req, cancelled=self._stop.is_set)))

    def _on_query_action(self, goal_handle, ns: str = ""):
        t0 = time.monotonic()
        req = query_request(goal_handle.request, ns)

        def progress(result: QueryResult, partial: bool) -> None:
            goal_handle.publish_feedback(fill_feedback(QueryAction.Feedback(), result, partial, time.monotonic() - t0))

        result = self._counted(self._admitted(req, progress, lambda: goal_handle.is_cancel_requested or self._stop.is_set()))
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        return fill_result(QueryAction.Result(), result)

    def _admitted(self, req: QueryRequest, progress=None, cancelled=lambda: False) -> QueryResult:
        """Run the query if admitted (it waits here, on this callback's executor thread), else `busy`."""
        try:
            with self.admission.slot(cancelled):
                return self._run_query(req, progress, cancelled)
        except AdmissionBusy as exc:
            code = ErrorCode.CANCELED if cancelled() else ErrorCode.BUSY
            return QueryResult.failure(code, f"busy: {exc}; try again" if code == ErrorCode.BUSY else "canceled",
                                       stream_id=req.stream_id)

    def _run_query(self, req: QueryRequest, progress=None, cancelled=lambda: False) -> QueryResult:
        """On a query thread: the session (layer modes, full_cloud) or a relay to the edge (full_edge)."""
        if self.mode.wire == "service":
            return self._relay(req)
        return self.queries.run(req, progress, cancelled)

    def _counted(self, result: QueryResult) -> QueryResult:
        if result.success:
            self.counters["queries_answered"] += 1
            if not result.fidelity_reached:
                self.counters["queries_below_fidelity"] += 1
        else:
            self.counters["query_errors"] += 1
            self.counters[f"query_error_{ErrorCode(result.error_code).name.lower()}"] += 1
            self._warn("query:" + result.error[:40], f"query failed: {result.error}")
        return result

    def _relay(self, req: QueryRequest) -> QueryResult:
        """full_edge: ask the edge's own service; wait (this query thread only) for its answer."""
        t0 = time.monotonic()
        try:
            req = self.queries.check_request(req)
        except BadRequest as exc:
            return QueryResult.failure(ErrorCode.BAD_REQUEST, str(exc))
        streams = {sid: ns for ns, sid in self.ns_stream.items()}
        stream_id = req.stream_id or (next(iter(streams)) if len(streams) == 1 else self.params["default_stream"])
        if stream_id not in streams:
            return QueryResult.failure(ErrorCode.UNKNOWN_STREAM, f"unknown stream {stream_id!r} (known: {', '.join(streams)})")
        client = self.edge_clients[streams[stream_id]]
        if not client.service_is_ready():
            return QueryResult.failure(ErrorCode.UNAVAILABLE, f"edge service of stream {stream_id!r} is not available",
                                       stream_id=stream_id)
        forward = Query.Request(question=req.question, stream_id=stream_id, frame_seq=req.frame_seq,
                                min_fidelity=req.min_fidelity, timeout_s=req.timeout_s, max_new_tokens=req.max_new_tokens)
        future = client.call_async(forward)
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        wait_s = max(0.0, req.timeout_s - (time.monotonic() - t0)) + 1.0  # + the edge's compute
        if not done.wait(wait_s):
            client.remove_pending_request(future)
            return QueryResult.failure(ErrorCode.TIMEOUT, f"edge of stream {stream_id!r} did not answer in time", stream_id=stream_id)
        resp = future.result()
        fields = {f.name: getattr(resp, f.name) for f in dataclasses.fields(QueryResult)}
        fields["stream_id"] = stream_id
        return QueryResult(**fields)

    def executor_threads(self) -> int:
        """Timers and parameters keep num_threads whatever the users do; each admitted query waits on one
        more (the layers have their own thread: ingest_node)."""
        return self.params["num_threads"] + self.admission.max_pending

    # -- housekeeping -------------------------------------------------------------------------------

    def all_counters(self) -> dict[str, int]:
        # dict() copies in one C call: other threads (ingest, queries) may add keys meanwhile.
        merged = Counter(dict(self.assembler.counters))
        merged.update(dict(self.counters))
        if self.refs is not None:
            merged.update(dict(self.refs.counters))
        merged["param_rejected"] = self.params.rejected
        if self.admission is not None:
            merged["queries_busy"] = self.admission.refused
        return dict(merged)

    def _housekeeping(self) -> None:
        for sid in self.assembler.expire_streams(self.params["stream_expire_s"]):
            self.stream_ns.pop(sid, None)
            self.get_logger().info(f"stream {sid!r} expired (silent > {self.params['stream_expire_s']:g} s)")
        self.counters_pub.publish(String(data=json.dumps(self.all_counters(), sort_keys=True)))

    def destroy_node(self) -> None:
        self._stop.set()
        if getattr(self, "ingest", None) is not None:
            self.ingest.close()  # no layer callback runs past this point
        if getattr(self, "refs", None) is not None:
            self.refs.close()
        for slot in self._jpeg_slots.values():
            slot.close()
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout=5.0)
        for server in self.action_servers:
            server.destroy()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    def make() -> CloudNode:
        # A start() that fails (or a Ctrl-C while the models load) ends this process (run_node), so the
        # node is not destroyed here: that would race a second Ctrl-C before run_node ignores it.
        node = CloudNode().start()
        sys.setswitchinterval(node.params["gil_switch_interval_s"])  # process-wide: see the module docstring
        return node

    return run_node("cloud_node", make, threads=lambda node: node.executor_threads(), args=args)
