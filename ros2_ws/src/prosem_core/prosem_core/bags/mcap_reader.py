"""Read MCAP files, also ones cut short by a crash or a power loss.

A complete file is read through its summary (chunk indexes and statistics). A recording cut short
has no summary and no footer: like rosbag2 (whose MCAP reader falls back to a linear scan when the
summary cannot be read), `McapFile` then walks the data section record by record and keeps
everything up to the last complete record. Complete chunks are decompressed and checked against
their CRC; an uncompressed chunk the cut went through (rosbag2 writes uncompressed chunks by
default) still gives the messages whose records it holds in full. `notes` says what was recovered
and what was lost.
"""
from __future__ import annotations

import heapq
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prosem_core.bags.errors import BagError
from prosem_core.bags.mcap_format import (
    CHUNK_FIXED,
    FOOTER_BODY,
    MAGIC,
    OP_CHANNEL,
    OP_CHUNK,
    OP_CHUNK_INDEX,
    OP_DATA_END,
    OP_FOOTER,
    OP_HEADER,
    OP_MESSAGE,
    OP_METADATA,
    OP_METADATA_INDEX,
    OP_SCHEMA,
    OP_STATISTICS,
    RECORD_PREFIX,
    Cursor,
    Truncated,
)


@dataclass(frozen=True)
class McapChannel:
    id: int
    topic: str
    msgtype: str  # the schema's name; "" for a channel without schema
    message_encoding: str
    metadata: dict[str, str]
    schema_encoding: str = ""
    schema: bytes = b""


@dataclass(frozen=True)
class McapMessage:
    channel_id: int
    sequence: int
    log_time: int
    publish_time: int
    data: bytes


@dataclass(frozen=True)
class _Segment:
    """Where a group of messages lives: a chunk record (`complete`), the records of a chunk that was
    cut (`partial`: uncompressed, `length` bytes of records from `offset`), or messages outside chunks."""

    kind: str  # chunk | partial | loose
    offset: int
    length: int
    start_time: int
    channels: frozenset[int] | None = None  # None: unknown, read it
    loose: tuple[tuple[int, int], ...] = ()  # (log_time, record offset) for kind loose


