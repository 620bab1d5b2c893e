"""rosbag2 bags without ROS: the standard layout (metadata.yaml + .mcap), written and read here,
message types (definitions, RIHS01 hashes, CDR) through `rosbags`.

What is written is what `ros2 bag record` writes (writer.py); what is read is what `ros2 bag play`
reads (reader.py): rosbag2 folders, folders without metadata.yaml, bare .mcap/.db3 files, split,
sqlite3 and zstd-compressed bags, and .mcap files cut short by a crash (mcap_reader.py scans them).

The ROS side of recording and playing (subscriptions, publishers, timing) lives in the ROS-side
glue package above the core (`prosem bag record|play`); this package never imports rclpy.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from prosem_core.bags.errors import BagError
from prosem_core.bags.qos import INFINITE_NS, OfferedQos, playback_profile
from prosem_core.bags.reader import Bag, BagMessage, BagSummary, BagTopic, is_bag, open_bag, summarize
from prosem_core.bags.types import (
    COMPRESSED_IMAGE_TYPE,
    IMAGE_TYPE,
    IMAGE_TYPES,
    PROSEM_MSGS,
    deserialize,
    ensure_type,
    find_msg_file,
    message_class,
    message_definition,
    serialize,
    type_hash,
    typestore,
)
from prosem_core.bags.writer import BagWriter

__all__ = [
    "COMPRESSED_IMAGE_TYPE", "IMAGE_TYPE", "IMAGE_TYPES", "INFINITE_NS", "PROSEM_MSGS",
    "Bag", "BagError", "BagMessage", "BagSummary", "BagTopic", "BagWriter", "OfferedQos",
    "bag_topics", "deserialize", "ensure_type", "find_msg_file", "image_cdr", "is_bag", "message_class",
    "message_definition", "open_bag", "playback_profile", "read_images", "read_messages", "serialize",
    "summarize", "type_hash", "typestore",
]


def bag_topics(path: str | Path) -> dict[str, BagTopic]:
    """Topics of a bag with their type, message count and offered QoS."""
    with Bag(path) as bag:
        return dict(bag.topics)


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Raw messages of a bag in log-time order, optionally only of some topics."""
    with Bag(path) as bag:
        yield from bag.messages(topics)


def read_images(path: str | Path, topic: str | None = None,
                topic_option: str = "a topic") -> Iterator[tuple[int, np.ndarray]]:
    """(stamp ns, RGB uint8 HxWx3) for each camera frame of a bag.

    `topic` None picks the only Image/CompressedImage topic of the bag; with several, the error
    asks the caller to name one, in the words of `topic_option` (the caller's parameter, e.g. "the
    bag_topic parameter"). The stamp is the frame's header stamp (capture time), or the recording
    time when the header has none.
    """
    from prosem_core import images  # msg <-> numpy, one module for the whole project

    with Bag(path) as bag:
        image_topics = {name: t for name, t in bag.topics.items() if t.msgtype in IMAGE_TYPES}
        if topic is None:
            if len(image_topics) != 1:
                raise BagError(f"bag {path} has {len(image_topics)} image topics {sorted(image_topics)}; "
                               f"name one with {topic_option}")
            topic = next(iter(image_topics))
        elif topic not in image_topics:
            raise BagError(f"bag {path} has no Image/CompressedImage topic {topic!r} (has {sorted(image_topics)})")
        msgtype = image_topics[topic].msgtype
        for msg in bag.messages([topic]):
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
