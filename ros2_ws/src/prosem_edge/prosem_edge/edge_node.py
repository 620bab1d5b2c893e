"""ProSem edge node: camera -> vision encoder -> Meta AutoEncoder layers -> link-adaptive publishing.

Threads: the executor never converts, encodes or waits. The camera callback drops the message into
a depth-1 slot (a newer frame replaces an untaken one); one worker thread converts, encodes and
publishes. Feedback (pull requests), timers and the full_edge service run in the executor and are
cheap (the full_edge answerer runs in the service's own callback group).

Modes (parameter `mode`):
  progressive  layers on prosem/layers (base + pulled; base_reliability) and prosem/layers/refine
               (proactive refinements, best effort), as many as the rate controller allows.
  full_cloud   the camera frame as JPEG on prosem/image_jpeg; the cloud runs the encoder.
  full_tokens  baseline: the encoder's tokens uncompressed (fp16, 125,440 B for 49 x 1280) as a few
               chunks on prosem/layers (prosem_core.token_chunks; codec_id prosem-fp16/1); the cloud
               answers from the exact tokens once every chunk of a frame is there (lost chunks pulled).
  full_edge    nothing on the uplink; the edge answers itself on the service prosem/edge_query,
               which the cloud calls to relay a question.

Topics: sub camera/image_raw (sensor_msgs/Image) or, with compressed_input, camera/image_raw/compressed
(CompressedImage), prosem/feedback (LayerFeedback); pub prosem/layers, prosem/layers/refine,
prosem/image_jpeg, prosem/link_state (LinkState), ~/counters (std_msgs/String, JSON).
QoS per class: prosem_core.link.qos_policy.
"""
from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import rclpy
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String

from prosem_core import auth, images, token_chunks
from prosem_core.codec import read_header
from prosem_core.edge_session import EdgeSession, EdgeSessionConfig, PullRequest
from prosem_core.frame_gate import FrameGate
from prosem_core.latest_slot import LatestSlot
from prosem_core.link.controller import RateController, RateControllerConfig
from prosem_core.link.estimator import EstimatorConfig, Feedback, LinkEstimator
from prosem_core.link.qos_policy import (
    CAMERA_QOS,
    FEEDBACK_QOS,
    JPEG_QOS,
    LINK_STATE_QOS,
    LayerQosPolicy,
    QosPolicyConfig,
    layer_qos_for_link,
)
from prosem_msgs.msg import LayerFeedback, LinkState, SemanticLayer
from prosem_msgs.srv import Query
from prosem_ros.msg_convert import from_seconds, jpeg_frame_id, stream_id_for_namespace, to_seconds
from prosem_ros.params import ParamSpec, check_update, declare_all
from prosem_ros.qos import to_profile
from prosem_ros.spin import spin_until_shutdown

MODES = ("progressive", "full_cloud", "full_tokens", "full_edge")
CODEC_ID = "prosem-mae/1"
REFINE_SWITCH_TIMEOUT_S = 5.0  # a new refinement publisher takes over after this even if unmatched

PARAMS = [
    ParamSpec("mode", "progressive", "what goes over the uplink", choices=MODES, read_only=True),
    ParamSpec("stream_id", "", "id of this robot's stream; empty = last component of the namespace, or robot0", read_only=True),
    ParamSpec("compressed_input", False, "subscribe camera/image_raw/compressed (CompressedImage) instead of camera/image_raw",
              read_only=True),
    ParamSpec("runtime", "onnx", "vision encoder runtime", choices=("onnx", "onnx-int8", "torch"), read_only=True),
    ParamSpec("encoder_threads", 1, "threads of the vision encoder (0 = the runtime's default)", 0, 64, read_only=True),
    ParamSpec("codebook", "", "Meta AutoEncoder codebook path (.npz/.json stem); empty = the shipped one", read_only=True),
    ParamSpec("answer_head", "", "full_edge: answer head file; empty = the shipped one", read_only=True),
    ParamSpec("warmup", True, "build the models and run one encode at start, so the first frame is not slow", read_only=True),
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
    ParamSpec("qos_adapt", True, "re-create the refinement publisher when the link changes its QoS (lifespan step)"),
    ParamSpec("qos_update_min_interval_s", 5.0, "least time between two QoS changes", 0.5, 3600.0),
    ParamSpec("link_state_period_s", 0.5, "period of prosem/link_state", 0.05, 60.0, read_only=True),
    ParamSpec("counters_period_s", 2.0, "period of ~/counters", 0.1, 3600.0, read_only=True),
    ParamSpec("jpeg_quality", 90, "full_cloud: JPEG quality", 1, 100),
    ParamSpec("jpeg_max_side", 0, "full_cloud: downscale so the longer side is at most this (0 = keep)", 0, 16384),
    ParamSpec("auth_key", "", "shared HMAC key as text (prefer auth_key_file: parameters are readable)", read_only=True),
    ParamSpec("auth_key_file", "", "file holding the shared HMAC key", read_only=True),
]


