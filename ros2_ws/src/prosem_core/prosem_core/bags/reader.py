"""Open a bag the way `ros2 bag play` does: a rosbag2 folder, a folder without metadata.yaml, or
a bare storage file (.mcap, .db3); split bags, old sqlite3 bags and zstd-compressed bags included.

Topics are matched between metadata.yaml and the storage files by name and type only (never by
comparing QoS text), so a bag whose metadata.yaml and .mcap disagree on QoS still plays every
message; metadata.yaml's QoS then wins, as in rosbag2. A storage file cut short is scanned
(`mcap_reader.McapFile`) and `notes` says what was recovered. `BagTopic.promised` is the count
metadata.yaml announces, `count` what the files actually hold.
"""
from __future__ import annotations

import heapq
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from prosem_core.bags.errors import BagError
from prosem_core.bags.mcap_reader import McapFile, McapMessage
from prosem_core.bags.metadata import METADATA_FILE, BagMetadata, read_metadata
from prosem_core.bags.qos import OfferedQos, QosError, from_yaml, profiles_from

STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int  # messages the storage files hold (what reading yields)
    qos: tuple[OfferedQos, ...] = ()
    type_hash: str = ""
    promised: int | None = None  # the count metadata.yaml announces; None without metadata.yaml
    serialization_format: str = "cdr"


@dataclass(frozen=True)
class BagMessage:
    topic: str
    msgtype: str
    stamp_ns: int  # log time: when the recorder received it
    data: bytes  # CDR
    publish_ns: int = 0  # the publisher's send time when the bag has it, else the log time


@dataclass(frozen=True)
class _Channel:
    id: int
    topic: str
    msgtype: str
    encoding: str
    qos: tuple[OfferedQos, ...]
    type_hash: str


@dataclass
class _Storage:
    """One storage file, behind the interface the bag needs: channels, counts, ordered messages."""

    path: Path
    channels: dict[int, _Channel]
    counts: dict[int, int]
    notes: list[str]
    recovered: bool
    messages: Callable[[set[int]], Iterator[McapMessage]]  # log-time order
    close: Callable[[], None] = lambda: None


def _mcap_storage(path: Path) -> _Storage:
    f = McapFile.open(path)
    notes = f.notes  # the same list: reading can still add to it (a damaged chunk)
    channels = {}
    for c in f.channels.values():
        try:
            qos = tuple(profiles_from(c.metadata.get("offered_qos_profiles")))
        except QosError as err:
            notes.append(f"{path.name}: channel {c.topic}: unreadable offered_qos_profiles ({err})")
            qos = ()
        channels[c.id] = _Channel(c.id, c.topic, c.msgtype, c.message_encoding, qos, c.metadata.get("topic_type_hash", ""))
    return _Storage(path, channels, dict(f.counts), notes, f.recovered, f.messages)


def _rosbags_qos(q) -> OfferedQos:
    def t(x) -> dict:
        return {"sec": x.sec, "nsec": x.nsec}

    return from_yaml({
        "history": q.history.name.lower(), "depth": q.depth, "reliability": q.reliability.name.lower(),
        "durability": q.durability.name.lower(), "deadline": t(q.deadline), "lifespan": t(q.lifespan),
        "liveliness": q.liveliness.name.lower(), "liveliness_lease_duration": t(q.liveliness_lease_duration),
        "avoid_ros_namespace_conventions": q.avoid_ros_namespace_conventions,
    })


def _sqlite3_storage(path: Path) -> _Storage:
    from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

    reader = Sqlite3Reader(path)
    try:
        reader.open()
    except Exception as err:  # rosbags' ReaderError, apsw errors on a damaged database
        raise BagError(f"cannot read sqlite3 storage {path}: {err}") from err
    conns = {c.id: c for c in reader.connections}
    channels = {c.id: _Channel(c.id, c.topic, c.msgtype, c.ext.serialization_format,
                               tuple(_rosbags_qos(q) for q in c.ext.offered_qos_profiles), c.digest or "")
                for c in conns.values()}

    def messages(ids: set[int]) -> Iterator[McapMessage]:
        for conn, stamp, data in reader.messages([conns[i] for i in ids if i in conns]):
            yield McapMessage(conn.id, 0, int(stamp), int(stamp), bytes(data))

    return _Storage(path, channels, {c.id: c.msgcount for c in conns.values()}, [], False, messages, reader.close)