@dataclass
class McapFile:
    """One .mcap file, read through its summary when it has one, by a scan when it has none."""

    path: Path
    channels: dict[int, McapChannel] = field(default_factory=dict)
    counts: dict[int, int] = field(default_factory=dict)  # channel id -> messages this reader yields
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)  # Metadata records by name
    profile: str = ""
    indexed: bool = False  # read through the summary (a complete file)
    recovered: bool = False  # the summary was missing: the data section was scanned
    truncated_at: int | None = None  # byte where readable data ends, when the file is cut
    notes: list[str] = field(default_factory=list)
    _segments: list[_Segment] = field(default_factory=list)
    _schemas: dict[int, tuple[str, str, bytes]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: str | Path) -> McapFile:
        path = Path(path)
        try:
            size = path.stat().st_size
            with open(path, "rb") as f:
                head = f.read(min(size, 1 << 16))
        except OSError as err:
            raise BagError(f"cannot read {path}: {err}") from err
        if not head:
            raise BagError(f"{path} is empty (0 bytes): nothing was recorded into it")
        if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
            raise BagError(f"{path} is not an MCAP file (no MCAP magic at its start)")
        reader = cls(path)
        with open(path, "rb") as f:
            data_start = reader._read_header(f, size)
            if data_start is None:
                reader._note_cut(len(MAGIC), size, "inside the header")
                return reader
            summary_start = reader._footer(f, size)
            if summary_start is not None and reader._read_summary(f, summary_start, size):
                return reader
            reader._scan(f, data_start, size if summary_start is None else summary_start,
                         cut=summary_start is None)
        return reader

    # -- header / footer / summary ------------------------------------------------------------
    def _read_header(self, f, size: int) -> int | None:
        f.seek(len(MAGIC))
        prefix = f.read(RECORD_PREFIX)
        if len(prefix) < RECORD_PREFIX:
            return None
        op, length = prefix[0], struct.unpack("<Q", prefix[1:])[0]
        if op != OP_HEADER:
            raise BagError(f"{self.path} is not an MCAP file (first record has opcode {op:#x}, not Header)")
        body = f.read(length)
        if len(body) < length:
            return None
        self.profile = Cursor(body).string()
        return len(MAGIC) + RECORD_PREFIX + length

    def _footer(self, f, size: int) -> int | None:
        """summary_start from a valid footer (0 when the file has no summary), None without footer."""
        tail_len = RECORD_PREFIX + FOOTER_BODY + len(MAGIC)
        if size < len(MAGIC) * 2 + tail_len:
            return None
        f.seek(size - tail_len)
        tail = f.read(tail_len)
        if tail[-len(MAGIC):] != MAGIC or tail[0] != OP_FOOTER or struct.unpack("<Q", tail[1:9])[0] != FOOTER_BODY:
            return None
        summary_start, offsets_start, _crc = struct.unpack("<QQI", tail[9:29])
        footer_at = size - tail_len
        if summary_start > footer_at or offsets_start > footer_at:
            return None
        return summary_start or footer_at

    def _read_summary(self, f, summary_start: int, size: int) -> bool:
        """Use the summary when it indexes every chunk and counts every message; False: scan instead."""
        f.seek(summary_start)
        raw = f.read(size - summary_start)
        cur = Cursor(raw)
        chunk_indexes, stats, meta_index = [], None, []
        try:
            while cur.pos < cur.end:
                op, length = cur.u8(), cur.u64()
                body = Cursor(cur.take(length))
                if op == OP_SCHEMA:
                    self._add_schema(body)
                elif op == OP_CHANNEL:
                    self._add_channel(body)
                elif op == OP_CHUNK_INDEX:
                    chunk_indexes.append(_parse_chunk_index(body))
                elif op == OP_STATISTICS:
                    stats = _parse_statistics(body)
                elif op == OP_METADATA_INDEX:
                    offset, length_ = body.u64(), body.u64()
                    meta_index.append((offset, length_))
                elif op == OP_FOOTER:
                    break
        except Truncated:
            return False
        if stats is None or stats["chunk_count"] != len(chunk_indexes):
            return False
        counts = {c: n for c, n in stats["counts"].items() if n}
        if (not chunk_indexes and stats["message_count"]) or not set(counts) <= set(self.channels):
            return False
        if not counts and stats["message_count"]:
            return False  # no per-channel counts: count by scanning
        for offset, length_ in meta_index:
            f.seek(offset)
            record = f.read(length_)
            try:
                c = Cursor(record)
                if c.u8() == OP_METADATA:
                    c.u64()
                    name = c.string()
                    self.metadata[name] = c.string_map()
            except Truncated:
                continue
        self.counts = {c: counts.get(c, 0) for c in self.channels}
        self._segments = [
            _Segment("chunk", ci["offset"], ci["length"], ci["start"],
                     frozenset(ci["channels"]) if ci["channels"] else None)
            for ci in chunk_indexes
        ]
        self.indexed = True
        return True

    # -- scanning -----------------------------------------------------------------------------
    def _scan(self, f, data_start: int, data_end: int, cut: bool) -> None:
        """Walk the data section, counting what can be read; stop at the first incomplete record."""
        self.recovered = True
        counts: dict[int, int] = {}
        loose: list[tuple[int, int]] = []
        pos = data_start
        ended = False
        lost_chunk = None
        while pos < data_end:
            f.seek(pos)
            prefix = f.read(RECORD_PREFIX)
            if len(prefix) < RECORD_PREFIX or pos + RECORD_PREFIX > data_end:
                break
            op, length = prefix[0], struct.unpack("<Q", prefix[1:])[0]
            body_end = pos + RECORD_PREFIX + length
            if op == OP_FOOTER:
                break
            if op == 0:
                # Opcode 0 is not a record: the rest is what a power loss leaves (zeroed blocks).
                self.notes.append(f"{self.path.name}: no records after byte {pos} (zero bytes)")
                break
            if body_end > data_end:
                if op == OP_CHUNK:
                    lost_chunk, pos = self._partial_chunk(f, pos, data_end, counts)
                break
            body = f.read(length) if op != OP_MESSAGE else f.read(min(length, 22))
            try:
                if op == OP_SCHEMA:
                    self._add_schema(Cursor(body))
                elif op == OP_CHANNEL:
                    self._add_channel(Cursor(body))
                elif op == OP_MESSAGE:
                    c = Cursor(body)
                    channel, _seq, log_time = c.u16(), c.u32(), c.u64()
                    counts[channel] = counts.get(channel, 0) + 1
                    loose.append((log_time, pos))
                elif op == OP_CHUNK:
                    self._scan_chunk(body, pos, counts)
                elif op == OP_METADATA:
                    c = Cursor(body)
                    name = c.string()
                    self.metadata[name] = c.string_map()
                elif op == OP_DATA_END:
                    ended = True
                    break
            except Truncated:
                self.notes.append(f"{self.path.name}: malformed record (opcode {op:#x}) at byte {pos}; skipped")
            pos = body_end
        if loose:
            loose.sort()
            self._segments.append(_Segment("loose", 0, 0, loose[0][0], None, tuple(loose)))
        self.counts = {c: counts.get(c, 0) for c in self.channels}
        unknown = sum(n for c, n in counts.items() if c not in self.channels)
        if unknown:
            self.notes.append(f"{self.path.name}: {unknown} messages name channels the file never defines; skipped")
        found = sum(self.counts.values())
        if ended:
            self.notes.append(f"{self.path.name}: no usable summary, but the data section is complete; "
                              f"read {found} messages by scanning it")
            return
        self.truncated_at = pos
        lost = f"; {lost_chunk}" if lost_chunk else ""
        why = "the file is cut (no footer)" if cut else "the data section ends early"
        self.notes.append(f"{self.path.name}: {why}: recovered {found} messages by scanning up to byte "
                          f"{pos} of {data_end}{lost}")

    def _note_cut(self, pos: int, size: int, where: str) -> None:
        self.recovered = True
        self.truncated_at = pos
        self.notes.append(f"{self.path.name}: the file is cut {where} ({size} bytes): no messages")

    def _scan_chunk(self, body: bytes, pos: int, counts: dict[int, int]) -> None:
        c = Cursor(body)
        _start, _end, size, crc = c.u64(), c.u64(), c.u64(), c.u32()
        compression = c.string()
        records = c.take(c.u64())
        try:
            raw = _decompress(records, compression, size, crc)
        except BagError as err:
            self.notes.append(f"{self.path.name}: chunk at byte {pos} is unreadable ({err}); its messages are lost")
            return
        channels, first, _ = self._scan_records(raw, counts)
        if channels:
            self._segments.append(_Segment("chunk", pos, RECORD_PREFIX + len(body), first, frozenset(channels)))

    def _partial_chunk(self, f, pos: int, data_end: int, counts: dict[int, int]) -> tuple[str, int]:
        """Messages of a chunk the cut went through: complete records of an uncompressed chunk.
        (what happened, the byte where the last complete record ends)."""
        f.seek(pos + RECORD_PREFIX)
        head = f.read(data_end - pos - RECORD_PREFIX)
        c = Cursor(head)
        try:
            c.take(CHUNK_FIXED)
            compression = c.string()
            c.u64()
        except Truncated:
            return "the last chunk is cut inside its header; its messages are lost", pos
        if compression:
            return f"the last chunk ({compression}-compressed) is cut; its messages are lost", pos
        records_at = pos + RECORD_PREFIX + c.pos
        available = head[c.pos :]
        before = sum(counts.values())
        channels, first, done = self._scan_records(available, counts, partial=True)
        if channels:
            self._segments.append(_Segment("partial", records_at, done, first, frozenset(channels)))
        return f"{sum(counts.values()) - before} of them from the uncompressed chunk the cut went through", records_at + done

    def _scan_records(self, raw: bytes, counts: dict[int, int], partial: bool = False) -> tuple[set[int], int, int]:
        """Register schemas/channels and count messages of a chunk's records:
        (channels, first log time, bytes of complete records)."""
        c = Cursor(raw)
        channels: set[int] = set()
        first = None
        done = 0
        while c.pos < c.end:
            try:
                op, length = c.u8(), c.u64()
                body = Cursor(c.take(length))
                if op == 0:
                    break  # zeroed bytes, not records
                if op == OP_SCHEMA:
                    self._add_schema(body)
                elif op == OP_CHANNEL:
                    self._add_channel(body)
                elif op == OP_MESSAGE:
                    channel, _seq, log_time = body.u16(), body.u32(), body.u64()
                    counts[channel] = counts.get(channel, 0) + 1
                    channels.add(channel)
                    first = log_time if first is None else min(first, log_time)
            except Truncated:
                if not partial:
                    self.notes.append(f"{self.path.name}: a chunk's records end early")
                break
            done = c.pos
        return channels, first or 0, done

    # -- definitions --------------------------------------------------------------------------
    def _add_schema(self, c: Cursor) -> None:
        schema_id = c.u16()
        name, encoding = c.string(), c.string()
        self._schemas[schema_id] = (name, encoding, c.take(c.u32()))

    def _add_channel(self, c: Cursor) -> None:
        channel_id, schema_id = c.u16(), c.u16()
        topic, encoding = c.string(), c.string()
        metadata = c.string_map()
        name, schema_encoding, schema = self._schemas.get(schema_id, ("", "", b""))
        self.channels[channel_id] = McapChannel(channel_id, topic, name, encoding, metadata, schema_encoding, schema)

    # -- messages -----------------------------------------------------------------------------
    def messages(self, channel_ids: set[int] | None = None) -> Iterator[McapMessage]:
        """Messages of the wanted channels (all when None) in log-time order."""
        wanted = set(self.channels) if channel_ids is None else set(channel_ids)
        segments = [s for s in self._segments if s.channels is None or s.channels & wanted]
        if not segments:
            return
        with open(self.path, "rb") as f:
            streams = [self._segment_stream(f, i, s, wanted) for i, s in enumerate(segments)]
            for _, _, message in heapq.merge(*streams, key=lambda item: (item[0], item[1])):
                if message is not None:
                    yield message

    def _segment_stream(self, f, index: int, segment: _Segment, wanted: set[int]):
        """(log_time, order, message) of one segment; a first (start_time, ..., None) item lets
        the merge open segments only when their turn comes."""
        yield (segment.start_time, (index, -1), None)
        if segment.kind == "loose":
            found = []
            for _log_time, offset in segment.loose:
                f.seek(offset)
                prefix = f.read(RECORD_PREFIX)
                message = _parse_message(Cursor(f.read(struct.unpack("<Q", prefix[1:])[0])))
                if message.channel_id in wanted:
                    found.append(message)
        else:
            f.seek(segment.offset)
            raw = f.read(segment.length)
            if segment.kind == "chunk":
                try:
                    c = Cursor(raw)
                    c.u8()
                    c.u64()
                    _start, _end, size, crc = c.u64(), c.u64(), c.u64(), c.u32()
                    compression = c.string()
                    records = _decompress(c.take(c.u64()), compression, size, crc)
                except (BagError, Truncated) as err:
                    self.notes.append(f"{self.path.name}: chunk at byte {segment.offset} is unreadable "
                                      f"({err or 'cut short'}); its messages are lost")
                    return
            else:
                records = raw
            found = list(_messages_in(records, wanted))
        found.sort(key=lambda m: m.log_time)
        for i, message in enumerate(found):
            yield (message.log_time, (index, i), message)


