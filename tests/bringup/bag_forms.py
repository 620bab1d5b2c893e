"""Bags in the forms a robot meets, written with tools this project did not write.

.mcap files come from Foxglove's `mcap` writer, messages are CDR-encoded by `mcap-ros2-support`
from their message definitions; sqlite3 and compressed bags from `rosbags`; metadata.yaml is written
here, straight from rosbag2's documented layout (not through prosem_core). Everything is generated
at test time from a seed; no binary bag is committed.

The oracles are independent too: `complete_chunk_messages` counts what Foxglove's streaming reader
yields from a cut file before it stops, `records_before` finds each message's bytes in an
uncompressed file.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from mcap.reader import NonSeekingReader
from mcap.writer import CompressionType, Writer
from mcap_ros2._dynamic import serialize_dynamic

SEP = "=" * 80
SHARE = Path(os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)[0] or ".") / "share"


def _msg_file(msgtype: str) -> str:
    pkg, kind, name = msgtype.split("/")
    return (SHARE / pkg / kind / f"{name}.msg").read_text()


def ros2msg(msgtype: str, deps: tuple[str, ...] = ()) -> str:
    """ros2msg schema text: the type's .msg, then each dependency after a separator line."""
    text = _msg_file(msgtype)
    for dep in deps:
        short = dep.replace("/msg/", "/")
        text += f"\n{SEP}\nMSG: {short}\n{_msg_file(dep)}"
    return text


# A type no ROS installation here has: its messages can be read raw but not played.
WIDGET = "acme_msgs/msg/Widget"
WIDGET_DEF = "string name\nfloat64 size\nuint32[] parts\n"


def schema_text(msgtype: str) -> str:
    if msgtype == WIDGET:
        return WIDGET_DEF
    if msgtype == "sensor_msgs/msg/Image":
        return ros2msg(msgtype, ("std_msgs/msg/Header", "builtin_interfaces/msg/Time"))
    return ros2msg(msgtype)


@dataclass
class Sample:
    topic: str
    msgtype: str
    fields: dict
    log_time: int
    publish_time: int


def samples(seed: int, n: int, t0: int = 1_700_000_000_000_000_000, with_widget: bool = False,
            with_image: bool = False, step_ns: int = 10_000_000) -> list[Sample]:
    """`n` messages on /chatter (std_msgs/String, distinct text), optionally interleaved with acme
    Widgets and small camera Images, 10 ms apart; publish time 1..3 ms before the log time."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = t0 + i * step_ns
        sent = t - int(rng.integers(1_000_000, 3_000_000))
        kind = i % 3 if (with_widget or with_image) else 0
        if kind == 1 and with_widget:
            out.append(Sample("/widgets", WIDGET, {"name": f"w{i}", "size": float(rng.random()),
                                                  "parts": [int(x) for x in rng.integers(0, 9, 3)]}, t, sent))
        elif kind == 2 and with_image:
            pixels = rng.integers(0, 256, 4 * 6 * 3, dtype=np.uint8).tobytes()
            out.append(Sample("/camera/image_raw", "sensor_msgs/msg/Image", {
                "header": {"stamp": {"sec": 100 + i, "nanosec": 7}, "frame_id": "cam"},
                "height": 4, "width": 6, "encoding": "rgb8", "is_bigendian": 0, "step": 18, "data": pixels}, t, sent))
        else:
            out.append(Sample("/chatter", "std_msgs/msg/String",
                              {"data": f"msg {i} " + "x" * int(rng.integers(10, 200))}, t, sent))
    return out


COMPRESSION = {"zstd": CompressionType.ZSTD, "lz4": CompressionType.LZ4, "none": CompressionType.NONE}


def write_mcap(path: Path, messages: list[Sample], compression: str = "zstd", chunk_size: int = 4096,
               channel_metadata: dict[str, dict[str, str]] | None = None) -> list[bytes]:
    """An .mcap file (profile ros2) holding `messages`; returns each message's CDR bytes in order."""
    encoders, schemas, channels, encoded = {}, {}, {}, []
    with open(path, "wb") as f:
        w = Writer(f, chunk_size=chunk_size, compression=COMPRESSION[compression])
        w.start(profile="ros2", library="bag_forms")
        for m in messages:
            if m.msgtype not in schemas:
                text = schema_text(m.msgtype)
                schemas[m.msgtype] = w.register_schema(m.msgtype, "ros2msg", text.encode())
                encoders[m.msgtype] = serialize_dynamic(m.msgtype, text)[m.msgtype]
            if m.topic not in channels:
                channels[m.topic] = w.register_channel(m.topic, "cdr", schemas[m.msgtype],
                                                       (channel_metadata or {}).get(m.topic, {}))
            data = encoders[m.msgtype](m.fields)
            encoded.append(data)
            w.add_message(channels[m.topic], log_time=m.log_time, publish_time=m.publish_time, data=data, sequence=0)
        w.finish()
    return encoded


