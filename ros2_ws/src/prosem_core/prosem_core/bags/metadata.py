"""metadata.yaml of a rosbag2 bag folder: read (format versions 1..9) and write (version 9).

Written as rosbag2's SequentialWriter writes it at the end of a recording: per topic its type,
serialization format, every offered QoS profile, RIHS01 type hash and message count; the storage
files with their time ranges and counts; the ROS distro that recorded it; `custom_data` an empty
map (rosbag2 cannot read a null there).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from prosem_core.bags.errors import BagError
from prosem_core.bags.qos import OfferedQos, QosError, profiles_from, to_yaml

METADATA_FILE = "metadata.yaml"
FORMAT_VERSION = 9
TOP_KEY = "rosbag2_bagfile_information"


@dataclass(frozen=True)
class TopicMetadata:
    name: str
    msgtype: str
    message_count: int
    qos: tuple[OfferedQos, ...] = ()
    type_hash: str = ""
    serialization_format: str = "cdr"


@dataclass(frozen=True)
class FileMetadata:
    path: str
    starting_time_ns: int
    duration_ns: int
    message_count: int


@dataclass
class BagMetadata:
    storage_identifier: str
    relative_file_paths: list[str]
    topics: list[TopicMetadata]
    starting_time_ns: int = 0
    duration_ns: int = 0
    message_count: int = 0
    files: list[FileMetadata] = field(default_factory=list)
    compression_format: str = ""
    compression_mode: str = ""
    ros_distro: str = ""
    custom_data: dict[str, str] = field(default_factory=dict)
    version: int = FORMAT_VERSION


def _ns(node, key: str) -> int:
    value = node.get(key) if isinstance(node, dict) else None
    if value is None:
        raise BagError(f"expected {{{key}: <int>}}, got {node!r}")
    return int(value)


def read_metadata(folder: str | Path) -> BagMetadata:
    """Parse `folder/metadata.yaml`; BagError saying which key is wrong when it is not rosbag2's."""
    import yaml

    path = Path(folder) / METADATA_FILE
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as err:
        raise BagError(f"cannot read {path}: {err}") from err
    except yaml.YAMLError as err:
        raise BagError(f"{path} is not YAML: {err}") from err
    info = doc.get(TOP_KEY) if isinstance(doc, dict) else None
    if not isinstance(info, dict):
        raise BagError(f"{path} has no '{TOP_KEY}' mapping: not a rosbag2 metadata file")
    try:
        topics = []
        for entry in info.get("topics_with_message_count") or []:
            meta = entry["topic_metadata"]
            topics.append(TopicMetadata(
                name=str(meta["name"]),
                msgtype=str(meta["type"]),
                message_count=int(entry.get("message_count", 0)),
                qos=tuple(profiles_from(meta.get("offered_qos_profiles"))),
                type_hash=str(meta.get("type_description_hash") or ""),
                serialization_format=str(meta.get("serialization_format") or "cdr"),
            ))
        files = [FileMetadata(str(f["path"]), _ns(f.get("starting_time"), "nanoseconds_since_epoch"),
                              _ns(f.get("duration"), "nanoseconds"), int(f.get("message_count", 0)))
                 for f in info.get("files") or []]
        return BagMetadata(
            version=int(info["version"]),
            storage_identifier=str(info.get("storage_identifier") or ""),
            relative_file_paths=[str(p) for p in info.get("relative_file_paths") or []],
            topics=topics,
            starting_time_ns=_ns(info.get("starting_time", {"nanoseconds_since_epoch": 0}), "nanoseconds_since_epoch"),
            duration_ns=_ns(info.get("duration", {"nanoseconds": 0}), "nanoseconds"),
            message_count=int(info.get("message_count", 0)),
            files=files,
            compression_format=str(info.get("compression_format") or ""),
            compression_mode=str(info.get("compression_mode") or ""),
            ros_distro=str(info.get("ros_distro") or ""),
            custom_data={str(k): str(v) for k, v in (info.get("custom_data") or {}).items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError, QosError) as err:
        raise BagError(f"{path} is not valid rosbag2 metadata ({type(err).__name__}: {err})") from err


def metadata_document(meta: BagMetadata) -> dict:
    """The version-9 document, keys in rosbag2's order."""
    return {TOP_KEY: {
        "version": FORMAT_VERSION,
        "storage_identifier": meta.storage_identifier,
        "duration": {"nanoseconds": int(meta.duration_ns)},
        "starting_time": {"nanoseconds_since_epoch": int(meta.starting_time_ns)},
        "message_count": int(meta.message_count),
        "topics_with_message_count": [
            {"topic_metadata": {
                "name": t.name,
                "type": t.msgtype,
                "serialization_format": t.serialization_format,
                "offered_qos_profiles": [to_yaml(q) for q in t.qos],
                "type_description_hash": t.type_hash,
            }, "message_count": int(t.message_count)}
            for t in meta.topics
        ],
        "compression_format": meta.compression_format,
        "compression_mode": meta.compression_mode,
        "relative_file_paths": list(meta.relative_file_paths),
        "files": [{"path": f.path,
                   "starting_time": {"nanoseconds_since_epoch": int(f.starting_time_ns)},
                   "duration": {"nanoseconds": int(f.duration_ns)},
                   "message_count": int(f.message_count)} for f in meta.files],
        "custom_data": dict(meta.custom_data),
        "ros_distro": meta.ros_distro,
    }}


def metadata_text(meta: BagMetadata, top_key: bool = True) -> str:
    import yaml

    doc = metadata_document(meta)
    return yaml.safe_dump(doc if top_key else doc[TOP_KEY], default_flow_style=False, sort_keys=False)


def write_metadata(folder: str | Path, meta: BagMetadata) -> Path:
    """Write metadata.yaml atomically (a reader never sees half a file)."""
    path = Path(folder) / METADATA_FILE
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(metadata_text(meta))
    os.replace(tmp, path)
    return path