def _messages_in(records: bytes, wanted: set[int]) -> Iterator[McapMessage]:
    c = Cursor(records)
    while c.pos < c.end:
        try:
            op, length = c.u8(), c.u64()
            body = Cursor(c.take(length))
        except Truncated:
            return
        if op == 0:
            return  # zeroed bytes, not records
        if op == OP_MESSAGE:
            message = _parse_message(body)
            if message.channel_id in wanted:
                yield message


def _parse_message(c: Cursor) -> McapMessage:
    channel, sequence, log_time, publish_time = c.u16(), c.u32(), c.u64(), c.u64()
    return McapMessage(channel, sequence, log_time, publish_time, c.take(c.end - c.pos))


def _parse_chunk_index(c: Cursor) -> dict:
    start, end, offset, length = c.u64(), c.u64(), c.u64(), c.u64()
    channels = c.u16_u64_map()
    return {"start": start, "end": end, "offset": offset, "length": length, "channels": list(channels)}


def _parse_statistics(c: Cursor) -> dict:
    message_count = c.u64()
    c.u16()
    c.u32()
    c.u32()
    c.u32()
    chunk_count = c.u32()
    c.u64()
    c.u64()
    return {"message_count": message_count, "chunk_count": chunk_count, "counts": c.u16_u64_map()}


def _decompress(data: bytes, compression: str, size: int, crc: int) -> bytes:
    """A chunk's records: decompressed (zstd, lz4 through the `rosbags` decoders), size and CRC checked."""
    if compression == "":
        if len(data) != size:
            raise BagError(f"chunk holds {len(data)} bytes, its header says {size}")
        if crc and zlib.crc32(data) != crc:
            raise BagError("chunk CRC mismatch")
        return data
    from rosbags.rosbag2.storage_mcap import decompress

    try:
        return decompress(data, compression, size, crc)
    except Exception as err:  # rosbags raises its ReaderError or the codec's error
        raise BagError(f"{compression} chunk: {err}") from err