def qos_dict(reliability: str = "reliable", durability: str = "volatile", depth: int = 10,
             lifespan_ns: int = 0, version: int = 9) -> dict:
    """One offered QoS profile as rosbag2 writes it (version 9: names; <= 8: rmw enum values)."""
    def t(ns: int) -> dict:
        return {"sec": ns // 1_000_000_000, "nsec": ns % 1_000_000_000}

    names = {"reliable": 1, "best_effort": 2, "volatile": 2, "transient_local": 1, "keep_last": 1, "automatic": 1}
    pick = (lambda s: s) if version >= 9 else (lambda s: names[s])
    return {"history": pick("keep_last"), "depth": depth, "reliability": pick(reliability), "durability": pick(durability),
            "deadline": t(0), "lifespan": t(lifespan_ns), "liveliness": pick("automatic"),
            "liveliness_lease_duration": t(0), "avoid_ros_namespace_conventions": False}


def write_metadata(folder: Path, files: list[str], topics: list[tuple[str, str, int, list[dict]]],
                   storage: str = "mcap", version: int = 9, message_count: int | None = None) -> None:
    """metadata.yaml as rosbag2 writes it; `topics`: (name, type, count, offered QoS dicts)."""
    total = sum(t[2] for t in topics) if message_count is None else message_count
    info = {
        "version": version, "storage_identifier": storage,
        "duration": {"nanoseconds": 1}, "starting_time": {"nanoseconds_since_epoch": 1},
        "message_count": total,
        "topics_with_message_count": [
            {"topic_metadata": {"name": n, "type": ty, "serialization_format": "cdr",
                                "offered_qos_profiles": q if version >= 9 else yaml.safe_dump(q),
                                "type_description_hash": ""}, "message_count": c}
            for n, ty, c, q in topics],
        "compression_format": "", "compression_mode": "", "relative_file_paths": files,
        "files": [{"path": f, "starting_time": {"nanoseconds_since_epoch": 1}, "duration": {"nanoseconds": 1},
                   "message_count": 0} for f in files],
        "custom_data": {}, "ros_distro": "jazzy",
    }
    (folder / "metadata.yaml").write_text(yaml.safe_dump({"rosbag2_bagfile_information": info}, sort_keys=False))


def complete_chunk_messages(data: bytes) -> int:
    """Messages Foxglove's streaming reader yields from (possibly cut) MCAP bytes before it stops."""
    count = 0
    try:
        for _ in NonSeekingReader(io.BytesIO(data)).iter_messages(log_time_order=False):
            count += 1
    except Exception:  # the cut: EndOfFile, a short record, ...
        pass
    return count


def records_before(data: bytes, payloads: list[bytes], cut: int) -> int:
    """How many of `payloads` (in file order, uncompressed storage) lie entirely before byte `cut`."""
    pos, count = 0, 0
    for p in payloads:
        at = data.find(p, pos)
        assert at >= 0, "payload not found: the file is not uncompressed"
        pos = at + len(p)
        count += pos <= cut
    return count
