"""Write MCAP files as rosbag2's MCAP plugin does: profile ros2, one ros2msg schema per type, cdr
channels with `offered_qos_profiles` and `topic_type_hash` metadata, log and publish times.

Chunks are uncompressed (rosbag2's default) with CRCs. Schema and Channel records are written outside
chunks, every closed chunk is handed to the OS at once, and the owner can close a chunk by age, so
a recorder that dies loses at most the open chunk; `close()` adds the summary and footer.
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path

from prosem_core.bags.errors import BagError
from prosem_core.bags.mcap_format import (
    FOOTER_BODY,
    MAGIC,
    OP_CHANNEL,
    OP_CHUNK,
    OP_CHUNK_INDEX,
    OP_DATA_END,
    OP_FOOTER,
    OP_HEADER,
    OP_MESSAGE,
    OP_MESSAGE_INDEX,
    OP_METADATA,
    OP_METADATA_INDEX,
    OP_SCHEMA,
    OP_STATISTICS,
    OP_SUMMARY_OFFSET,
    record,
    string,
    string_map,
    u16,
    u32,
    u64,
)


class McapWriter:
    """Writes one MCAP file; `close()` adds the summary and footer (a cut file is still readable)."""

    def __init__(self, path: str | Path, library: str, chunk_bytes: int = 1 << 20, profile: str = "ros2"):
        self.path = Path(path)
        self.chunk_bytes = int(chunk_bytes)
        self._file = open(self.path, "xb")  # noqa: SIM115 (kept open until close())
        self._offset = 0
        self._data_crc = 0
        self._schemas: dict[int, bytes] = {}  # id -> Schema record body
        self._channels: dict[int, bytes] = {}  # id -> Channel record body
        self._chunk = bytearray()
        self._chunk_times: tuple[int, int] | None = None
        self._chunk_index: dict[int, list[tuple[int, int]]] = {}
        self._chunk_indexes: list[bytes] = []
        self._metadata_indexes: list[bytes] = []
        self._counts: dict[int, int] = {}
        self._times: tuple[int, int] | None = None
        self.message_count = 0
        self._emit(MAGIC + record(OP_HEADER, string(profile) + string(library)))

    # -- raw output ---------------------------------------------------------------------------
    def _emit(self, data: bytes) -> None:
        self._file.write(data)
        self._data_crc = zlib.crc32(data, self._data_crc)
        self._offset += len(data)

    def _sync(self) -> None:
        """Hand what was written to the OS (a crash of this process then keeps it)."""
        self._file.flush()

    # -- definitions --------------------------------------------------------------------------
    def add_schema(self, name: str, encoding: str, data: bytes) -> int:
        schema_id = len(self._schemas) + 1
        body = u16(schema_id) + string(name) + string(encoding) + u32(len(data)) + data
        self._schemas[schema_id] = body
        self._emit(record(OP_SCHEMA, body))
        return schema_id

    def add_channel(self, topic: str, schema_id: int, message_encoding: str, metadata: dict[str, str]) -> int:
        channel_id = len(self._channels) + 1
        body = u16(channel_id) + u16(schema_id) + string(topic) + string(message_encoding) + string_map(metadata)
        self._channels[channel_id] = body
        self._counts[channel_id] = 0
        self._emit(record(OP_CHANNEL, body))
        self._sync()
        return channel_id

    # -- messages -----------------------------------------------------------------------------
    def write(self, channel_id: int, log_time: int, publish_time: int, data: bytes, sequence: int = 0) -> None:
        if channel_id not in self._channels:
            raise BagError(f"MCAP channel {channel_id} was not added")
        offset = len(self._chunk)
        body = u16(channel_id) + u32(sequence & 0xFFFFFFFF) + u64(log_time) + u64(publish_time) + bytes(data)
        self._chunk += record(OP_MESSAGE, body)
        self._chunk_index.setdefault(channel_id, []).append((log_time, offset))
        lo, hi = self._chunk_times or (log_time, log_time)
        self._chunk_times = (min(lo, log_time), max(hi, log_time))
        lo, hi = self._times or (log_time, log_time)
        self._times = (min(lo, log_time), max(hi, log_time))
        self._counts[channel_id] += 1
        self.message_count += 1
        if len(self._chunk) >= self.chunk_bytes:
            self.flush_chunk()

    @property
    def chunk_pending(self) -> bool:
        return bool(self._chunk)

    def flush_chunk(self) -> None:
        """Close the open chunk (if any): chunk record, its message indexes, then to the OS."""
        if not self._chunk:
            return
        records = bytes(self._chunk)
        start, end = self._chunk_times
        chunk_start = self._offset
        body = (u64(start) + u64(end) + u64(len(records)) + u32(zlib.crc32(records))
                + string("") + u64(len(records)) + records)
        self._emit(record(OP_CHUNK, body))
        chunk_length = self._offset - chunk_start
        index_offsets = {}
        for channel_id, entries in sorted(self._chunk_index.items()):
            index_offsets[channel_id] = self._offset
            packed = b"".join(u64(t) + u64(o) for t, o in entries)
            self._emit(record(OP_MESSAGE_INDEX, u16(channel_id) + u32(len(packed)) + packed))
        index_length = self._offset - chunk_start - chunk_length
        offsets = b"".join(u16(c) + u64(o) for c, o in index_offsets.items())
        self._chunk_indexes.append(
            u64(start) + u64(end) + u64(chunk_start) + u64(chunk_length) + u32(len(offsets)) + offsets
            + u64(index_length) + string("") + u64(len(records)) + u64(len(records)))
        self._chunk = bytearray()
        self._chunk_times = None
        self._chunk_index = {}
        self._sync()

    def add_metadata(self, name: str, entries: dict[str, str]) -> None:
        self.flush_chunk()
        offset = self._offset
        self._emit(record(OP_METADATA, string(name) + string_map(entries)))
        self._metadata_indexes.append(u64(offset) + u64(self._offset - offset) + string(name))

    # -- end ----------------------------------------------------------------------------------
    def close(self) -> None:
        if self._file.closed:
            return
        self.flush_chunk()
        self._emit(record(OP_DATA_END, u32(self._data_crc)))
        summary_start = self._offset
        groups: list[tuple[int, int, int]] = []  # (opcode, start, length)
        summary = bytearray()

        def group(op: int, bodies: list[bytes]) -> None:
            if bodies:
                start = summary_start + len(summary)
                for body in bodies:
                    summary.extend(record(op, body))
                groups.append((op, start, summary_start + len(summary) - start))

        group(OP_SCHEMA, list(self._schemas.values()))
        group(OP_CHANNEL, list(self._channels.values()))
        group(OP_CHUNK_INDEX, self._chunk_indexes)
        group(OP_METADATA_INDEX, self._metadata_indexes)
        lo, hi = self._times or (0, 0)
        counts = b"".join(u16(c) + u64(n) for c, n in sorted(self._counts.items()))
        stats = (u64(self.message_count) + u16(len(self._schemas)) + u32(len(self._channels)) + u32(0)
                 + u32(len(self._metadata_indexes)) + u32(len(self._chunk_indexes)) + u64(lo) + u64(hi)
                 + u32(len(counts)) + counts)
        group(OP_STATISTICS, [stats])
        offsets_start = summary_start + len(summary)
        offsets = b"".join(record(OP_SUMMARY_OFFSET, bytes([op]) + u64(s) + u64(n)) for op, s, n in groups)
        footer_head = bytes([OP_FOOTER]) + u64(FOOTER_BODY) + u64(summary_start) + u64(offsets_start)
        crc = zlib.crc32(bytes(summary) + offsets + footer_head)
        self._emit(bytes(summary) + offsets + footer_head + u32(crc) + MAGIC)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abandon(self) -> None:
        """Close the file as it is (no summary): what a crash leaves, for callers that give up."""
        if not self._file.closed:
            self._file.close()