class EdgeNode(Node):
    def __init__(self, pipeline: Any = None, **kwargs: Any) -> None:
        super().__init__("prosem_edge", **kwargs)
        # First, so destroy_node works even when a bad parameter stops __init__ below.
        self._stop = threading.Event()
        self._slot: LatestSlot[tuple[Any, float]] = LatestSlot()  # (camera message, arrival monotonic s)
        self._gate = FrameGate()  # the encode-rate cap, decided per arriving frame (worker only)
        self._worker: threading.Thread | None = None
        self._specs = {s.name: s for s in PARAMS}
        self.p = declare_all(self, PARAMS)
        self.mode = self.p["mode"]
        self.stream_id = self.p["stream_id"] or stream_id_for_namespace(self.get_namespace())
        self.auth_key = auth.load_key(self.p["auth_key"], self.p["auth_key_file"])
        self._pipeline = pipeline
        self._pipeline_lock = threading.Lock()
        self._answer_lock = threading.Lock()  # full_edge: warm-up and the query service share the answerer
        self._lock = threading.Lock()  # session, estimator, publishers
        self.counters: Counter[str] = Counter()
        self.session = EdgeSession(
            EdgeSessionConfig(self.stream_id, self.p["buffer_frames"], self.p["pull_resend_min_s"]),
            LinkEstimator(self._estimator_config()),
            RateController(self._controller_config()),
        )
        self.qos_cfg = QosPolicyConfig(base_lifespan_s=self.p["base_lifespan_s"], base_reliability=self.p["base_reliability"])
        self.qos: LayerQosPolicy = layer_qos_for_link(None, self.p["max_encode_rate_hz"], self.qos_cfg)
        self._last_qos_change = time.monotonic()
        self._qos_candidate = None  # a refinement QoS wanted since _qos_candidate_since
        self._qos_candidate_since = 0.0
        self._refine_next = None  # (publisher, created at) while a QoS switch waits for matching
        self._jpeg_sent: dict[int, float] = {}  # full_cloud: frame_seq -> send time, for RTT
        self._frame_headers: dict[int, Any] = {}  # frame_seq -> camera header, for pulled layers
        self.link_state: LinkState | None = None  # the last one published (tests read it)

        # The uplink publisher(s) of this mode; their matched event tells whether a cloud listens.
        uplink_events = PublisherEventCallbacks(incompatible_qos=self._on_incompatible_qos, matched=self._on_matched)
        self.base_pub = self.refine_pub = self.jpeg_pub = None
        if self.mode in ("progressive", "full_tokens"):
            self.base_pub = self.create_publisher(SemanticLayer, "prosem/layers", to_profile(self.qos.base), event_callbacks=uplink_events)
        if self.mode == "progressive":
            self.refine_pub = self._make_refine_pub()
            self._refine_pubs = {self.qos.refine: self.refine_pub}  # one publisher per QoS step used
        elif self.mode == "full_cloud":
            self.jpeg_pub = self.create_publisher(CompressedImage, "prosem/image_jpeg", to_profile(JPEG_QOS), event_callbacks=uplink_events)
        self.link_pub = self.create_publisher(LinkState, "prosem/link_state", to_profile(LINK_STATE_QOS))
        self.counters_pub = self.create_publisher(String, "~/counters", 10)

        if self.p["compressed_input"]:
            self.create_subscription(CompressedImage, "camera/image_raw/compressed", self._on_image, to_profile(CAMERA_QOS))
        else:
            self.create_subscription(Image, "camera/image_raw", self._on_image, to_profile(CAMERA_QOS))
        self.create_subscription(LayerFeedback, "prosem/feedback", self._on_feedback, to_profile(FEEDBACK_QOS))
        self.create_timer(self.p["link_state_period_s"], self._publish_link_state)
        self.create_timer(self.p["counters_period_s"], self._publish_counters)

        # full_edge: answers computed here; the service has its own group so a slow answer never
        # holds up feedback or timers.
        self._latest_tokens: tuple[int, Any] | None = None
        if self.mode == "full_edge":
            self.create_service(Query, "prosem/edge_query", self._on_edge_query, callback_group=MutuallyExclusiveCallbackGroup())
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self.ready = threading.Event()  # set once the models are built (and warmed up)
        self._worker = threading.Thread(target=self._work, name="prosem_edge_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(
            f"edge up: mode={self.mode} stream={self.stream_id} epoch={self.session.epoch} runtime={self.p['runtime']} "
            f"auth={'on' if self.auth_key else 'off'} base_qos=[{self.qos.base.describe()}] refine_qos=[{self.qos.refine.describe()}]"
        )

    # -- configuration --------------------------------------------------------------------------

    def _estimator_config(self) -> EstimatorConfig:
        p = self.p
        return EstimatorConfig(
            initial_rate_bps=p["initial_rate_bps"], min_rate_bps=p["min_rate_bps"], max_rate_bps=p["max_rate_bps"],
            silence_s=p["silence_s"], target_delay_s=p["target_delay_s"],
        )

    def _controller_config(self) -> RateControllerConfig:
        p = self.p
        return RateControllerConfig(
            target_delay_s=p["target_delay_s"], max_frame_rate_hz=p["max_encode_rate_hz"], utilization=p["utilization"],
            max_layers_per_frame=p["max_layers_per_frame"], refine_loss_threshold=p["refine_loss_threshold"],
            outage_frame_rate_hz=p["outage_frame_rate_hz"], enabled=p["rate_control"],
        )

    def _on_set_parameters(self, params):
        result = check_update(self._specs, params)
        if not result.successful:
            self.counters["param_rejected"] += 1
            self.get_logger().warning(f"parameter change rejected: {result.reason}")
            return result
        new = dict(self.p)
        new.update({prm.name: prm.value for prm in params if prm.name in self._specs})
        if new["min_rate_bps"] > new["max_rate_bps"]:
            self.counters["param_rejected"] += 1
            return SetParametersResult(successful=False, reason="min_rate_bps must not exceed max_rate_bps")
        with self._lock:
            self.p = new
            self.session.controller.cfg = self._controller_config()
            est_cfg = self.session.estimator.cfg
            for key, value in vars(self._estimator_config()).items():
                if key != "initial_rate_bps":
                    setattr(est_cfg, key, value)
            self.session.cfg.pull_resend_min_s = new["pull_resend_min_s"]
        return result

    def _make_refine_pub(self):
        events = PublisherEventCallbacks(incompatible_qos=self._on_incompatible_qos)
        return self.create_publisher(SemanticLayer, "prosem/layers/refine", to_profile(self.qos.refine), event_callbacks=events)

    def _on_matched(self, info) -> None:
        """QoS matched event of the base-layer publisher: is any cloud reading our layers?"""
        present = info.current_count > 0
        with self._lock:
            self.session.estimator.set_peer_present(present)
        self.counters["cloud_matched" if present else "cloud_unmatched"] += 1
        self.get_logger().info(f"layer readers: {info.current_count}" + ("" if present else " (sending base layers only)"))

    def _on_incompatible_qos(self, event) -> None:
        self.counters["qos_incompatible"] += 1
        self.get_logger().warning(f"incompatible QoS with a subscriber (policy {event.last_policy_kind})", throttle_duration_sec=5.0)

    # -- camera -> worker ---------------------------------------------------------------------

    def _on_image(self, msg) -> None:
        if self._slot.put((msg, time.monotonic())):
            self.counters["frames_dropped_handoff"] += 1
        self.counters["frames_in"] += 1

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
        if self.mode == "full_cloud":
            return
        tokens = self.pipeline.encoder.encode(np.zeros((224, 224, 3), np.uint8))
        self.pipeline.codec.encode(tokens, frame_seq=0)
        if self.mode == "full_edge":
            with self._answer_lock:  # the query service must not build the answerer concurrently
                answerer = self.pipeline.answerer
                if hasattr(answerer, "warm_up"):
                    answerer.warm_up()

    def _work(self) -> None:
        try:
            if self.p["warmup"]:
                self._warm_up()
        except Exception as exc:  # missing model files: say so, keep the node up for diagnosis
            self.counters["model_errors"] += 1
            self.get_logger().error(f"cannot build the models: {exc}")
        self.ready.set()
        while not self._stop.is_set():
            item = self._slot.take(timeout=0.2)
            if item is None:
                continue
            msg, arrived = item
            # The cap is decided on the frame's arrival: a frame is encoded at once or skipped, never
            # held back until a rate wait ends (that made 5 fps frames up to a period stale).
            interval = max(1.0 / self.p["max_encode_rate_hz"], self.session.controller.frame_interval_s())
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
                    break  # shutting down (e.g. Ctrl-C shut the context while this frame was in flight)
                self.counters["worker_errors"] += 1
                self.get_logger().error(f"frame failed: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _process(self, msg) -> None:
        rgb = images.msg_to_rgb(msg)
        if self.mode == "full_cloud":
            self._send_jpeg(msg, rgb)
            return
        tokens = self.pipeline.encoder.encode(rgb)
        self.counters["frames_encoded"] += 1
        if self.mode == "full_edge":
            with self._lock:
                seq = self.session.add_frame([])
                self._latest_tokens = (seq, tokens)
            return
        if self.mode == "full_tokens":
            self._send_chunks(msg, token_chunks.split_tokens(tokens, self.session.next_seq & 0xFFFFFFFF))
            return
        layers = self.pipeline.codec.encode(tokens, frame_seq=self.session.next_seq & 0xFFFFFFFF)
        with self._lock:
            plan = self.session.plan_frame([len(x) for x in layers], self._now())
            if not plan.send:
                return
            seq = self.session.add_frame(layers)
            for index in range(plan.layers):
                self._publish_layer(seq, index, layers[index], msg.header, pulled=False)

    def _send_chunks(self, msg, chunks: list[bytes]) -> None:
        """full_tokens: a frame goes whole or not at all (the rate controller sees its total size)."""
        with self._lock:
            plan = self.session.plan_frame([sum(len(c) for c in chunks)], self._now())
            if not plan.send:
                return
            seq = self.session.add_frame(chunks)
            for index, chunk in enumerate(chunks):
                self._publish_layer(seq, index, chunk, msg.header, pulled=False)

    def _publish_layer(self, seq: int, index: int, payload: bytes, header, pulled: bool) -> None:
        """Caller holds self._lock."""
        chunked = self.mode == "full_tokens"
        h = token_chunks.read_chunk_header(payload) if chunked else read_header(payload)
        out = SemanticLayer()
        out.header = header
        out.stream_id = self.stream_id
        out.frame_seq = seq
        out.epoch = self.session.epoch
        out.layer_index = index
        out.layer_count = h.layer_count
        out.codec_id = token_chunks.FP16_CODEC_ID if chunked else CODEC_ID
        out.codebook_id = h.codebook_id
        out.token_shape = [int(x) for x in h.token_shape]
        out.keyframe = bool(h.keyframe)
        out.ref_frame_seq = int(h.ref_frame_seq)
        out.fidelity = float(h.fidelity)
        out.payload = payload
        if self.auth_key:
            identity = auth.LayerIdentity(self.stream_id, self.session.epoch, seq, index, h.layer_count, h.codebook_id)
            out.auth_tag = auth.sign(self.auth_key, identity, payload)
        now = self._now()
        out.send_stamp = from_seconds(now)
        if index == 0 or pulled or chunked:
            self.base_pub.publish(out)
        else:
            self._finish_refine_switch()
            self.refine_pub.publish(out)
        self.session.mark_sent(seq, index, len(payload), now)
        if seq not in self._frame_headers:
            self._frame_headers[seq] = header
            while len(self._frame_headers) > self.p["buffer_frames"]:
                self._frame_headers.pop(next(iter(self._frame_headers)))

    def _send_jpeg(self, msg, rgb) -> None:
        jpeg = images.encode_jpeg(images.resize_max_side(rgb, self.p["jpeg_max_side"]), self.p["jpeg_quality"])
        with self._lock:
            plan = self.session.plan_frame([len(jpeg)], self._now())
            if not plan.send:
                return
            seq = self.session.add_frame([])
            out = CompressedImage()
            out.header.stamp = msg.header.stamp  # capture time: the benchmark measures from it
            out.header.frame_id = jpeg_frame_id(self.stream_id, self.session.epoch, seq)
            out.format = "jpeg"
            out.data = jpeg
            now = self._now()
            self.jpeg_pub.publish(out)
            self._jpeg_sent[seq] = now
            while len(self._jpeg_sent) > 64:
                self._jpeg_sent.pop(next(iter(self._jpeg_sent)))
            self.session.mark_sent(seq, 0, len(jpeg), now)

    # -- feedback, pulls ----------------------------------------------------------------------

    def _on_feedback(self, msg: LayerFeedback) -> None:
        if msg.stream_id != self.stream_id:
            return  # another robot's feedback on a shared topic: not ours, not an error
        if msg.epoch != self.session.epoch:
            self.counters["feedback_stale_epoch"] += 1
            return
        now = self._now()
        echo = to_seconds(msg.echo_send_stamp)
        wanted: list[int] = []
        with self._lock:
            if self.mode == "full_cloud":
                echo = self._jpeg_sent.get(int(msg.frame_seq), echo)
            fb = Feedback(int(msg.frame_seq), int(msg.received_mask), int(msg.bytes_received), to_seconds(msg.receive_stamp),
                          echo, float(msg.hold_s))
            self.session.on_feedback(fb, now)
            if self.mode not in ("progressive", "full_tokens") or msg.pull_layers <= msg.prefix_layers:
                return
            wanted = self.session.pull(PullRequest(int(msg.frame_seq), int(msg.received_mask), int(msg.pull_layers)), now)
            header = self._frame_headers.get(int(msg.frame_seq))
            for index in wanted:
                payload = self.session.layer(int(msg.frame_seq), index)
                if payload is not None and header is not None:
                    self._publish_layer(int(msg.frame_seq), index, payload, header, pulled=True)
        if wanted:
            self.get_logger().debug(f"pull: frame {msg.frame_seq} layers {wanted} ({msg.reason})", throttle_duration_sec=1.0)

    # -- link state, QoS adaptation, counters -------------------------------------------------

    def _publish_link_state(self) -> None:
        with self._lock:
            now = self._now()
            est = self.session.estimator.estimate(now)
            ctl = self.session.controller
            self._maybe_adapt_qos(est, ctl.frame_rate_hz)
            held = self.session.frames.get(self.session.next_seq - 1)
            shown = len(held.layers) if held and self.mode == "full_tokens" else max(ctl.layers_per_frame, 1)
            per_frame = sum(len(x) for x in held.layers[:shown]) if held and held.layers else 0
            msg = LinkState()
            msg.header.stamp = from_seconds(now)
            msg.stream_id = self.stream_id
            msg.bandwidth_bps = float(est.bandwidth_bps)
            msg.goodput_bps = float(est.goodput_bps)
            msg.rtt_s = float(est.rtt_s)
            msg.loss_rate = float(est.loss_rate)
            msg.queue_delay_s = float(est.queue_delay_s)
            msg.layers_per_frame = min(255, int(ctl.layers_per_frame))
            msg.frame_rate_hz = float(min(ctl.frame_rate_hz, self.p["max_encode_rate_hz"]))
            msg.bytes_per_frame = int(per_frame)
            if self.mode == "progressive":
                msg.base_qos, msg.refine_qos = self.qos.base.describe(), self.qos.refine.describe()
            elif self.mode == "full_tokens":
                msg.base_qos, msg.refine_qos = self.qos.base.describe(), "none (whole fp16 frames in chunks)"
            elif self.mode == "full_cloud":
                msg.base_qos, msg.refine_qos = JPEG_QOS.describe(), "none (whole JPEG frames)"
            else:
                msg.base_qos = msg.refine_qos = "none (answers on the edge)"
            msg.mode = self.mode
            self.link_state = msg
        self.link_pub.publish(msg)

    def _maybe_adapt_qos(self, est, frame_rate_hz: float) -> None:
        """Caller holds self._lock. Only the refinement class changes (its lifespan step); the base
        publisher stays as started.

        A new step must be wanted for a whole `qos_update_min_interval_s` before it is applied (RTT
        noise must not flap), and refinements move to the new step's publisher only once it has
        matched the readers of the current one (make before break). Publishers of earlier steps are
        kept (at most one per step): destroying a publisher under a running executor races its
        event handlers, and a step used before is then instant to return to."""
        if not self.p["qos_adapt"] or self.mode != "progressive":
            return
        self._finish_refine_switch()
        now = time.monotonic()
        wanted = layer_qos_for_link(est, frame_rate_hz, self.qos_cfg).refine
        if wanted == self.qos.refine or self._refine_next is not None:
            self._qos_candidate = None
            return
        if wanted != self._qos_candidate:
            self._qos_candidate, self._qos_candidate_since = wanted, now
            return
        interval = self.p["qos_update_min_interval_s"]
        if now - self._qos_candidate_since < interval or now - self._last_qos_change < interval:
            return
        self.get_logger().info(f"refinement QoS [{self.qos.refine.describe()}] -> [{wanted.describe()}]")
        self.qos = LayerQosPolicy(base=self.qos.base, refine=wanted)
        if wanted not in self._refine_pubs:
            self._refine_pubs[wanted] = self._make_refine_pub()
        self._refine_next = (self._refine_pubs[wanted], now)
        self._qos_candidate = None
        self._last_qos_change = now
        self.counters["qos_changes"] += 1

    def _finish_refine_switch(self) -> None:
        """Caller holds self._lock: publish refinements on the new step once it reaches the readers."""
        if self._refine_next is None:
            return
        new, since = self._refine_next
        matched = new.get_subscription_count() >= max(1, self.refine_pub.get_subscription_count())
        if matched or time.monotonic() - since > REFINE_SWITCH_TIMEOUT_S:
            self.refine_pub, self._refine_next = new, None

    def all_counters(self) -> dict[str, int]:
        merged = Counter(self.counters)
        merged.update(self.session.counters)
        merged["frames_dropped_handoff"] = self._slot.dropped
        return dict(merged)

    def _publish_counters(self) -> None:
        self.counters_pub.publish(String(data=json.dumps(self.all_counters(), sort_keys=True)))

    # -- full_edge: the local answer ----------------------------------------------------------

    def _on_edge_query(self, request, response):
        start = time.monotonic()
        response.stream_id = self.stream_id
        with self._lock:
            latest = self._latest_tokens
        if not request.question.strip():
            response.success, response.error = False, "empty question"
        elif latest is None:
            response.success, response.error = False, f"stream {self.stream_id!r} has no frame yet"
        elif request.frame_seq >= 0 and request.frame_seq != latest[0]:
            response.success, response.error = False, f"frame {request.frame_seq} not held (the edge keeps only the latest, {latest[0]})"
        else:
            try:
                with self._answer_lock:
                    answer = self.pipeline.answerer.answer(latest[1], request.question)
                response.success, response.answer, response.confidence = True, answer.text, float(answer.confidence)
                response.frame_seq, response.fidelity, response.fidelity_reached = latest[0], 1.0, True
            except Exception as exc:
                self.counters["answer_errors"] += 1
                response.success, response.error = False, f"answer failed: {exc}"
        if not response.success:
            self.counters["query_errors"] += 1
            self.get_logger().warning(f"edge query failed: {response.error}", throttle_duration_sec=2.0)
        response.latency_s = time.monotonic() - start
        return response

    # -- shutdown -----------------------------------------------------------------------------

    def destroy_node(self) -> None:
        self._stop.set()
        self._slot.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args)
    try:
        node = EdgeNode()
    except ValueError as exc:  # bad parameter at start: say why, exit non-zero
        print(f"edge_node: {exc}", flush=True)
        rclpy.try_shutdown()
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        rclpy.try_shutdown()
        return 0
    return spin_until_shutdown(node, MultiThreadedExecutor(num_threads=2))


if __name__ == "__main__":
    raise SystemExit(main())
