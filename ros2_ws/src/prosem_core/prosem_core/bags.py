"""rosbag2 bags without ROS: the standard layout (metadata.yaml + .mcap), read and written with `rosbags`.

A robot's `ros2 bag play` must accept what we write, so message definitions and type hashes
(RIHS01) come from the real .msg files: the ROS 2 Kilted store of `rosbags` for the standard
types, plus prosem_msgs registered from its own .msg files (found through AMENT_PREFIX_PATH, as
installed, or in this source tree). The hashes then match what rosidl generates.

The ROS side of recording and playing (subscriptions, publishers, timing) lives in the ROS-side
glue package above the core (`prosem bag record|play`); this module never imports rclpy.
"""
from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Our own interface package; its types are registered from the .msg files wherever they are found.
PROSEM_MSGS = "prosem_msgs"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)


class BagError(RuntimeError):
    """A bag cannot be read or written (missing, not rosbag2, unknown message type, ...)."""


# --------------------------------------------------------------------------------------------
# Message types
# --------------------------------------------------------------------------------------------
def _share_dirs() -> list[Path]:
    """share/ folders to search for interface definitions: the ament prefixes, then this tree."""
    dirs = [Path(p) / "share" for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    # Source checkout: ros2_ws/src/prosem_core/prosem_core/bags.py -> ros2_ws/src
    dirs.append(Path(__file__).resolve().parents[2])
    return dirs


def find_msg_file(msgtype: str) -> Path | None:
    """The .msg file of `pkg/msg/Name`, or None when no share/ folder (or source tree) has it."""
    pkg, kind, name = _split_type(msgtype)
    for share in _share_dirs():
        candidate = share / pkg / kind / f"{name}.msg"
        if candidate.is_file():
            return candidate
    return None


def _split_type(msgtype: str) -> tuple[str, str, str]:
    parts = msgtype.split("/")
    if len(parts) != 3 or not all(parts):
        raise BagError(f"message type {msgtype!r} is not of the form package/msg/Name")
    return parts[0], parts[1], parts[2]


@functools.lru_cache(maxsize=1)
def typestore():
    """The Kilted type store with prosem_msgs registered from its .msg files (cached)."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    for name in ("SemanticLayer", "LayerFeedback", "LinkState"):
        _register_from_msg(store, f"{PROSEM_MSGS}/msg/{name}")
    return store


def _register_from_msg(store, msgtype: str) -> None:
    from rosbags.typesys import get_types_from_msg

    path = find_msg_file(msgtype)
    if path is None:
        raise BagError(
            f"no definition of {msgtype}: looked for {'/'.join(_split_type(msgtype))}.msg under "
            f"AMENT_PREFIX_PATH share/ folders and the source tree"
        )
    types = get_types_from_msg(path.read_text(), msgtype)
    # Nested types of other packages (not in the store yet) are registered the same way.
    for _, fields in types.values():
        for _, desc in fields:
            for nested in _nested_type_names(desc):
                if nested not in store.fielddefs and nested not in types:
                    _register_from_msg(store, nested)
    store.register(types)


def _nested_type_names(desc) -> list[str]:
    """Message type names a rosbags field description refers to (NAME nodes, possibly in arrays)."""
    found: list[str] = []
    kind, detail = desc[0], desc[1]
    if getattr(kind, "name", "") == "NAME":
        found.append(detail)
    elif isinstance(detail, tuple) and detail and isinstance(detail[0], tuple):
        found.extend(_nested_type_names(detail[0]))
    return found


def ensure_type(msgtype: str) -> None:
    """Make `msgtype` known to the type store, loading its .msg when it is not a standard type."""
    store = typestore()
    if msgtype not in store.fielddefs:
        _register_from_msg(store, msgtype)


def type_hash(msgtype: str) -> str:
    """RIHS01 hash of a message type, as rosidl computes it."""
    ensure_type(msgtype)
    return typestore().hash_rihs01(msgtype)


def serialize(message: object, msgtype: str) -> bytes:
    """CDR bytes of a rosbags message object (as a ROS publisher would send them)."""
    ensure_type(msgtype)
    return bytes(typestore().serialize_cdr(message, msgtype))


def deserialize(data: bytes, msgtype: str) -> object:
    """A rosbags message object (fields as attributes, arrays as numpy) from CDR bytes."""
    ensure_type(msgtype)
    return typestore().deserialize_cdr(data, msgtype)


def message_class(msgtype: str):
    """The rosbags dataclass for `msgtype`, to build messages for `serialize`."""
    ensure_type(msgtype)
    return typestore().types[msgtype]


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QosSpec:
    """The QoS a topic was offered with, as a recorder saw it (stored in metadata.yaml)."""

    reliable: bool = True
    transient_local: bool = False
    depth: int = 10


class BagWriter:
    """Writes one rosbag2 bag (format version 9, one .mcap file) of raw CDR messages.

        with BagWriter(out_dir) as bag:
            bag.add_topic("/camera/image_raw", "sensor_msgs/msg/Image")
            bag.write("/camera/image_raw", stamp_ns, cdr_bytes)
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists; a bag is written to a new folder")
        self._writer = None
        self._connections: dict[str, object] = {}
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BagWriter:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[QosSpec] = ()) -> None:
        """Declare a topic before writing to it (once per topic)."""
        if self._writer is None:
            raise BagError("bag not open")
        if topic in self._connections:
            raise BagError(f"topic {topic} already added")
        ensure_type(msgtype)
        self._connections[topic] = self._writer.add_connection(
            topic, msgtype, typestore=typestore(), offered_qos_profiles=[_to_rosbags_qos(q) for q in qos]
        )
        self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """Append one message's CDR bytes, received at `stamp_ns` (ns since the epoch)."""
        connection = self._connections.get(topic)
        if connection is None:
            raise BagError(f"topic {topic} was not added to the bag")
        self._writer.write(connection, int(stamp_ns), bytes(data))
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the .mcap and write metadata.yaml (a bag is readable only after this)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _to_rosbags_qos(spec: QosSpec):
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    zero = QosTime(0, 0)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=int(spec.depth),
        reliability=QosReliability.RELIABLE if spec.reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if spec.transient_local else QosDurability.VOLATILE,
        # 0x7FFFFFFF s / 0xFFFFFFFF ns is how rmw writes "infinite"; zero reads back the same.
        deadline=zero,
        lifespan=zero,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=zero,
        avoid_ros_namespace_conventions=False,
    )


