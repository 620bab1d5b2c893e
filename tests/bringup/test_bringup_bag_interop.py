"""Bags written by tools this project did not write (tests/bringup/bag_forms.py: Foxglove's `mcap`
writer with `mcap-ros2-support` encoding, `rosbags` for sqlite3 and compressed bags), in every form
a robot meets, each with its expected outcome:

| form                                         | expected                                                      |
|----------------------------------------------|---------------------------------------------------------------|
| complete, zstd / lz4 / uncompressed chunks   | every message, byte-identical, log-time order, publish times  |
| .mcap cut at 30/60/90/99.9 % (crash)         | exactly the messages wholly before the cut; notes say so;     |
|                                              | play exits non-zero (fewer than metadata.yaml promises)       |
| cut, then zero-filled (power loss)           | the same as cut                                               |
| damaged chunk (CRC) in a complete file       | that chunk's messages lost, the rest read, a note             |
| bare .mcap file / folder without metadata    | everything (from the summary or a scan)                       |
| foreign message type (acme_msgs/msg/Widget)  | read raw; play warns once, plays the other topics, exit 0     |
| metadata.yaml QoS differs from the .mcap's   | every message; metadata.yaml's QoS used (as rosbag2)          |
| metadata type differs from the .mcap's       | that channel skipped with a note                              |
| sqlite3 (format 8, and rewritten as 5)       | every message, QoS from the version-8 integer form            |
| split bag (2 files) / one split file missing  | both files in order / the other file's messages and a note    |
| zstd file- and message-compressed            | every message                                                 |
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bag_forms import (
    WIDGET,
    complete_chunk_messages,
    qos_dict,
    records_before,
    samples,
    write_mcap,
    write_metadata,
)

from prosem_core import bags
from prosem_core.bags import Bag

pytestmark = pytest.mark.timeout(120)
VENV = Path(sys.prefix)
ENV = {**os.environ, "AMENT_PREFIX_PATH": os.environ.get("AMENT_PREFIX_PATH", str(VENV))}


def _bag(folder: Path, msgs, compression: str = "zstd", chunk_size: int = 4096, metadata: bool = True,
         topic_qos: dict | None = None, channel_metadata: dict | None = None) -> list[bytes]:
    folder.mkdir(parents=True)
    encoded = write_mcap(folder / f"{folder.name}_0.mcap", msgs, compression, chunk_size, channel_metadata)
    if metadata:
        counts: dict[tuple[str, str], int] = {}
        for m in msgs:
            counts[(m.topic, m.msgtype)] = counts.get((m.topic, m.msgtype), 0) + 1
        write_metadata(folder, [f"{folder.name}_0.mcap"],
                       [(t, ty, n, [(topic_qos or {}).get(t, qos_dict())]) for (t, ty), n in counts.items()])
    return encoded


@pytest.fixture
def ros_context():
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(args=[], context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


def _play(folder, ctx, **kw):
    from prosem_ros import bag_ros

    log: list[str] = []
    stats = bag_ros.play(folder, rate=50.0, wait_subscribers_s=0.0, wait_acked_s=0.0, context=ctx, log=log.append, **kw)
    return stats, log


@pytest.mark.parametrize("compression", ["zstd", "lz4", "none"])
def test_complete_bag_every_message(tmp_path, compression):
    msgs = samples(1, 90, with_image=True)
    encoded = _bag(tmp_path / "run", msgs, compression)
    with Bag(tmp_path / "run") as bag:
        got = list(bag.messages())
        assert not bag.recovered and bag.notes == []
        assert {t: (b.count, b.promised) for t, b in bag.topics.items()} == {"/chatter": (60, 60), "/camera/image_raw": (30, 30)}
    assert [m.data for m in got] == encoded
    assert [(m.stamp_ns, m.publish_ns) for m in got] == [(s.log_time, s.publish_time) for s in msgs]
    (stamp, rgb), *_ = bags.read_images(tmp_path / "run")
    assert stamp == 102 * 1_000_000_000 + 7 and rgb.shape == (4, 6, 3)
    # camera_replay's sources: the folder and the bare .mcap are bags (not videos OpenCV cannot open).
    from prosem_core.frame_sources import open_source

    for spec in (tmp_path / "run", tmp_path / "run" / "run_0.mcap"):
        source = open_source(str(spec))
        assert source.kind == "bag" and len(list(source.frames())) == 30


@pytest.mark.parametrize("compression", ["zstd", "none"])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9, 0.999])
def test_cut_mcap_recovers_what_is_before_the_cut(tmp_path, compression, fraction, ros_context):
    msgs = samples(2, 300)
    full = tmp_path / "full"
    encoded = _bag(full, msgs, compression, chunk_size=2048)
    data = (full / "full_0.mcap").read_bytes()
    cut = int(len(data) * fraction)
    folder = tmp_path / "cut"
    shutil.copytree(full, folder)
    (folder / "full_0.mcap").write_bytes(data[:cut])
    independent = complete_chunk_messages(data[:cut])
    # Uncompressed: every message whose record ends before the cut; zstd: the complete chunks.
    want = records_before(data, encoded, cut) if compression == "none" else independent
    with Bag(folder) as bag:
        got = [m.data for m in bag.messages()]
        assert bag.recovered and bag.topics["/chatter"].promised == 300
        assert bag.topics["/chatter"].count == want
        if want < 300:
            assert any("cut" in n and f"recovered {want} messages" in n for n in bag.notes), bag.notes
        else:  # the cut went through the summary only: the data section is whole
            assert any("data section is complete" in n for n in bag.notes), bag.notes
    assert got == encoded[:want]
    assert want >= independent and want > 0
    print(f"cut at {fraction:.1%} ({compression}): recovered {want} of 300 "
          f"(Foxglove's streaming reader: {independent})")
    # Before: rosbags (what bags were read with) refused the file outright.
    from rosbags.rosbag2 import Reader

    with pytest.raises(Exception, match="magic|MCAP|footer"):
        Reader(folder).open()
    stats, _ = _play(folder, ros_context)
    assert stats.published == want
    if want < 300:
        assert stats.shortfall.startswith(f"played {want} of the 300 messages metadata.yaml promises")
        assert "cut" in stats.shortfall
    else:
        assert stats.shortfall == ""


def test_power_loss_zero_tail_and_damaged_chunk(tmp_path):
    msgs = samples(3, 200)
    full = tmp_path / "full"
    encoded = _bag(full, msgs, "zstd", chunk_size=2048)
    data = (full / "full_0.mcap").read_bytes()
    cut = int(len(data) * 0.7)
    (tmp_path / "zeroed").mkdir()
    shutil.copy(full / "metadata.yaml", tmp_path / "zeroed")
    (tmp_path / "zeroed" / "full_0.mcap").write_bytes(data[:cut] + bytes(len(data) - cut))  # size kept, tail zeroed
    want = complete_chunk_messages(data[:cut])
    with Bag(tmp_path / "zeroed") as bag:
        assert [m.data for m in bag.messages()] == encoded[:want]
        assert any("zero bytes" in n for n in bag.notes), bag.notes

    # One damaged chunk in an otherwise complete file: the summary is used, that chunk is lost.
    from mcap.reader import make_reader

    with open(full / "full_0.mcap", "rb") as f:
        index = make_reader(f).get_summary().chunk_indexes[2]
    broken = bytearray(data)
    broken[index.chunk_start_offset + index.chunk_length - 5] ^= 0xFF
    shutil.copytree(full, tmp_path / "damaged")
    (tmp_path / "damaged" / "full_0.mcap").write_bytes(bytes(broken))
    with Bag(tmp_path / "damaged") as bag:
        got = [m.data for m in bag.messages()]
        assert any("unreadable" in n for n in bag.notes), bag.notes
    lost = [e for e in encoded if e not in got]
    assert got == [e for e in encoded if e not in lost] and 0 < len(lost) < len(encoded) // 4


def test_bare_mcap_and_folder_without_metadata(tmp_path):
    msgs = samples(4, 50, with_widget=True)
    encoded = _bag(tmp_path / "nometa", msgs, metadata=False)
    bare = tmp_path / "nometa" / "nometa_0.mcap"
    for path in (bare, tmp_path / "nometa"):
        with Bag(path) as bag:
            assert [m.data for m in bag.messages()] == encoded
            assert bag.topics["/widgets"].msgtype == WIDGET and bag.topics["/widgets"].promised is None
            assert not bag.recovered
    # Without metadata.yaml and cut: the scan is all there is.
    data = bare.read_bytes()
    bare.write_bytes(data[: len(data) // 2])
    want = complete_chunk_messages(data[: len(data) // 2])
    with Bag(tmp_path / "nometa") as bag:
        assert [m.data for m in bag.messages()] == encoded[:want] and bag.recovered
    # A bag without camera frames is refused as a bag, saying so.
    from prosem_core.frame_sources import FrameSourceError, open_source

    with pytest.raises(FrameSourceError, match="0 image topics"):
        open_source(str(bare))


def test_camera_source_with_two_image_topics_names_bag_topic(tmp_path):
    """The error tells a camera_replay user which parameter picks the topic."""
    from prosem_core.frame_sources import FrameSourceError, open_source

    msgs = samples(11, 12, with_image=True)
    msgs += [dataclasses.replace(m, topic="/camera2/image_raw", log_time=m.log_time + 1)
             for m in msgs if m.topic == "/camera/image_raw"]
    msgs.sort(key=lambda m: m.log_time)
    _bag(tmp_path / "two", msgs)
    with pytest.raises(FrameSourceError, match="2 image topics .* name one with bag_topic"):
        open_source(str(tmp_path / "two"))
    assert len(list(open_source(str(tmp_path / "two"), bag_topic="/camera2/image_raw").frames())) == 4


def test_foreign_types_are_read_raw_and_skipped_by_play(tmp_path, ros_context):
    msgs = samples(5, 60, with_widget=True)
    encoded = _bag(tmp_path / "foreign", msgs)
    assert [m.data for m in bags.read_messages(tmp_path / "foreign", ["/widgets"])] == encoded[1::3]
    stats, log = _play(tmp_path / "foreign", ros_context)
    assert list(stats.skipped) == ["/widgets"] and "not installed" in stats.skipped["/widgets"]
    assert [line for line in log if "warning" in line and "/widgets" in line] == [log[0]] and len(
        [line for line in log if "warning" in line]) == 1
    assert stats.per_topic == {"/chatter": 40} and stats.shortfall == ""
    with pytest.raises(bags.BagError, match="not installed"):
        _play(tmp_path / "foreign", ros_context, topics=["/widgets"])


def test_metadata_qos_differing_from_the_mcap_plays_everything(tmp_path, ros_context):
    msgs = samples(6, 40)
    meta_qos = qos_dict("reliable", lifespan_ns=2_000_000_000)
    mcap_qos = yaml.safe_dump([qos_dict("best_effort", depth=5)])
    encoded = _bag(tmp_path / "qos", msgs, topic_qos={"/chatter": meta_qos},
                   channel_metadata={"/chatter": {"offered_qos_profiles": mcap_qos}})
    with Bag(tmp_path / "qos") as bag:
        assert [m.data for m in bag.messages()] == encoded
        (qos,) = bag.topics["/chatter"].qos
        assert qos.reliability == "reliable" and qos.lifespan_ns == 2_000_000_000  # metadata.yaml wins
    stats, _ = _play(tmp_path / "qos", ros_context)
    assert stats.published == 40 and stats.shortfall == ""
    # Before: rosbags paired topics by comparing QoS and yielded nothing (the "silent zero").
    from rosbags.rosbag2 import Reader

    with Reader(tmp_path / "qos") as reader:
        assert sum(1 for _ in reader.messages()) == 0


def test_type_differing_from_metadata_is_skipped_with_a_note(tmp_path):
    msgs = samples(7, 30, with_widget=True)
    _bag(tmp_path / "t", msgs, metadata=False)
    write_metadata(tmp_path / "t", ["t_0.mcap"], [("/chatter", "std_msgs/msg/String", 20, []),
                                                  ("/widgets", "std_msgs/msg/String", 10, [])])
    with Bag(tmp_path / "t") as bag:
        assert bag.topics["/widgets"].count == 0 and bag.topics["/chatter"].count == 20
        assert any("/widgets holds acme_msgs/msg/Widget" in n for n in bag.notes)


def _rosbags_bag(path: Path, storage: str, version: int = 9, compression: str | None = None) -> list[bytes]:
    """A bag written by rosbags (std_msgs/String, reliable depth 7), returns the CDR it wrote."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    String = store.types["std_msgs/msg/String"]
    zero = QosTime(0, 0)
    qos = Qos(QosHistory.KEEP_LAST, 7, QosReliability.RELIABLE, QosDurability.VOLATILE, zero,
              QosTime(1, 500), QosLiveliness.AUTOMATIC, zero, False)
    writer = Writer(path, version=version, storage_plugin=StoragePlugin[storage])
    if compression:
        from rosbags.rosbag2 import CompressionFormat, CompressionMode

        writer.set_compression(CompressionMode[compression], CompressionFormat.ZSTD)
    out = []
    with writer:
        conn = writer.add_connection("/old", "std_msgs/msg/String", typestore=store, offered_qos_profiles=[qos])
        for i in range(25):
            data = bytes(store.serialize_cdr(String(data=f"old {i}"), "std_msgs/msg/String"))
            writer.write(conn, 1_000 + i, data)
            out.append(data)
    return out


