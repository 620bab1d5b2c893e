"""camera_replay and its frame sources: demo sequence, folder, video, bag; the node in-process."""
from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from prosem_core import bags
from prosem_core.frame_sources import DEMO_SCENES, FrameSourceError, demo_frames, open_source


def _write_pngs(folder, n=3, size=(40, 30)):
    folder.mkdir()
    frames = []
    for i in range(n):
        rgb = np.random.default_rng(i).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"frame_{i:03d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        frames.append(rgb)
    (folder / "notes.txt").write_text("not an image")
    return frames


def test_demo_sequence_is_deterministic_640x480():
    a = demo_frames(("cat", "shapes"), frames_per_scene=3)
    b = demo_frames(("cat", "shapes"), frames_per_scene=3)
    assert [n for n, _ in a] == ["cat"] * 3 + ["shapes"] * 3
    assert all(f.shape == (480, 640, 3) and f.dtype == np.uint8 for _, f in a)
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
    assert not np.array_equal(a[0][1], a[2][1]), "the camera pans/zooms within a scene"
    assert np.array_equal(a[3][1], a[5][1]), "the shapes scene stays whole and still"
    # The easy-VQA scene is a red triangle: red pixels present, mostly white background.
    shapes = a[3][1].astype(int)
    red = (shapes[..., 0] > 150) & (shapes[..., 1] < 100) & (shapes[..., 2] < 100)
    assert 0.005 < red.mean() < 0.6
    assert set(DEMO_SCENES) >= {"cat", "coffee", "rocket", "shapes"}


def test_sources_folder_video_bag_and_errors(tmp_path):
    frames = _write_pngs(tmp_path / "imgs")
    src = open_source(str(tmp_path / "imgs"))
    assert src.kind == "folder"
    got = list(src.frames())
    assert len(got) == 3 and all(np.array_equal(g, f) for g, f in zip(got, frames))
    assert len(list(src.frames())) == 3, "each call is a fresh pass"

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    vid = list(open_source(str(video)).frames())
    assert len(vid) == 5 and vid[0].shape == (48, 64, 3)
    assert abs(int(vid[3].mean()) - 120) < 6

    with bags.BagWriter(tmp_path / "bag") as bag:
        bag.add_topic("/cam", bags.IMAGE_TYPE)
        for i, f in enumerate(frames):
            bag.write("/cam", 1000 + i, bags.image_cdr(f, 1000 + i))
    from_bag = list(open_source(str(tmp_path / "bag")).frames())
    assert all(np.array_equal(g, f) for g, f in zip(from_bag, frames)) and len(from_bag) == 3

    (tmp_path / "empty").mkdir()
    for bad, match in [(tmp_path / "empty", "no images"), (tmp_path / "nope.mp4", "neither"),
                       (tmp_path / "imgs" / "notes.txt", "cannot open video")]:
        with pytest.raises(FrameSourceError, match=match):
            open_source(str(bad))
    with pytest.raises(FrameSourceError, match="unknown demo scene"):
        open_source("demo:unicorn")


@pytest.fixture
def ctx():
    import rclpy
    from rclpy.context import Context

    c = Context()
    rclpy.init(context=c)
    yield c
    rclpy.shutdown(context=c)


def test_node_publishes_folder_once_resized(tmp_path, ctx):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from prosem_core import images
    from prosem_edge.camera_replay import CameraReplay

    frames = _write_pngs(tmp_path / "imgs", size=(40, 30))
    node = CameraReplay(context=ctx, parameter_overrides=[
        Parameter("source", value=str(tmp_path / "imgs")), Parameter("rate_hz", value=20.0),
        Parameter("loop", value=False), Parameter("width", value=80), Parameter("frame_id", value="cam_x")])
    sink = rclpy.create_node("sink", context=ctx)
    got = []
    sink.create_subscription(Image, "camera/image_raw", got.append, qos_profile_sensor_data)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    ex.add_node(sink)
    # The publisher waits for nothing: give discovery a moment before the timer starts publishing.
    end = time.monotonic() + 10
    while not node.finished and time.monotonic() < end:
        ex.spin_once(timeout_sec=0.05)
    for _ in range(10):
        ex.spin_once(timeout_sec=0.02)
    assert node.finished and node.published == 3
    assert 1 <= len(got) <= 3  # sensor-data QoS is best effort; an early frame may precede matching
    last = got[-1]
    assert (last.width, last.height, last.encoding, last.header.frame_id) == (80, 60, "rgb8", "cam_x")
    want = cv2.resize(frames[2], (80, 60), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(images.image_msg_to_rgb(last), want)

    # Bad values are refused with a reason and change nothing.
    for name, value in [("encoding", "yuv422"), ("rate_hz", 0.0), ("source", str(tmp_path / "missing"))]:
        result = node.set_parameters([Parameter(name, value=value)])[0]
        assert not result.successful and result.reason
    assert node.get_parameter("encoding").value == "rgb8"
    # The rate can change while running: the timer is rebuilt with the new period.
    assert node.set_parameters([Parameter("rate_hz", value=10.0)])[0].successful
    assert node._timer.timer_period_ns == 100_000_000
    # A good new source is taken: the demo's shapes scene, 2 frames.
    assert node.set_parameters([Parameter("source", value="demo:shapes"), Parameter("frames_per_scene", value=2)])[0].successful
    assert not node.finished and node._source.kind == "demo"
    ex.shutdown()
    node.destroy_node()
    sink.destroy_node()


def test_every_parameter_has_a_description(ctx):
    from prosem_edge.camera_replay import CameraReplay

    node = CameraReplay(context=ctx)
    try:
        for name in node._parameters:
            if name == "use_sim_time":
                continue
            assert node.describe_parameter(name).description, name
    finally:
        node.destroy_node()