def _from_rosbags_qos(qos) -> QosSpec:
    return QosSpec(
        reliable=qos.reliability.name != "BEST_EFFORT",
        transient_local=qos.durability.name == "TRANSIENT_LOCAL",
        depth=max(1, int(qos.depth or 10)),
    )


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    stamp_ns: int  # receive time recorded in the bag
    data: bytes  # CDR


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int
    qos: list[QosSpec] = field(default_factory=list)


def _open_reader(bag_dir: str | Path):
    from rosbags.rosbag2 import Reader

    path = Path(bag_dir)
    if not (path / "metadata.yaml").is_file():
        raise BagError(f"{path} is not a rosbag2 bag (no metadata.yaml)")
    try:
        reader = Reader(path)
        reader.open()
    except Exception as err:  # rosbags raises several types; one clear error for callers
        raise BagError(f"cannot open bag {path}: {err}") from err
    return reader


def bag_topics(bag_dir: str | Path) -> dict[str, BagTopic]:
    """Topics of a bag with their type, message count and offered QoS."""
    reader = _open_reader(bag_dir)
    try:
        topics: dict[str, BagTopic] = {}
        for conn in reader.connections:
            qos = [_from_rosbags_qos(q) for q in getattr(conn.ext, "offered_qos_profiles", []) or []]
            prev = topics.get(conn.topic)
            count = conn.msgcount + (prev.count if prev else 0)
            topics[conn.topic] = BagTopic(conn.topic, conn.msgtype, count, qos or (prev.qos if prev else []))
        return topics
    finally:
        reader.close()


def read_messages(bag_dir: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Raw messages of a bag in timestamp order, optionally only of some topics."""
    wanted = set(topics) if topics is not None else None
    reader = _open_reader(bag_dir)
    try:
        if wanted is not None:
            missing = wanted - {c.topic for c in reader.connections}
            if missing:
                raise BagError(f"bag {bag_dir} has no topic(s) {sorted(missing)}")
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, stamp, data in reader.messages(connections=conns):
            yield BagMessage(conn.topic, conn.msgtype, int(stamp), bytes(data))
    finally:
        reader.close()


def read_images(bag_dir: str | Path, topic: str | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(stamp ns, RGB uint8 HxWx3) for each camera frame of a bag.

    `topic` None picks the only Image/CompressedImage topic of the bag (an error when there are
    several). The stamp is the frame's header stamp (capture time), or the recording time when
    the header has none.
    """
    from prosem_core import images  # msg <-> numpy, one module for the whole project

    topics = bag_topics(bag_dir)
    image_topics = {name: t for name, t in topics.items() if t.msgtype in IMAGE_TYPES}
    if topic is None:
        if len(image_topics) != 1:
            raise BagError(
                f"bag {bag_dir} has {len(image_topics)} image topics {sorted(image_topics)}; name one with topic="
            )
        topic = next(iter(image_topics))
    elif topic not in image_topics:
        raise BagError(f"bag {bag_dir} has no Image/CompressedImage topic {topic!r} (has {sorted(image_topics)})")
    msgtype = image_topics[topic].msgtype
    for msg in read_messages(bag_dir, [topic]):
        obj = deserialize(msg.data, msgtype)
        stamp = int(obj.header.stamp.sec) * 1_000_000_000 + int(obj.header.stamp.nanosec)
        yield (stamp or msg.stamp_ns), images.msg_to_rgb(obj)


def image_cdr(rgb: np.ndarray, stamp_ns: int, frame_id: str = "camera", encoding: str = "rgb8") -> bytes:
    """CDR bytes of a sensor_msgs/Image holding `rgb` (to write camera frames into a bag without ROS)."""
    from types import SimpleNamespace

    from prosem_core import images

    raw = images.fill_image_msg(SimpleNamespace(), rgb, encoding)
    Time = message_class("builtin_interfaces/msg/Time")
    Header = message_class("std_msgs/msg/Header")
    Image = message_class(IMAGE_TYPE)
    msg = Image(
        header=Header(stamp=Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000)), frame_id=frame_id),
        height=raw.height,
        width=raw.width,
        encoding=raw.encoding,
        is_bigendian=0,
        step=raw.step,
        data=np.frombuffer(raw.data, dtype=np.uint8),
    )
    return serialize(msg, IMAGE_TYPE)
