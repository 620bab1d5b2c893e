"""Message types for bags without ROS: definitions, RIHS01 hashes and CDR, through `rosbags`.

A robot's `ros2 bag play` must accept what we write, so message definitions and type hashes come
from the real .msg files: the ROS 2 Kilted store of `rosbags` for the standard types, plus every
other type (prosem_msgs, a robot's own packages) registered from its .msg file, found through
AMENT_PREFIX_PATH (as installed) or in this source tree. The hashes then match what rosidl generates.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from prosem_core.bags.errors import BagError

# Our own interface package; its types are registered from the .msg files wherever they are found.
PROSEM_MSGS = "prosem_msgs"
IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE_TYPE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE_TYPE, COMPRESSED_IMAGE_TYPE)


def _share_dirs() -> list[Path]:
    """share/ folders to search for interface definitions: the ament prefixes, then this tree."""
    dirs = [Path(p) / "share" for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    # Source checkout: ros2_ws/src/prosem_core/prosem_core/bags/types.py -> ros2_ws/src
    dirs.append(Path(__file__).resolve().parents[3])
    return dirs


def split_type(msgtype: str) -> tuple[str, str, str]:
    parts = msgtype.split("/")
    if len(parts) != 3 or not all(parts):
        raise BagError(f"message type {msgtype!r} is not of the form package/msg/Name")
    return parts[0], parts[1], parts[2]


def find_msg_file(msgtype: str) -> Path | None:
    """The .msg file of `pkg/msg/Name`, or None when no share/ folder (or source tree) has it."""
    pkg, kind, name = split_type(msgtype)
    for share in _share_dirs():
        candidate = share / pkg / kind / f"{name}.msg"
        if candidate.is_file():
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def typestore():
    """The type store of the running distro ($ROS_DISTRO when rosbags has it, else Kilted's) with
    prosem_msgs registered from its .msg files (cached)."""
    from rosbags.typesys import Stores, get_typestore

    distro = os.environ.get("ROS_DISTRO", "").strip().upper()
    store = get_typestore(Stores.__members__.get(f"ROS2_{distro}", Stores.ROS2_KILTED))
    for name in ("SemanticLayer", "LayerFeedback", "LinkState"):
        _register_from_msg(store, f"{PROSEM_MSGS}/msg/{name}")
    return store


def _register_from_msg(store, msgtype: str) -> None:
    from rosbags.typesys import get_types_from_msg

    path = find_msg_file(msgtype)
    if path is None:
        raise BagError(
            f"no definition of {msgtype}: looked for {'/'.join(split_type(msgtype))}.msg under "
            f"AMENT_PREFIX_PATH share/ folders and the source tree (source the workspace that has it)"
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


def message_definition(msgtype: str) -> str:
    """The ros2msg schema text of a type with all its dependencies (what an .mcap schema holds)."""
    ensure_type(msgtype)
    text, _ = typestore().generate_msgdef(msgtype, ros_version=2)
    return text


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