def _zstd():
    """The zstd codec rosbag2's compressed bags use (the module `rosbags` decompresses with)."""
    if sys.version_info >= (3, 14):
        from compression import zstd
    else:
        from backports import zstd
    return zstd


def _split_index(path: Path) -> tuple[str, int]:
    """Sort key: rosbag2 names split files <bag>_<n>.<ext>; n sorts as a number."""
    match = re.search(r"_(\d+)$", path.name.split(".")[0])
    return (path.name.split(".")[0][: match.start()] if match else path.name, int(match.group(1)) if match else -1)


class Bag:
    """A bag opened for reading; see the module docstring.

        with Bag("run1") as bag:          # or Bag("run1/run1_0.mcap"), Bag("crashed_run/")
            bag.topics["/prosem/layers"].count, bag.notes
            for m in bag.messages(["/prosem/layers"]): ...
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.metadata: BagMetadata | None = None
        self._notes: list[str] = []  # about the bag as a whole; the storage files keep their own
        self.layout = ""
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._storages: list[_Storage] = []
        self._topic_of: list[dict[int, str]] = []  # per storage: channel id -> topic name
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        self.topics = self._match_topics()

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> None:
        p = self.path
        if not p.exists():
            raise BagError(f"{p} does not exist")
        if p.is_file():
            if p.suffix not in STORAGE_SUFFIXES:
                raise BagError(f"{p} is not a bag: give a bag folder, an .mcap or a .db3 file")
            self.layout = "storage file"
            files = [p]
        elif (p / METADATA_FILE).is_file():
            self.layout = "rosbag2"
            self.metadata = read_metadata(p)
            files = self._files_from_metadata(p, self.metadata)
        else:
            files = sorted((f for f in p.iterdir() if f.is_file() and f.suffix in STORAGE_SUFFIXES), key=_split_index)
            if not files:
                raise BagError(f"{p} is not a bag: no {METADATA_FILE} and no .mcap or .db3 file in it")
            self.layout = f"folder without {METADATA_FILE}"
            self._notes.append(f"no {METADATA_FILE}: topics and counts come from the storage files")
        for f in files:
            self._storages.append(_mcap_storage(f) if f.suffix == ".mcap" else _sqlite3_storage(f))

    def _files_from_metadata(self, folder: Path, meta: BagMetadata) -> list[Path]:
        listed = [folder / PurePath(name).name for name in meta.relative_file_paths]
        present = [f for f in listed if f.is_file()]
        for f in listed:
            if not f.is_file():
                self._notes.append(f"{f.name} is listed in {METADATA_FILE} but missing: its messages are lost")
        if not present:
            raise BagError(f"bag {folder}: none of the storage files {[f.name for f in listed]} in {METADATA_FILE} exist")
        mode = meta.compression_mode.lower()
        if mode in ("", "none", "message"):
            return present
        if mode != "file" or meta.compression_format != "zstd":
            raise BagError(f"bag {folder}: compression {meta.compression_mode}/{meta.compression_format} "
                           f"is not supported (rosbag2 writes zstd)")
        self._tmp = tempfile.TemporaryDirectory(prefix="prosem_bag_")
        out = []
        zstd = _zstd()
        for f in present:
            target = Path(self._tmp.name) / (f.name[: -len(".zstd")] if f.name.endswith(".zstd") else f.name)
            try:
                with zstd.open(f, "rb") as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            except Exception as err:  # a cut .zstd file: keep what decompressed
                self._notes.append(f"{f.name}: zstd stream ends early ({err}); reading what decompressed")
            out.append(target)
        return out

    # -- topics -------------------------------------------------------------------------------
    def _match_topics(self) -> dict[str, BagTopic]:
        topics: dict[str, BagTopic] = {}
        promised = {}
        if self.metadata is not None:
            for t in self.metadata.topics:
                topics[t.name] = BagTopic(t.name, t.msgtype, 0, t.qos, t.type_hash, t.message_count,
                                          t.serialization_format)
                promised[t.name] = t.message_count
        counts: dict[str, int] = dict.fromkeys(topics, 0)
        for storage in self._storages:
            mapping: dict[int, str] = {}
            for c in storage.channels.values():
                known = topics.get(c.topic)
                if known is None:
                    if self.metadata is not None:
                        self._notes.append(f"{storage.path.name}: topic {c.topic} is not in {METADATA_FILE}; read anyway")
                    known = topics[c.topic] = BagTopic(c.topic, c.msgtype, 0, c.qos, c.type_hash, None, c.encoding)
                    counts[c.topic] = 0
                elif known.msgtype != c.msgtype:
                    self._notes.append(f"{storage.path.name}: {c.topic} holds {c.msgtype}, the bag says {known.msgtype}: "
                                      f"its {storage.counts.get(c.id, 0)} messages are skipped")
                    continue
                if not known.qos and c.qos or not known.type_hash and c.type_hash:
                    known = topics[c.topic] = BagTopic(known.name, known.msgtype, 0, known.qos or c.qos,
                                                       known.type_hash or c.type_hash, known.promised,
                                                       known.serialization_format)
                mapping[c.id] = c.topic
                counts[c.topic] += storage.counts.get(c.id, 0)
            self._topic_of.append(mapping)
        return {name: BagTopic(t.name, t.msgtype, counts[name], t.qos, t.type_hash, t.promised, t.serialization_format)
                for name, t in topics.items()}

    # -- summary ------------------------------------------------------------------------------
    @property
    def notes(self) -> list[str]:
        """What was recovered, lost or skipped (grows while reading finds damaged chunks)."""
        return self._notes + [n for s in self._storages for n in s.notes]

    @property
    def storage_id(self) -> str:
        return STORAGE_SUFFIXES.get(self._storages[0].path.suffix, "") if self._storages else ""

    @property
    def ros_distro(self) -> str:
        return self.metadata.ros_distro if self.metadata is not None else ""

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())

    @property
    def promised_count(self) -> int | None:
        return self.metadata.message_count if self.metadata is not None else None

    @property
    def recovered(self) -> bool:
        return any(s.recovered for s in self._storages)

    @property
    def files(self) -> list[Path]:
        return [s.path for s in self._storages]

    # -- messages -----------------------------------------------------------------------------
    def messages(self, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
        """Messages in log-time order (across split files too), optionally only of some topics."""
        wanted = set(self.topics) if topics is None else set(topics)
        missing = wanted - set(self.topics)
        if missing:
            raise BagError(f"bag {self.path} has no topic(s) {sorted(missing)} (has {sorted(self.topics)})")
        decompress = None
        if self.metadata is not None and self.metadata.compression_mode.lower() == "message":
            decompress = _zstd().decompress
        streams = []
        for i, (storage, mapping) in enumerate(zip(self._storages, self._topic_of)):
            ids = {cid for cid, name in mapping.items() if name in wanted}
            if ids:
                streams.append(_keyed(storage.messages(ids), i, mapping))
        for _, _, m, mapping in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
            topic = self.topics[mapping[m.channel_id]]
            data = decompress(m.data) if decompress else m.data
            yield BagMessage(topic.name, topic.msgtype, m.log_time, data, m.publish_time)

    def close(self) -> None:
        for storage in self._storages:
            storage.close()
        self._storages = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Bag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _keyed(messages: Iterator[McapMessage], index: int, mapping: dict[int, str]):
    """(log time, file index, message, channel->topic) for merging the files of a split bag."""
    for m in messages:
        yield m.log_time, index, m, mapping


def is_bag(path: str | Path) -> bool:
    """True for what `Bag` opens: an .mcap/.db3 file, a folder with metadata.yaml or with storage files."""
    p = Path(path)
    if p.is_file():
        return p.suffix in STORAGE_SUFFIXES
    if p.is_dir():
        return (p / METADATA_FILE).is_file() or any(f.suffix in STORAGE_SUFFIXES and f.is_file() for f in p.iterdir())
    return False


def open_bag(path: str | Path) -> Bag:
    return Bag(path)


@dataclass
class BagSummary:
    """What `prosem bag info` shows, computed once (the bag is closed again)."""

    path: Path
    layout: str
    storage_id: str
    ros_distro: str
    files: list[Path]
    topics: dict[str, BagTopic]
    notes: list[str] = field(default_factory=list)
    promised_count: int | None = None
    recovered: bool = False

    @property
    def message_count(self) -> int:
        return sum(t.count for t in self.topics.values())


def summarize(path: str | Path) -> BagSummary:
    with Bag(path) as bag:
        return BagSummary(bag.path, bag.layout, bag.storage_id, bag.ros_distro, bag.files, dict(bag.topics),
                          list(bag.notes), bag.promised_count, bag.recovered)
