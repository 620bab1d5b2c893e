"""Where an uplink's Outgoing records go on the wire: one small publisher set per wire kind.

layers: prosem/layers (base and pulled layers; QoS fixed at start) and prosem/layers/refine
        (proactive refinements; its lifespan follows the link through RefineQosSwitcher, one
        publisher per lifespan step, kept once made)
jpeg:   prosem/image_jpeg (full_cloud baseline; stream, epoch and frame in header.frame_id)
QoS per role and the measurements behind it: prosem_core.link.qos_policy.
"""
from __future__ import annotations

from collections.abc import Callable

from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage

from prosem_core.edge_session import EdgeSession
from prosem_core.link.qos_policy import JPEG_QOS, LayerQosPolicy, QosSpec
from prosem_core.link.refine_qos import RefineQosConfig, RefineQosSwitcher
from prosem_core.uplink import Outgoing
from prosem_msgs.msg import SemanticLayer
from prosem_ros.msg_convert import jpeg_frame_id, layer_msg
from prosem_ros.qos import to_profile


class LayerTransport:
    """SemanticLayer publishers of the layer modes (progressive, full_tokens)."""

    def __init__(self, node: Node, qos: LayerQosPolicy, events: PublisherEventCallbacks, refine: bool,
                 switcher_cfg: RefineQosConfig, on_incompatible: Callable) -> None:
        self.node = node
        self.base_pub = node.create_publisher(SemanticLayer, "prosem/layers", to_profile(qos.base), event_callbacks=events)
        self._on_incompatible = on_incompatible
        self.refine_pubs: dict[QosSpec, object] = {}
        self.switcher = RefineQosSwitcher(qos.refine, switcher_cfg) if refine else None
        if refine:
            self.refine_pubs[qos.refine] = self._make_refine_pub(qos.refine)

    def _make_refine_pub(self, spec: QosSpec):
        events = PublisherEventCallbacks(incompatible_qos=self._on_incompatible)
        return self.node.create_publisher(SemanticLayer, "prosem/layers/refine", to_profile(spec), event_callbacks=events)

    @property
    def refine_qos(self) -> QosSpec | None:
        return self.switcher.active if self.switcher else None

    def want_refine_qos(self, spec: QosSpec) -> bool:
        """A link-state tick's wish; True when a switch started (its publisher now exists)."""
        if self.switcher is None:
            return False
        target = self.switcher.want(spec)
        if target is not None and target not in self.refine_pubs:
            self.refine_pubs[target] = self._make_refine_pub(target)
        return target is not None

    def publish(self, out: Outgoing, session: EdgeSession, send_stamp: float) -> None:
        sign = None
        if session.cfg.auth_key:
            def sign(o: Outgoing, stamp_ns: int) -> bytes:
                return session.layer_tag(o.frame_seq, o.index, o.layer_count, o.codebook_id, stamp_ns, o.payload)
        msg = layer_msg(out, session.cfg.stream_id, session.epoch, send_stamp, sign)
        if out.channel == "refine" and self.switcher is not None:
            spec = self.switcher.current(lambda s: self.refine_pubs[s].get_subscription_count())
            self.refine_pubs[spec].publish(msg)
        else:
            self.base_pub.publish(msg)


class JpegTransport:
    """The full_cloud baseline's JPEG frames."""

    def __init__(self, node: Node, events: PublisherEventCallbacks) -> None:
        self.pub = node.create_publisher(CompressedImage, "prosem/image_jpeg", to_profile(JPEG_QOS), event_callbacks=events)

    def publish(self, out: Outgoing, session: EdgeSession, send_stamp: float) -> None:
        msg = CompressedImage()
        if out.context is not None:
            msg.header.stamp = out.context.stamp  # capture time: the benchmark measures from it
        msg.header.frame_id = jpeg_frame_id(session.cfg.stream_id, session.epoch, out.frame_seq)
        msg.format = "jpeg"
        msg.data = out.payload
        self.pub.publish(msg)  # no send stamp or tag: the uplink keeps the send time for RTT