def test_old_sqlite3_bags(tmp_path):
    encoded = _rosbags_bag(tmp_path / "v8", "SQLITE3", version=8)
    meta = yaml.safe_load((tmp_path / "v8" / "metadata.yaml").read_text())
    assert isinstance(meta["rosbag2_bagfile_information"]["topics_with_message_count"][0]["topic_metadata"]
                      ["offered_qos_profiles"], str)  # version 8: QoS as YAML text with enum integers
    with Bag(tmp_path / "v8") as bag:
        assert [m.data for m in bag.messages()] == encoded and bag.storage_id == "sqlite3"
        (qos,) = bag.topics["/old"].qos
        assert (qos.reliability, qos.depth, qos.lifespan_ns) == ("reliable", 7, 1_000_000_500)
    # The same bag as Foxy/Galactic wrote it (format 5: no ros_distro, no type hashes).
    info = meta["rosbag2_bagfile_information"]
    info["version"] = 5
    for key in ("ros_distro", "custom_data"):
        info.pop(key, None)
    for t in info["topics_with_message_count"]:
        t["topic_metadata"].pop("type_description_hash", None)
    (tmp_path / "v8" / "metadata.yaml").write_text(yaml.safe_dump(meta))
    with Bag(tmp_path / "v8") as bag:
        assert [m.data for m in bag.messages()] == encoded and bag.ros_distro == ""


