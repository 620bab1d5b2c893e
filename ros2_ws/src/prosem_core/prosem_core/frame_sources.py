"""Camera frames for machines without a camera: a folder of images, a video file, a bag, or the
bundled demo sequence. ROS-free (the `camera_replay` node publishes what these yield).

    source = open_source("demo:cat,coffee")    # or a folder, a video file, a bag folder
    for rgb in source.frames():                 # RGB uint8 HxWx3, a fresh pass each call
        ...

The demo sequence is generated deterministically at run time from photos that ship inside
scikit-image (and one easy-VQA test image), as slow pan/zoom crops at 640x480, so nothing large is
committed and every run sees the same pixels.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
DEMO_SIZE = (640, 480)  # width, height of a typical robot camera
DEMO_FRAMES_PER_SCENE = 25  # 5 s at 5 fps


class FrameSourceError(ValueError):
    """A frame source that cannot be opened or read (missing path, no images, unreadable video...)."""


@dataclass(frozen=True)
class DemoScene:
    name: str
    description: str  # what a viewer sees; the demo's questions are about it
    load: Callable[[], np.ndarray]
    pan_zoom: bool = True  # False: the whole picture, still (easy-VQA shapes must stay whole)


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from skimage import data

        return np.ascontiguousarray(getattr(data, name)()[:, :, :3])

    return load


def _easy_vqa_test_image(index: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import cv2
        import easy_vqa

        path = easy_vqa.get_test_image_paths()[index]
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameSourceError(f"cannot read easy-VQA test image {path}")
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    return load


DEMO_SCENES: dict[str, DemoScene] = {
    "cat": DemoScene("cat", "a tabby cat (skimage chelsea)", _skimage("chelsea")),
    "coffee": DemoScene("coffee", "a cup of coffee (skimage coffee)", _skimage("coffee")),
    "rocket": DemoScene("rocket", "a rocket on its launch pad (skimage rocket)", _skimage("rocket")),
    "astronaut": DemoScene("astronaut", "an astronaut portrait (skimage astronaut)", _skimage("astronaut")),
    # easy-VQA test image 0: a red triangle on white (its questions: test split, image_id 0).
    "shapes": DemoScene("shapes", "a red triangle (easy-VQA test image 0)", _easy_vqa_test_image(0), pan_zoom=False),
}
DEFAULT_DEMO = ("cat", "coffee", "rocket", "shapes")


def pan_zoom_frames(photo: np.ndarray, n: int, size: tuple[int, int] = DEMO_SIZE, pan_zoom: bool = True) -> list[np.ndarray]:
    """`n` frames of `size` (w, h) moving slowly over `photo`: zoom 1.0 -> 1.25 while panning
    from the left third to the right third, like a robot camera drifting. Deterministic."""
    import cv2

    out_w, out_h = size
    h, w = photo.shape[:2]
    frames = []
    for i in range(n):
        if not pan_zoom:
            crop = photo
        else:
            t = i / max(1, n - 1)
            zoom = 1.0 + 0.25 * t
            # Largest window of the output's aspect ratio that fits, shrunk by the zoom.
            cw = min(w, h * out_w / out_h) / zoom
            ch = cw * out_h / out_w
            x0 = (w - cw) * (0.2 + 0.6 * t)
            y0 = (h - ch) * 0.5
            crop = photo[int(round(y0)) : int(round(y0 + ch)), int(round(x0)) : int(round(x0 + cw))]
        interp = cv2.INTER_AREA if crop.shape[1] > out_w else cv2.INTER_LINEAR
        frames.append(np.ascontiguousarray(cv2.resize(crop, (out_w, out_h), interpolation=interp)))
    return frames


def demo_frames(scenes: tuple[str, ...] = DEFAULT_DEMO, frames_per_scene: int = DEMO_FRAMES_PER_SCENE,
                size: tuple[int, int] = DEMO_SIZE) -> list[tuple[str, np.ndarray]]:
    """(scene name, frame) for the bundled demo sequence, scene after scene."""
    unknown = [s for s in scenes if s not in DEMO_SCENES]
    if unknown:
        raise FrameSourceError(f"unknown demo scene(s) {unknown}; known: {sorted(DEMO_SCENES)}")
    out = []
    for name in scenes:
        scene = DEMO_SCENES[name]
        out.extend((name, f) for f in pan_zoom_frames(scene.load(), frames_per_scene, size, scene.pan_zoom))
    return out


@dataclass
class FrameSource:
    """A named, re-readable stream of RGB frames."""

    kind: str  # demo | folder | video | bag
    location: str
    _frames: Callable[[], Iterator[np.ndarray]]

    def frames(self) -> Iterator[np.ndarray]:
        """A fresh pass over the frames (call again to loop)."""
        return self._frames()


def _folder_frames(files: list[Path]) -> Iterator[np.ndarray]:
    import cv2

    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FrameSourceError(f"cannot decode image {path}")
        yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _video_frames(path: Path) -> Iterator[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise FrameSourceError(f"OpenCV cannot open video {path}")
        while True:
            ok, bgr = cap.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def open_source(spec: str, bag_topic: str | None = None,
                frames_per_scene: int = DEMO_FRAMES_PER_SCENE) -> FrameSource:
    """Open a frame source from a string:

    - "" or "demo": the bundled demo sequence; "demo:cat,shapes": those scenes only;
    - a bag: a rosbag2 folder (with or without metadata.yaml) or a bare .mcap/.db3 file (its only
      Image/CompressedImage topic, or `bag_topic`);
    - another folder: its image files in name order;
    - a file: a video OpenCV can read.
    Fails early (FrameSourceError) when nothing can be read.
    """
    if spec in ("", "demo") or spec.startswith("demo:"):
        names = tuple(s for s in spec.partition(":")[2].split(",") if s) or DEFAULT_DEMO
        frames = [f for _, f in demo_frames(names, frames_per_scene)]
        return FrameSource("demo", ",".join(names), lambda: iter(frames))
    path = Path(spec).expanduser()
    from prosem_core import bags

    if bags.is_bag(path):
        option = "bag_topic"
        try:
            first = next(bags.read_images(path, bag_topic, topic_option=option), None)
        except bags.BagError as err:
            raise FrameSourceError(str(err)) from err
        if first is None:
            raise FrameSourceError(f"bag {path} has no camera frames")
        return FrameSource("bag", str(path), lambda: (rgb for _, rgb in bags.read_images(path, bag_topic, option)))
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise FrameSourceError(f"folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return FrameSource("folder", str(path), lambda: _folder_frames(files))
    if path.is_file():
        if next(_video_frames(path), None) is None:
            raise FrameSourceError(f"video {path} has no readable frames")
        return FrameSource("video", str(path), lambda: _video_frames(path))
    raise FrameSourceError(f"frame source {spec!r} is neither 'demo[:scenes]', a folder, a bag nor a video file")
