"""camera_replay: a camera for machines without one.

Publishes sensor_msgs/Image on `camera/image_raw` (sensor-data QoS, remappable) from the bundled
demo sequence, a folder of images, a video file or a bag (a rosbag2 folder, with or without
metadata.yaml, or a bare .mcap/.db3 file; a cut .mcap is recovered), at `rate_hz`, optionally
looping, resized and with a chosen frame_id. Frames are stamped with the time they are published
(as a live camera driver would), so downstream latency is measured from here.

    ros2 run prosem_edge camera_replay --ros-args -p source:=/data/frames -p rate_hz:=10.0
"""
from __future__ import annotations

import sys
from collections.abc import Iterator

import numpy as np
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from prosem_core import images
from prosem_core.frame_sources import FrameSource, FrameSourceError, open_source
from prosem_ros.spin import StartupError, run_node

ENCODINGS = ("rgb8", "bgr8", "mono8")


def _resize(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Exact size when both are set; one side set keeps the aspect ratio; 0/0 leaves the frame as is."""
    import cv2

    h, w = rgb.shape[:2]
    if width <= 0 and height <= 0:
        return rgb
    if width <= 0:
        width = max(1, round(w * height / h))
    if height <= 0:
        height = max(1, round(h * width / w))
    if (width, height) == (w, h):
        return rgb
    interp = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(rgb, (width, height), interpolation=interp)


class CameraReplay(Node):
    def __init__(self, **node_kwargs) -> None:
        super().__init__("camera_replay", **node_kwargs)
        self.declare_parameter("source", "demo", ParameterDescriptor(
            description="'demo' (bundled sequence), 'demo:cat,shapes' (some scenes), a folder of images, "
                        "a video file, a rosbag2 bag folder, or an .mcap/.db3 file"))
        self.declare_parameter("bag_topic", "", ParameterDescriptor(
            description="image topic to read from a bag source; empty = the bag's only Image/CompressedImage "
                        "topic (a bag with several names one here)"))
        self.declare_parameter("rate_hz", 5.0, ParameterDescriptor(
            description="frames published per second",
            floating_point_range=[FloatingPointRange(from_value=0.1, to_value=120.0, step=0.0)]))
        self.declare_parameter("loop", True, ParameterDescriptor(
            description="start the source again at its end; false = stop publishing (and exit) at the end"))
        self.declare_parameter("width", 0, ParameterDescriptor(
            description="output width in pixels; 0 = source width (or keep aspect when only height is set)",
            integer_range=[IntegerRange(from_value=0, to_value=8192, step=1)]))
        self.declare_parameter("height", 0, ParameterDescriptor(
            description="output height in pixels; 0 = source height (or keep aspect when only width is set)",
            integer_range=[IntegerRange(from_value=0, to_value=8192, step=1)]))
        self.declare_parameter("frame_id", "camera_optical_frame", ParameterDescriptor(
            description="header.frame_id of the published images"))
        self.declare_parameter("encoding", "rgb8", ParameterDescriptor(
            description=f"image encoding, one of {', '.join(ENCODINGS)}"))
        self.declare_parameter("frames_per_scene", 25, ParameterDescriptor(
            description="frames generated per scene of the demo sequence (pan/zoom steps)",
            integer_range=[IntegerRange(from_value=1, to_value=1000, step=1)]))

        self._source: FrameSource = self._open(self._str("source"), self._str("bag_topic"),
                                               self.get_parameter("frames_per_scene").value)
        self._frames: Iterator[np.ndarray] = self._source.frames()
        self.published = 0
        self.passes = 0
        self.finished = False
        self._pub = self.create_publisher(Image, "camera/image_raw", qos_profile_sensor_data)
        self._timer = self.create_timer(1.0 / self.get_parameter("rate_hz").value, self._tick)
        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._apply)
        self.get_logger().info(
            f"publishing {self._source.kind} '{self._source.location}' on {self._pub.topic_name} at "
            f"{self.get_parameter('rate_hz').value:g} Hz (loop={self.get_parameter('loop').value})")

    def _str(self, name: str) -> str:
        return str(self.get_parameter(name).value)

    @staticmethod
    def _open(spec: str, bag_topic: str, frames_per_scene: int) -> FrameSource:
        return open_source(spec, bag_topic or None, frames_per_scene=int(frames_per_scene))

    # ---- parameters ---------------------------------------------------------------------------
    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        new = {p.name: p.value for p in params}
        if "encoding" in new and new["encoding"] not in ENCODINGS:
            return SetParametersResult(successful=False, reason=f"encoding must be one of {ENCODINGS}")
        if {"source", "bag_topic", "frames_per_scene"} & new.keys():
            try:  # open now so a bad source is refused with a reason instead of failing later
                self._pending = self._open(str(new.get("source", self._str("source"))),
                                           str(new.get("bag_topic", self._str("bag_topic"))),
                                           int(new.get("frames_per_scene", self.get_parameter("frames_per_scene").value)))
            except FrameSourceError as err:
                return SetParametersResult(successful=False, reason=str(err))
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        names = {p.name for p in params}
        if names & {"source", "bag_topic", "frames_per_scene"}:
            self._source = self._pending
            self._frames = self._source.frames()
            self.finished = False
            self.get_logger().info(f"source now {self._source.kind} '{self._source.location}'")
        if "rate_hz" in names:
            self._timer.cancel()
            self.destroy_timer(self._timer)
            self._timer = self.create_timer(1.0 / self.get_parameter("rate_hz").value, self._tick)

    # ---- publishing ---------------------------------------------------------------------------
    def _next_frame(self) -> np.ndarray | None:
        frame = next(self._frames, None)
        if frame is None:
            self.passes += 1
            if not self.get_parameter("loop").value:
                return None
            self._frames = self._source.frames()
            frame = next(self._frames, None)
        return frame

    def _tick(self) -> None:
        if self.finished:
            return
        try:
            rgb = self._next_frame()
        except FrameSourceError as err:
            self.get_logger().error(f"source failed: {err}", throttle_duration_sec=5.0)
            return
        if rgb is None:
            self.finished = True
            self.get_logger().info(f"end of source after {self.published} frames")
            return
        rgb = _resize(rgb, self.get_parameter("width").value, self.get_parameter("height").value)
        msg = Image()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = self._str("frame_id")
        images.fill_image_msg(msg, rgb, self._str("encoding"))
        self._pub.publish(msg)
        self.published += 1


def main(argv: list[str] | None = None) -> int:
    def make() -> CameraReplay:
        try:
            return CameraReplay()
        except FrameSourceError as err:
            raise StartupError(str(err)) from None

    return run_node("camera_replay", make, threads=1, args=argv, until=lambda node: node.finished)


if __name__ == "__main__":
    sys.exit(main())
