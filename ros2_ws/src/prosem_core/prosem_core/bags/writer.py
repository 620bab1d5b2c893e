"""Write a rosbag2 bag folder (format version 9, one .mcap file) as `ros2 bag record` writes it.

    with BagWriter(out_dir, ros_distro="jazzy") as bag:
        bag.add_topic("/prosem/layers", "prosem_msgs/msg/SemanticLayer", qos=offered, type_hash=hash_)
        bag.write("/prosem/layers", receive_time_ns, cdr_bytes, publish_time_ns=send_time_ns)

Like rosbag2: `<name>/<name>_0.mcap` plus metadata.yaml written when the bag closes (also stored
in the .mcap as the `rosbag2` metadata record), channel metadata `offered_qos_profiles` and
`topic_type_hash`, log time = receive time and publish time = the publisher's send time. Chunks
are closed when they reach `chunk_bytes` or when the oldest message in them is `chunk_max_age_s`
old (`flush_if_due`), and every closed chunk goes to disk: a recorder killed mid-run leaves a file
the reader recovers up to the last closed chunk.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from prosem_core.bags import types
from prosem_core.bags.errors import BagError
from prosem_core.bags.mcap_writer import McapWriter
from prosem_core.bags.metadata import BagMetadata, FileMetadata, TopicMetadata, metadata_text, write_metadata
from prosem_core.bags.qos import OfferedQos, profiles_to_text


def _library() -> str:
    try:
        return f"prosem_core {version('prosem_core')}"
    except PackageNotFoundError:
        return "prosem_core"


class BagWriter:
    """Writes one bag folder; see the module docstring."""

    def __init__(self, path: str | Path, *, ros_distro: str = "", chunk_bytes: int = 1 << 20,
                 chunk_max_age_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"{self.path} exists; a bag is written to a new folder")
        self.ros_distro = ros_distro
        self.chunk_bytes = chunk_bytes
        self.chunk_max_age_s = chunk_max_age_s
        self._clock = clock
        self._mcap: McapWriter | None = None
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._topics: dict[str, TopicMetadata] = {}
        self._sequence: dict[str, int] = {}
        self._chunk_opened: float | None = None
        self._times: tuple[int, int] | None = None
        self.counts: dict[str, int] = {}

    @property
    def storage_file(self) -> Path:
        return self.path / f"{self.path.name}_0.mcap"

    def __enter__(self) -> BagWriter:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True)
        except OSError as err:
            raise BagError(f"cannot create bag folder {self.path}: {err}") from err
        self._mcap = McapWriter(self.storage_file, library=_library(), chunk_bytes=self.chunk_bytes)

    def add_topic(self, topic: str, msgtype: str, qos: Sequence[OfferedQos] = (), type_hash: str | None = None) -> None:
        """Declare a topic before writing to it (once per topic). `qos`: what every publisher
        offered; `type_hash`: the publishers' RIHS01 hash (default: computed from the definition)."""
        if self._mcap is None:
            raise BagError("bag not open")
        if topic in self._channels:
            raise BagError(f"topic {topic} already added")
        definition = types.message_definition(msgtype)  # BagError when the type is unknown
        hash_ = type_hash or types.type_hash(msgtype)
        if msgtype not in self._schemas:
            self._schemas[msgtype] = self._mcap.add_schema(msgtype, "ros2msg", definition.encode())
        qos = tuple(qos)
        self._channels[topic] = self._mcap.add_channel(
            topic, self._schemas[msgtype], "cdr",
            {"offered_qos_profiles": profiles_to_text(qos), "topic_type_hash": hash_})
        self._topics[topic] = TopicMetadata(topic, msgtype, 0, qos, hash_)
        self._sequence[topic] = 0
        self.counts[topic] = 0

    def add_offered_qos(self, topic: str, qos: Sequence[OfferedQos]) -> None:
        """Profiles of publishers that appeared after `add_topic` (listed in metadata.yaml; the .mcap
        channel keeps the profiles it was created with, as in rosbag2)."""
        known = self._topics.get(topic)
        if known is None:
            raise BagError(f"topic {topic} was not added to the bag")
        if qos:
            self._topics[topic] = TopicMetadata(known.name, known.msgtype, 0, known.qos + tuple(qos), known.type_hash)

    def write(self, topic: str, log_time_ns: int, data: bytes, publish_time_ns: int | None = None) -> None:
        """Append one message's CDR bytes, received at `log_time_ns` and sent at `publish_time_ns`
        (ns since the epoch; the receive time when the sender's time is not known)."""
        channel = self._channels.get(topic)
        if channel is None:
            raise BagError(f"topic {topic} was not added to the bag")
        log_time_ns = int(log_time_ns)
        publish = int(publish_time_ns) if publish_time_ns else log_time_ns
        self._sequence[topic] += 1
        if not self._mcap.chunk_pending:
            self._chunk_opened = self._clock()
        self._mcap.write(channel, log_time_ns, publish, data, self._sequence[topic])
        lo, hi = self._times or (log_time_ns, log_time_ns)
        self._times = (min(lo, log_time_ns), max(hi, log_time_ns))
        self.counts[topic] += 1
        self.flush_if_due()

    def flush_if_due(self) -> None:
        """Close the open chunk when its oldest message is older than chunk_max_age_s (call it now
        and then while idle, so messages reach the disk even when no more arrive)."""
        if (self._mcap is not None and self._mcap.chunk_pending and self._chunk_opened is not None
                and self._clock() - self._chunk_opened >= self.chunk_max_age_s):
            self._mcap.flush_chunk()

    def metadata(self) -> BagMetadata:
        start, end = self._times or (0, 0)
        total = sum(self.counts.values())
        name = self.storage_file.name
        return BagMetadata(
            storage_identifier="mcap",
            relative_file_paths=[name],
            topics=[TopicMetadata(t.name, t.msgtype, self.counts[t.name], t.qos, t.type_hash)
                    for t in self._topics.values()],
            starting_time_ns=start,
            duration_ns=end - start,
            message_count=total,
            files=[FileMetadata(name, start, end - start, total)],
            ros_distro=self.ros_distro,
        )

    def close(self) -> None:
        """Finish the .mcap (summary, footer) and write metadata.yaml."""
        if self._mcap is None:
            return
        meta = self.metadata()
        self._mcap.add_metadata("rosbag2", {"serialized_metadata": metadata_text(meta, top_key=False)})
        self._mcap.close()
        self._mcap = None
        write_metadata(self.path, meta)