def test_split_bag_and_a_missing_split_file(tmp_path, ros_context):
    msgs = samples(8, 80)
    folder = tmp_path / "split"
    folder.mkdir()
    first = write_mcap(folder / "split_0.mcap", msgs[:50])
    second = write_mcap(folder / "split_1.mcap", msgs[50:])
    write_metadata(folder, ["split_0.mcap", "split_1.mcap"], [("/chatter", "std_msgs/msg/String", 80, [qos_dict()])])
    with Bag(folder) as bag:
        assert [m.data for m in bag.messages()] == first + second and bag.topics["/chatter"].count == 80
    (folder / "split_1.mcap").unlink()
    with Bag(folder) as bag:
        assert [m.data for m in bag.messages()] == first
        assert any("split_1.mcap is listed in metadata.yaml but missing" in n for n in bag.notes)
    stats, _ = _play(folder, ros_context)
    assert stats.published == 50 and "50 of the 80" in stats.shortfall and "missing" in stats.shortfall


@pytest.mark.parametrize(("storage", "mode"), [("MCAP", "FILE"), ("SQLITE3", "FILE"), ("SQLITE3", "MESSAGE")])
def test_zstd_compressed_bags(tmp_path, storage, mode):
    encoded = _rosbags_bag(tmp_path / "z", storage, compression=mode)
    with Bag(tmp_path / "z") as bag:
        assert [m.data for m in bag.messages()] == encoded


