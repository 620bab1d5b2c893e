"""ProSem edge node: camera -> the model's vision half -> the uplink mode -> prosem topics.

A frame's path: the camera callback drops the message into a depth-1 slot (a newer frame replaces
an untaken one) and returns; the worker thread takes it, converts it, and hands it to the mode's
uplink (prosem_core.uplink): `prepare` (the heavy part: vision half + codec, no lock), then
`commit` (rate plan and frame numbering, under the lock), whose Outgoing records a transport
publishes. Feedback from the cloud goes to the same uplink (link measurement, pulled layers). The
executor only runs cheap callbacks; full_edge answers run in their own callback group.

Topics: sub camera/image_raw (sensor_msgs/Image) or, with compressed_input,
camera/image_raw/compressed (CompressedImage), prosem/feedback (LayerFeedback); pub prosem/layers,
prosem/layers/refine (layer modes), prosem/image_jpeg (full_cloud), prosem/link_state (LinkState),
~/counters (std_msgs/String, JSON). Service prosem/edge_query (full_edge). QoS per role:
prosem_core.link.qos_policy.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from prosem_core import auth, images, wire_codes
from prosem_core.edge_session import EdgeSession, EdgeSessionConfig
from prosem_core.field_checks import FieldError, check_frame_id
from prosem_core.frame_gate import FrameGate
from prosem_core.latest_slot import LatestSlot
from prosem_core.link.controller import RateController, RateControllerConfig
from prosem_core.link.estimator import EstimatorConfig, LinkEstimator
from prosem_core.link.qos_policy import CAMERA_QOS, FEEDBACK_QOS, JPEG_QOS, LINK_STATE_QOS, QosPolicyConfig, layer_qos_for_link
from prosem_core.link.refine_qos import RefineQosConfig
from prosem_core.modes import MODE_NAMES, mode_info
from prosem_core.query_session import locked_answerer
from prosem_core.uplink import UplinkConfig, build_uplink
from prosem_edge.transports import JpegTransport, LayerTransport
from prosem_msgs.msg import LayerFeedback, LinkState
from prosem_msgs.srv import Query
from prosem_ros.model_params import MODEL_PARAMS, pipeline_from_params
from prosem_ros.msg_convert import feedback_fields, fill_result, from_seconds, query_request, stream_id_for_namespace
from prosem_ros.params import ParameterBinding, ParamSpec
from prosem_ros.qos import to_profile
from prosem_ros.spin import StartupError, run_node

PARAMS = [
    ParamSpec("mode", "progressive", "what goes over the uplink", choices=MODE_NAMES, read_only=True),
    *MODEL_PARAMS,
    ParamSpec("stream_id", "", "id of this robot's stream; empty = last component of the namespace, or robot0", read_only=True),
    ParamSpec("compressed_input", False, "subscribe camera/image_raw/compressed (CompressedImage) instead of camera/image_raw",
              read_only=True),
    ParamSpec("max_image_pixels", 4096 * 4096, "camera frames with more pixels are dropped before anything is allocated",
              1, 1 << 30, read_only=True),
    ParamSpec("max_image_bytes", 32 << 20, "compressed camera frames larger than this are dropped unread", 1, 1 << 31,
              read_only=True),
    ParamSpec("warmup", True, "run one frame through the models at start, so the first camera frame is not slow", read_only=True),
    ParamSpec("max_encode_rate_hz", 5.0, "most frames per second the edge encodes and sends", 0.1, 60.0),
    ParamSpec("target_delay_s", 0.2, "queueing delay the rate controller keeps what it sends under", 0.01, 10.0),
    ParamSpec("rate_control", True, "false: push every layer of every frame at max_encode_rate_hz"),
    ParamSpec("initial_rate_bps", 1.0e6, "uplink rate assumed before anything is measured", 1.0e4, 1.0e10, read_only=True),
    ParamSpec("min_rate_bps", 3.2e4, "lower bound of the rate estimate", 1.0e3, 1.0e9),
    ParamSpec("max_rate_bps", 1.0e9, "upper bound of the rate estimate", 1.0e4, 1.0e11),
    ParamSpec("utilization", 0.85, "share of the estimated rate the steady sending plan may use", 0.05, 1.0),
    ParamSpec("max_layers_per_frame", 0, "cap on layers pushed per frame (0 = all the controller allows)", 0, 32),
    ParamSpec("refine_loss_threshold", 0.2, "above this loss rate only base layers are pushed (refinements on pull)", 0.0, 1.0),
    ParamSpec("outage_frame_rate_hz", 2.0, "base-layer frame rate while no feedback arrives", 0.05, 30.0),
    ParamSpec("silence_s", 1.5, "no feedback for this long while sending = outage", 0.1, 60.0),
    ParamSpec("buffer_frames", 16, "recent frames kept for pull requests", 1, 1024, read_only=True),
    ParamSpec("pull_resend_min_s", 0.1, "do not resend a pulled layer more often than max(this, RTT)", 0.0, 10.0),
    ParamSpec("base_lifespan_s", 2.0, "lifespan of base (and pulled) layers: no repairs of older frames", 0.05, 60.0, read_only=True),
    ParamSpec("base_reliability", "best_effort", "QoS reliability of base and pulled layers (the cloud's base_reliability must match)",
              choices=("reliable", "best_effort"), read_only=True),
    ParamSpec("qos_adapt", True, "move refinements to a publisher with a new lifespan step when the link changes"),
    ParamSpec("qos_update_min_interval_s", 5.0, "least time between two QoS changes", 0.5, 3600.0),
    ParamSpec("link_state_period_s", 0.5, "period of prosem/link_state", 0.05, 60.0, read_only=True),
    ParamSpec("counters_period_s", 2.0, "period of ~/counters", 0.1, 3600.0, read_only=True),
    ParamSpec("temporal", False, "progressive: code frames against a frame the cloud confirmed (keyframes at start, on the "
              "cloud's request, on a scene cut, every keyframe_interval); the cloud needs temporal:=true", read_only=True),
    ParamSpec("keyframe_interval", 50, "temporal: most frames between two keyframes (50 = 10 s at 5 fps)", 1, 100_000,
              read_only=True),
    ParamSpec("scene_cut_threshold", 0.4, "temporal: a change carrying more than this share of the frame's own energy is "
              "coded as a keyframe (measured: one scene <= 0.14, cuts >= 1.16)", 0.01, 100.0, read_only=True),
    ParamSpec("temporal_history", 8, "temporal: frames back a reference may be (the cloud holds max_frames_per_stream)",
              1, 1024, read_only=True),
    ParamSpec("jpeg_quality", 90, "full_cloud: JPEG quality", 1, 100),
    ParamSpec("jpeg_max_side", 0, "full_cloud: downscale so the longer side is at most this (0 = keep)", 0, 16384),
    ParamSpec("auth_key", "", "shared HMAC key as text (prefer auth_key_file: parameters are readable)", read_only=True),
    ParamSpec("auth_key_file", "", "file holding the shared HMAC key", read_only=True),
]


def _cross_check(values: dict[str, Any]) -> str | None:
    if values["min_rate_bps"] > values["max_rate_bps"]:
        return "min_rate_bps must not exceed max_rate_bps"
    return None


class EdgeNode(Node):
    def __init__(self, pipeline: Any = None, **kwargs: Any) -> None:
        super().__init__("prosem_edge", **kwargs)
        # First, so destroy_node works whatever stops __init__ below.
        self._stop = threading.Event()
        self._slot: LatestSlot[tuple[Any, float]] = LatestSlot()  # (camera message, arrival monotonic s)
        self._worker: threading.Thread | None = None
        try:
            self.params = ParameterBinding(self, PARAMS, apply=self._apply_params, cross_check=_cross_check)
            self.auth_key = auth.load_key(self.params["auth_key"], self.params["auth_key_file"])
            self._pipeline = pipeline if pipeline is not None else pipeline_from_params(self.params.values)
        except ValueError as exc:  # bad or unknown parameter, bad model options, unreadable key file
            raise StartupError(str(exc)) from None
        p = self.params
        self.mode = mode_info(p["mode"])
        self.stream_id = p["stream_id"] or stream_id_for_namespace(self.get_namespace())
        self._gate = FrameGate()  # the encode-rate cap, decided per arriving frame (worker only)
        self._encode_s = 0.0  # smoothed time of the heavy part of a frame: the model sets the pace
        self._lock = threading.Lock()  # session, uplink, transport
        self._answer_lock = threading.Lock()  # full_edge: the answerer is not assumed thread-safe
        self.counters: Counter[str] = Counter()
        self.session = EdgeSession(EdgeSessionConfig(self.stream_id, p["buffer_frames"], p["pull_resend_min_s"], auth_key=self.auth_key),
                                   LinkEstimator(self._estimator_config()), RateController(self._controller_config()))
        self.image_limits = images.ImageLimits(max_pixels=p["max_image_pixels"], max_compressed_bytes=p["max_image_bytes"])
        self.uplink = build_uplink(self.mode.name, self.session, self.pipeline,
                                   UplinkConfig(p["buffer_frames"], p["jpeg_quality"], p["jpeg_max_side"], temporal=p["temporal"],
                                                keyframe_interval=p["keyframe_interval"],
                                                scene_cut_threshold=p["scene_cut_threshold"],
                                                temporal_history=p["temporal_history"]))
        self.qos_cfg = QosPolicyConfig(base_lifespan_s=p["base_lifespan_s"], base_reliability=p["base_reliability"])
        qos = layer_qos_for_link(None, p["max_encode_rate_hz"], self.qos_cfg)
        self.link_state: LinkState | None = None  # the last one published (tests read it)
        self.ready = threading.Event()  # set by start(): models built, worker running

        # The uplink's publishers; their matched event tells whether a cloud listens.
        events = PublisherEventCallbacks(incompatible_qos=self._on_incompatible_qos, matched=self._on_matched)
        self.transport: LayerTransport | JpegTransport | None = None
        if self.mode.wire == "layers":
            self.transport = LayerTransport(self, qos, events, refine=self.mode.name == "progressive",
                                            switcher_cfg=self._switcher_config(), on_incompatible=self._on_incompatible_qos)
        elif self.mode.wire == "jpeg":
            self.transport = JpegTransport(self, events)
        self.link_pub = self.create_publisher(LinkState, "prosem/link_state", to_profile(LINK_STATE_QOS))
        self.counters_pub = self.create_publisher(String, "~/counters", 10)
        if p["compressed_input"]:
            self.create_subscription(CompressedImage, "camera/image_raw/compressed", self._on_image, to_profile(CAMERA_QOS))
        else:
            self.create_subscription(Image, "camera/image_raw", self._on_image, to_profile(CAMERA_QOS))
        self.create_subscription(LayerFeedback, "prosem/feedback", self._on_feedback, to_profile(FEEDBACK_QOS))
        # Steady-clock timers: they keep running with use_sim_time and no /clock publisher.
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.create_timer(p["link_state_period_s"], self._publish_link_state, clock=steady)
        self.create_timer(p["counters_period_s"], self._publish_counters, clock=steady)
        if self.mode.wire == "service":
            # Its own group: a slow answer holds one executor thread, never feedback or timers.
            self.create_service(Query, "prosem/edge_query", self._on_edge_query, callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(
            f"edge up: mode={self.mode.name} stream={self.stream_id} epoch={self.session.epoch} model={p['model']} runtime={p['runtime']} "
            f"auth={'on' if self.auth_key else 'off'} base_qos=[{qos.base.describe()}] refine_qos=[{qos.refine.describe()}]")

    # -- models -------------------------------------------------------------------------------

    @property
    def pipeline(self) -> Any:
        return self._pipeline

    def start(self) -> EdgeNode:
        """Build and check the models this mode needs (StartupError: one line saying what to run, e.g. a
        missing ONNX export or a codebook of another model), warm them up, then start the frame worker."""
        try:
            check = getattr(self.pipeline, "check", None)  # test doubles have none
            if check is not None and self.uplink.needs_tokens:
                summary = check("both" if self.mode.name == "full_edge" else "edge")
                self.get_logger().info(f"model: {summary}")
            elif self.uplink.needs_tokens:
                _ = self.pipeline.encoder, self.pipeline.codec
            if self.params["warmup"]:
                t0 = time.monotonic()
                self.uplink.warm_up()
                self._encode_s = time.monotonic() - t0 if self.uplink.needs_tokens else 0.0
        except Exception as exc:
            raise StartupError(f"cannot start the edge models: {exc}") from None
        self._worker = threading.Thread(target=self._work, name="prosem_edge_worker", daemon=True)
        self._worker.start()
        self.ready.set()
        return self

    # -- configuration --------------------------------------------------------------------------

    def _estimator_config(self) -> EstimatorConfig:
        p = self.params
        return EstimatorConfig(initial_rate_bps=p["initial_rate_bps"], min_rate_bps=p["min_rate_bps"],
                               max_rate_bps=p["max_rate_bps"], silence_s=p["silence_s"], target_delay_s=p["target_delay_s"])

    def pace_hz(self) -> float:
        """Frames per second this edge can send: the parameter, or what the model's encode time allows."""
        cap = self.params["max_encode_rate_hz"]
        return min(cap, 1.0 / self._encode_s) if self._encode_s > 0 else cap

    def _controller_config(self) -> RateControllerConfig:
        p = self.params
        return RateControllerConfig(target_delay_s=p["target_delay_s"], max_frame_rate_hz=self.pace_hz(),
                                    utilization=p["utilization"], max_layers_per_frame=p["max_layers_per_frame"],
                                    refine_loss_threshold=p["refine_loss_threshold"],
                                    outage_frame_rate_hz=p["outage_frame_rate_hz"], enabled=p["rate_control"])

    def _switcher_config(self) -> RefineQosConfig:
        p = self.params
        return RefineQosConfig(enabled=p["qos_adapt"], min_interval_s=p["qos_update_min_interval_s"])

    def _apply_params(self, changed: set[str]) -> None:
        """Post-set: accepted changes take effect (validation happened before, without side effects)."""
        with self._lock:
            self.session.controller.cfg = self._controller_config()
            est = self.session.estimator.cfg
            for key, value in vars(self._estimator_config()).items():
                if key != "initial_rate_bps":  # fixed at start
                    setattr(est, key, value)
            self.session.cfg.pull_resend_min_s = self.params["pull_resend_min_s"]
            self.uplink.cfg.jpeg_quality, self.uplink.cfg.jpeg_max_side = self.params["jpeg_quality"], self.params["jpeg_max_side"]
            if isinstance(self.transport, LayerTransport) and self.transport.switcher is not None:
                self.transport.switcher.cfg = self._switcher_config()
        self.get_logger().info(f"parameters changed: {', '.join(sorted(changed))}")

    def _on_matched(self, info) -> None:
        """QoS matched event of the uplink publisher: is any cloud reading what we send?"""
        present = info.current_count > 0
        with self._lock:
            self.session.estimator.set_peer_present(present)
        self.counters["cloud_matched" if present else "cloud_unmatched"] += 1
        self.get_logger().info(f"uplink readers: {info.current_count}" + ("" if present else " (sending base layers only)"))

    def _on_incompatible_qos(self, event) -> None:
        self.counters["qos_incompatible"] += 1
        self.get_logger().warning(f"incompatible QoS with a subscriber (policy {event.last_policy_kind})", throttle_duration_sec=5.0)

    # -- camera -> worker -----------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        self._slot.put((msg, time.monotonic()))
        self.counters["frames_in"] += 1

    def _work(self) -> None:
        while not self._stop.is_set():
            item = self._slot.take(timeout=0.2)
            if item is None:
                continue
            msg, arrived = item
            # The cap is decided on the frame's arrival: a frame is encoded at once or skipped, never
            # held back until a rate wait ends (that made 5 fps frames up to a period stale).
            interval = max(1.0 / self.params["max_encode_rate_hz"], self.session.controller.frame_interval_s())
            if not self._gate.admit(arrived, interval):
                self.counters["frames_skipped_rate_cap"] += 1
                continue
            try:
                self._process(msg)
            except images.ImageError as exc:
                self.counters["bad_images"] += 1
                self.get_logger().warning(f"dropping a camera frame: {exc}", throttle_duration_sec=5.0)
            except Exception as exc:  # keep the worker alive whatever one frame does
                if self._stop.is_set() or not self.context.ok():
                    break  # shutting down (Ctrl-C shut the context while this frame was in flight)
                self.counters["worker_errors"] += 1
                self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)

    def _process(self, msg) -> None:
        try:
            check_frame_id(msg.header.frame_id)  # copied into every layer: bounded
        except FieldError as exc:
            raise images.ImageError(str(exc)) from None
        rgb = images.msg_to_rgb(msg, self.image_limits)
        t0 = time.monotonic()
        prepared = self.uplink.prepare(rgb)
        self._follow_model_pace(time.monotonic() - t0)
        self.counters["frames_encoded"] += 1
        with self._lock:
            now = time.time()
            self._send(self.uplink.commit(prepared, now, context=msg.header), now)

    def _follow_model_pace(self, encode_s: float) -> None:
        """A vision half that takes seconds per frame sets the pace: the rate controller plans (and the
        refinement lifespan follows) the frame rate the model allows, not max_encode_rate_hz."""
        self._encode_s = encode_s if self._encode_s <= 0 else 0.8 * self._encode_s + 0.2 * encode_s
        pace = self.pace_hz()
        with self._lock:
            if abs(pace - self.session.controller.cfg.max_frame_rate_hz) > 0.05 * pace:
                self.session.controller.cfg.max_frame_rate_hz = pace

    def _send(self, out: list, now: float) -> None:
        """Caller holds the lock."""
        for o in out:
            self.transport.publish(o, self.session, now)

    # -- feedback, pulls --------------------------------------------------------------------------

    def _on_feedback(self, msg: LayerFeedback) -> None:
        """Receipts and pull requests. Anyone on the domain can publish here: the session checks every
        field, the stream, the epoch and (with a key) the tag, and counts what it ignores."""
        try:
            fields = feedback_fields(msg)
        except FieldError as exc:
            self.counters["feedback_out_of_range"] += 1
            self.get_logger().warning(f"ignoring feedback: {exc}", throttle_duration_sec=5.0)
            return
        with self._lock:
            now = time.time()
            outcome, out = self.uplink.feedback(fields, bytes(msg.auth_tag), now)
            self._send(out, now)
        if outcome.accepted and outcome.status != wire_codes.STATUS_OK:
            self.get_logger().warning(f"the cloud reports on stream {self.stream_id!r}: {outcome.status_reason or outcome.status}",
                                      throttle_duration_sec=5.0)
        if out:
            self.get_logger().debug(f"pull: frame {outcome.frame_seq} layers {[o.index for o in out]} ({fields.reason})",
                                    throttle_duration_sec=1.0)

    # -- link state, QoS adaptation, counters ---------------------------------------------------

    def _publish_link_state(self) -> None:
        with self._lock:
            now = time.time()
            est = self.session.estimator.estimate(now)
            ctl = self.session.controller
            msg = LinkState()
            msg.header.stamp = from_seconds(now)
            msg.stream_id = self.stream_id
            msg.bandwidth_bps = float(est.bandwidth_bps)
            msg.goodput_bps = float(est.goodput_bps)
            msg.rtt_s = float(est.rtt_s)
            msg.loss_rate = float(est.loss_rate)
            msg.queue_delay_s = float(est.queue_delay_s)
            msg.layers_per_frame = min(255, int(ctl.layers_per_frame))
            msg.frame_rate_hz = float(min(ctl.frame_rate_hz, self.pace_hz()))
            msg.bytes_per_frame = int(self._bytes_per_frame(ctl.layers_per_frame))
            msg.mode = self.mode.name
            if isinstance(self.transport, LayerTransport):
                wanted = layer_qos_for_link(est, min(ctl.frame_rate_hz, self.pace_hz()), self.qos_cfg).refine
                if self.transport.want_refine_qos(wanted):
                    self.counters["qos_changes"] += 1
                    self.get_logger().info(f"refinement QoS [{self.transport.refine_qos.describe()}] -> [{wanted.describe()}]")
                msg.base_qos = layer_qos_for_link(None, ctl.frame_rate_hz, self.qos_cfg).base.describe()
                refine = self.transport.refine_qos
                msg.refine_qos = refine.describe() if refine else "none (whole fp16 frames in chunks)"
            elif self.mode.wire == "jpeg":
                msg.base_qos, msg.refine_qos = JPEG_QOS.describe(), "none (whole JPEG frames)"
            else:
                msg.base_qos = msg.refine_qos = "none (answers on the edge)"
            self.link_state = msg
        self.link_pub.publish(msg)

    def _bytes_per_frame(self, layers_per_frame: int) -> int:
        held = self.session.frames.get(self.session.next_seq - 1)
        if held is None or not held.layers:
            return 0
        shown = len(held.layers) if self.mode.name == "full_tokens" else max(layers_per_frame, 1)
        return sum(len(x) for x in held.layers[:shown])

    def all_counters(self) -> dict[str, int]:
        merged = Counter(self.counters)
        merged.update(self.session.counters)
        merged.update({f"receipts_{k}": v for k, v in self.session.estimator.rejected.items()})
        merged["frames_dropped_handoff"] = self._slot.dropped
        # temporal: why keyframes were sent (start, requested, no reference, interval, scene cut)
        merged.update({f"keyframes_{k.replace(' ', '_')}": v for k, v in getattr(self.uplink, "keyframe_reasons", {}).items()})
        merged["param_rejected"] = self.params.rejected
        if isinstance(self.transport, LayerTransport) and self.transport.switcher is not None:
            merged["qos_changes"] = self.transport.switcher.changes
        return dict(merged)

    def _publish_counters(self) -> None:
        self.counters_pub.publish(String(data=json.dumps(self.all_counters(), sort_keys=True)))

    # -- full_edge: the local answer ------------------------------------------------------------

    def _on_edge_query(self, request, response):
        result = self.uplink.answer(query_request(request), locked_answerer(self.pipeline.answerer, self._answer_lock))
        if not result.success:
            self.counters["query_errors"] += 1
            self.get_logger().warning(f"edge query failed: {result.error}", throttle_duration_sec=2.0)
        return fill_result(response, result)

    # -- shutdown -------------------------------------------------------------------------------

    def destroy_node(self) -> None:
        self._stop.set()
        self._slot.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node("edge_node", lambda: EdgeNode().start(), threads=2, args=args)