def test_cli_info_and_play_exit_codes(tmp_path):
    """`prosem bag info` says what was recovered and when a bag is empty; `prosem bag play` of a cut
    bag exits 1 saying why; --remap does not reach rcl's own argument parser."""
    prosem = str(VENV / "bin" / "prosem")
    msgs = samples(9, 120)
    _bag(tmp_path / "run", msgs, "none", chunk_size=1024)
    path = tmp_path / "run" / "run_0.mcap"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    info = subprocess.run([prosem, "bag", "info", str(tmp_path / "run")], env=ENV, capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    assert " of 120 in metadata.yaml" in info.stdout and "recovered" in info.stdout and "cut" in info.stdout
    play = subprocess.run([prosem, "bag", "play", str(tmp_path / "run"), "--rate", "100", "--wait-subscribers", "0",
                           "--remap", "/chatter:=/elsewhere"], env=ENV, capture_output=True, text=True, timeout=60)
    assert play.returncode == 1 and "metadata.yaml promises" in play.stderr and "cut" in play.stderr, play.stderr
    assert "remap" not in play.stderr.lower().replace("--remap", ""), play.stderr

    with bags.BagWriter(tmp_path / "empty"):
        pass
    out = subprocess.run([prosem, "bag", "info", str(tmp_path / "empty")], env=ENV, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "the bag is empty" in out.stdout
    with bags.BagWriter(tmp_path / "quiet") as bag:
        bag.add_topic("/chatter", "std_msgs/msg/String")
    out = subprocess.run([prosem, "bag", "info", str(tmp_path / "quiet")], env=ENV, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "holds no messages" in out.stdout


def test_reading_is_lazy_across_chunks(tmp_path):
    """A consumer that stops early does not decompress the whole bag (chunks open in turn)."""
    msgs = samples(10, 400)
    _bag(tmp_path / "big", msgs, "zstd", chunk_size=1024)
    calls = []
    from prosem_core.bags import mcap_reader

    real = mcap_reader._decompress

    def counting(*args):
        calls.append(1)
        return real(*args)

    mcap_reader._decompress = counting
    try:
        with Bag(tmp_path / "big") as bag:
            it = bag.messages()
            next(it)
            opened = len(calls)
    finally:
        mcap_reader._decompress = real
    assert opened <= 2, opened
