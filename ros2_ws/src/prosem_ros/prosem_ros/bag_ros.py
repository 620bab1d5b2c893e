"""Record live topics into a rosbag2 bag and play one back, with rclpy (raw CDR, no deserialising).

This is the rclpy half of `prosem bag`; it lives in a ROS package because prosem_core never imports
rclpy. The rosbag2 format itself (writer, reader, recovery, type registration) is ROS-free in
prosem_core.bags. rclpy is imported inside the functions, so `prosem bag info` and the rest of the
CLI work without a ROS environment.

Recording records what `ros2 bag record` records: the running ROS distro, the offered QoS of every
publisher of a topic (history, depth, reliability, durability, deadline, lifespan, liveliness and
lease, as the graph reports them), the publishers' RIHS01 type hash, and per message the receive
time (log time) and the publisher's send time (the DDS source timestamp, mcap publish_time).

Playing mirrors `ros2 bag play`: topics are matched by name and type, each is published with the
QoS its publishers offered (a replayed layer keeps its lifespan), at the original spacing divided by
`rate`. Topics whose message type is not installed are skipped with one warning each. `PlayStats`
tells when fewer messages were played than metadata.yaml promises, and why (the CLI then fails).
"""
from __future__ import annotations

import importlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from prosem_core.bags import INFINITE_NS, Bag, BagError, BagWriter, OfferedQos, playback_profile

# Topics every ROS process has; `--all` leaves them out like `ros2 bag record --all` does for clarity.
SYSTEM_TOPICS = ("/rosout", "/parameter_events")
GRAPH_POLL_S = 0.2
# Recorder subscription depth: one spinning thread takes bursts of layers and camera frames.
RECORD_DEPTH = 100


@dataclass
class RecordStats:
    counts: dict[str, int]
    types: dict[str, str]
    duration_s: float
    ros_distro: str = ""


@dataclass
class PlayStats:
    published: int
    loops: int
    duration_s: float
    per_topic: dict[str, int] = field(default_factory=dict)  # first pass
    promised: dict[str, int] = field(default_factory=dict)  # metadata.yaml's counts of the played topics
    skipped: dict[str, str] = field(default_factory=dict)  # topic -> why it was not played
    notes: list[str] = field(default_factory=list)  # what the reader found (recovery, missing files)
    interrupted: bool = False

    @property
    def shortfall(self) -> str:
        """Empty when every played topic gave what metadata.yaml promises; else the reason."""
        if self.interrupted:
            return ""
        short = {t: (self.per_topic.get(t, 0), n) for t, n in self.promised.items() if self.per_topic.get(t, 0) < n}
        if not short:
            return ""
        played = sum(p for p, _ in short.values())
        want = sum(n for _, n in short.values())
        parts = ", ".join(f"{t} {p} of {n}" for t, (p, n) in sorted(short.items()))
        why = "; ".join(self.notes) or "the storage files hold fewer messages than metadata.yaml counts"
        return f"played {played} of the {want} messages metadata.yaml promises ({parts}): {why}"


# --------------------------------------------------------------------------------------------
# ROS environment
# --------------------------------------------------------------------------------------------
def ros_distro() -> str:
    """The running ROS distro, as rosbag2 records it: $ROS_DISTRO (set by a sourced setup.bash);
    else the distro in the name of the installed rclpy wheel (`ros-<distro>-rclpy`, PyPI installs);
    else the /opt/ros/<distro> prefix rclpy is imported from; else "" (unknown)."""
    env = os.environ.get("ROS_DISTRO", "").strip()
    if env:
        return env
    from importlib.metadata import distributions

    for dist in distributions():
        match = re.fullmatch(r"ros[-_]([a-z]+)[-_]rclpy", (dist.metadata["Name"] or "").lower())
        if match:
            return match.group(1)
    import rclpy

    match = re.search(r"/opt/ros/([a-z]+)/", str(Path(rclpy.__file__).resolve()))
    return match.group(1) if match else ""


def _init_own_context():
    """A private context without rclpy's signal handlers: Ctrl-C / SIGTERM set our stop event
    instead of shutting the context down, so a recording can take what is still queued and close
    the bag, and a player can wait for its reliable samples to be acknowledged. Explicit empty args:
    our own options (--remap FROM:=TO) must not reach rcl's command-line parser."""
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    context = Context()
    rclpy.init(args=[], context=context, signal_handler_options=SignalHandlerOptions.NO)
    return context


def _stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Make SIGINT/SIGTERM set `stop` (main thread only); returns a function restoring the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in old:
        signal.signal(sig, lambda _signum, _frame: stop.set())

    def restore() -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    return restore


def _absolute(topic: str) -> str:
    return topic if topic.startswith("/") else "/" + topic


def _message_class(msgtype: str):
    pkg, kind, name = msgtype.split("/")
    try:
        return getattr(importlib.import_module(f"{pkg}.{kind}"), name)
    except (ImportError, AttributeError) as err:
        raise BagError(f"message type {msgtype} is not installed in this ROS environment ({err})") from err


# --------------------------------------------------------------------------------------------
# QoS: rclpy profiles <-> the recorded form
# --------------------------------------------------------------------------------------------
def _ns(duration) -> int:
    return min(INFINITE_NS, int(duration.nanoseconds))


def offered_from_profile(q) -> OfferedQos:
    """An rclpy QoSProfile (as the graph reports a publisher's) in the recorded form."""
    return OfferedQos(
        history=q.history.name.lower(),
        depth=int(q.depth),
        reliability=q.reliability.name.lower(),
        durability=q.durability.name.lower(),
        deadline_ns=_ns(q.deadline),
        lifespan_ns=_ns(q.lifespan),
        liveliness=q.liveliness.name.lower(),
        liveliness_lease_ns=_ns(q.liveliness_lease_duration),
        avoid_ros_namespace_conventions=bool(q.avoid_ros_namespace_conventions),
    )


def profile_from_offered(spec: OfferedQos):
    """The rclpy QoSProfile a player publishes with (see prosem_core.bags.playback_profile)."""
    from rclpy.duration import Duration
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        LivelinessPolicy,
        QoSProfile,
        ReliabilityPolicy,
    )

    def duration(ns: int):
        return None if ns == 0 else Duration(nanoseconds=ns)  # 0: the middleware default

    return QoSProfile(
        history=HistoryPolicy.KEEP_ALL if spec.history == "keep_all" else HistoryPolicy.KEEP_LAST,
        depth=max(1, spec.depth),
        reliability=ReliabilityPolicy.BEST_EFFORT if spec.reliability == "best_effort" else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if spec.transient_local else DurabilityPolicy.VOLATILE,
        deadline=duration(spec.deadline_ns),
        lifespan=duration(spec.lifespan_ns),
        liveliness=LivelinessPolicy.MANUAL_BY_TOPIC if spec.liveliness == "manual_by_topic" else LivelinessPolicy.AUTOMATIC,
        liveliness_lease_duration=duration(spec.liveliness_lease_ns),
        avoid_ros_namespace_conventions=spec.avoid_ros_namespace_conventions,
    )


def _subscription_profile(offered: Sequence[OfferedQos]):
    """What the recorder subscribes with: a profile every publisher matches (best effort if any
    publisher is, transient local only if all are, so late joiners get the latched sample)."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=RECORD_DEPTH,
        reliability=ReliabilityPolicy.RELIABLE if all(q.reliable for q in offered) else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if all(q.transient_local for q in offered) else DurabilityPolicy.VOLATILE,
    )


def _publishers(node, topic: str) -> tuple[dict[bytes, OfferedQos], str]:
    """{endpoint gid: offered QoS} of every publisher of `topic`, and their common type hash ("" when
    none is known or they differ: rosbag2 then records none either)."""
    infos = node.get_publishers_info_by_topic(topic)
    hashes = {str(i.topic_type_hash) for i in infos if getattr(i.topic_type_hash, "version", 0) > 0}
    offered = {bytes(i.endpoint_gid): offered_from_profile(i.qos_profile) for i in infos}
    return offered, (hashes.pop() if len(hashes) == 1 else "")


# --------------------------------------------------------------------------------------------
# Record
# --------------------------------------------------------------------------------------------
def record(
    out_dir: str | Path,
    topics: Sequence[str] = (),
    *,
    all_topics: bool = False,
    duration_s: float = 0.0,
    stop: threading.Event | None = None,
    context=None,
    log: Callable[[str], None] = print,
    chunk_max_age_s: float = 1.0,
) -> RecordStats:
    """Record `topics` (or every topic with `all_topics`) until `duration_s` passes (0: no limit),
    `stop` is set, or Ctrl-C. Topics that appear later are picked up as soon as the graph shows
    them; publishers that appear later add their QoS to metadata.yaml.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    wanted = [_absolute(t) for t in topics]
    if not wanted and not all_topics:
        raise BagError("name topics to record, or use --all")
    distro = ros_distro()
    if not distro:
        log("[bag] ROS distro unknown (ROS_DISTRO not set, no ros-<distro>-rclpy installed); metadata.yaml leaves it empty")
    own_context = context is None
    if own_context:
        context = _init_own_context()
    stop = stop or threading.Event()
    restore_signals = _stop_on_signals(stop) if own_context else (lambda: None)
    node = rclpy.create_node("prosem_bag_recorder", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    types: dict[str, str] = {}
    endpoints: dict[str, set[bytes]] = {}  # publishers whose QoS is recorded, per topic
    start = time.monotonic()
    try:
        with BagWriter(out_dir, ros_distro=distro, chunk_max_age_s=chunk_max_age_s) as bag:

            def on_graph() -> None:
                for name, type_names in node.get_topic_names_and_types():
                    if not type_names or (wanted and name not in wanted) or (not wanted and name in SYSTEM_TOPICS):
                        continue
                    by_gid, hash_ = _publishers(node, name)
                    if name in types:
                        new = [q for gid, q in by_gid.items() if gid not in endpoints.get(name, set())]
                        if new and name in bag.counts:
                            bag.add_offered_qos(name, new)
                            endpoints[name] |= set(by_gid)
                        continue
                    offered = list(by_gid.values())
                    if not offered:
                        continue  # known only from subscribers: wait for a publisher to learn its QoS
                    msgtype = type_names[0]
                    try:
                        cls = _message_class(msgtype)
                        bag.add_topic(name, msgtype, offered, type_hash=hash_ or None)
                        endpoints[name] = set(by_gid)
                    except BagError as err:
                        log(f"[bag] skipping {name}: {err}")
                        types[name] = msgtype
                        continue

                    def on_message(data: bytes, info, topic: str = name) -> None:
                        received = int(info.get("received_timestamp") or 0) or time.time_ns()
                        bag.write(topic, received, data, int(info.get("source_timestamp") or 0))

                    node.create_subscription(cls, name, on_message, _subscription_profile(offered), raw=True)
                    types[name] = msgtype
                    log(f"[bag] recording {name} [{msgtype}] offered: {', '.join(q.describe() for q in offered)}")

            next_poll = 0.0
            try:
                while context.ok():
                    now = time.monotonic()
                    if (duration_s > 0 and now - start >= duration_s) or stop.is_set():
                        break
                    if now >= next_poll:
                        on_graph()
                        next_poll = now + GRAPH_POLL_S
                    executor.spin_once(timeout_sec=0.05)
                    bag.flush_if_due()
                _drain(executor, bag, context)
            except KeyboardInterrupt:
                log("[bag] interrupted; closing the bag")
            counts = dict(bag.counts)
    finally:
        restore_signals()
        executor.remove_node(node)
        node.destroy_node()
        if own_context:
            rclpy.shutdown(context=context)
    missing = [t for t in wanted if t not in types]
    if missing:
        log(f"[bag] never saw a publisher on {missing}")
    return RecordStats(counts=counts, types=dict(types), duration_s=time.monotonic() - start, ros_distro=distro)


def _drain(executor, bag: BagWriter, context, quiet_spins: int = 4, max_s: float = 2.0) -> None:
    """Take what the subscriptions still hold after the stop (until nothing new arrives for a few
    spins, at most `max_s`), so the last messages before Ctrl-C reach the bag."""
    last, quiet = sum(bag.counts.values()), 0
    deadline = time.monotonic() + max_s
    while quiet < quiet_spins and time.monotonic() < deadline and context.ok():
        executor.spin_once(timeout_sec=0.05)
        total = sum(bag.counts.values())
        quiet = quiet + 1 if total == last else 0
        last = total


# --------------------------------------------------------------------------------------------
# Play
# --------------------------------------------------------------------------------------------
def _playable(bag: Bag, topics: Sequence[str] | None, log: Callable[[str], None]) -> tuple[dict, dict[str, str]]:
    """{topic: message class} to play, and {topic: why not} for topics left out (one warning each)."""
    if topics:
        selected = [_absolute(t) for t in topics]
        unknown = [t for t in selected if t not in bag.topics]
        if unknown:
            raise BagError(f"bag {bag.path} has no topic(s) {unknown} (has {sorted(bag.topics)})")
    else:
        selected = sorted(bag.topics)
    classes, skipped = {}, {}
    for name in selected:
        t = bag.topics[name]
        try:
            if t.serialization_format != "cdr":
                raise BagError(f"serialization format {t.serialization_format!r} is not cdr")
            classes[name] = _message_class(t.msgtype)
        except BagError as err:
            if topics:  # asked for by name: an error, not a warning
                raise
            skipped[name] = str(err)
            log(f"[bag] warning: not playing {name} [{t.msgtype}]: {err}")
    return classes, skipped


def play(
    bag_path: str | Path,
    *,
    rate: float = 1.0,
    loop: bool = False,
    topics: Sequence[str] | None = None,
    remap: dict[str, str] | None = None,
    wait_subscribers_s: float = 2.0,
    wait_acked_s: float = 5.0,
    stop: threading.Event | None = None,
    context=None,
    log: Callable[[str], None] = print,
) -> PlayStats:
    """Publish a bag's raw messages with their original spacing divided by `rate`.

    `bag_path`: a bag folder (with or without metadata.yaml) or an .mcap/.db3 file. Before the
    first message, waits up to `wait_subscribers_s` for every played topic to have a subscriber
    (DDS drops what is published before a reader matches); after the last, up to `wait_acked_s`
    for reliable readers to acknowledge everything. `remap` renames topics.
    """
    import rclpy

    if not rate > 0:
        raise BagError(f"rate must be > 0, got {rate}")
    remap = {_absolute(k): _absolute(v) for k, v in (remap or {}).items()}
    with Bag(bag_path) as bag:
        for note in bag.notes:
            log(f"[bag] {note}")
        classes, skipped = _playable(bag, topics, log)
        stats = PlayStats(0, 0, 0.0, dict.fromkeys(classes, 0), skipped=skipped, notes=bag.notes,
                          promised={t: bag.topics[t].promised for t in classes if bag.topics[t].promised is not None})
        if not classes:
            log(f"[bag] nothing to play in {bag_path}")
            return stats
        own_context = context is None
        if own_context:
            context = _init_own_context()
        stop = stop or threading.Event()
        restore_signals = _stop_on_signals(stop) if own_context else (lambda: None)
        node = rclpy.create_node("prosem_bag_player", context=context)
        start = time.monotonic()
        publishers = {}
        try:
            for name, cls in classes.items():
                qos = playback_profile(bag.topics[name].qos)
                publishers[name] = node.create_publisher(cls, remap.get(name, name), profile_from_offered(qos))
            deadline = time.monotonic() + max(0.0, wait_subscribers_s)
            while time.monotonic() < deadline and any(p.get_subscription_count() == 0 for p in publishers.values()):
                time.sleep(0.05)
            stats.interrupted = not _play_passes(bag, publishers, stats, rate, loop, stop, context)
            stats.notes = bag.notes
        except KeyboardInterrupt:
            log("[bag] interrupted")
            stats.interrupted = True
        finally:
            _wait_acked(publishers.values(), wait_acked_s, context)
            restore_signals()
            node.destroy_node()
            if own_context:
                rclpy.shutdown(context=context)
        stats.duration_s = time.monotonic() - start
    return stats


def _play_passes(bag: Bag, publishers: dict, stats: PlayStats, rate: float, loop: bool, stop, context) -> bool:
    """Publish pass after pass (one unless `loop`); False when stopped before the end."""
    while True:
        first_stamp = None
        t0 = time.monotonic()
        for msg in bag.messages(list(publishers)):
            if first_stamp is None:
                first_stamp = msg.stamp_ns
            due = t0 + (msg.stamp_ns - first_stamp) / 1e9 / rate
            while True:
                if stop.is_set() or not context.ok():
                    return False
                wait = due - time.monotonic()
                if wait <= 0:
                    break
                time.sleep(min(wait, 0.05))
            publishers[msg.topic].publish(msg.data)
            stats.published += 1
            if stats.loops == 0:
                stats.per_topic[msg.topic] += 1
        stats.loops += 1
        if not loop or first_stamp is None:
            return True


def _wait_acked(publishers, timeout_s: float, context) -> None:
    from rclpy.duration import Duration
    from rclpy.qos import ReliabilityPolicy

    deadline = time.monotonic() + max(0.0, timeout_s)
    for pub in publishers:
        left = deadline - time.monotonic()
        if left <= 0 or not context.ok():
            return
        if pub.qos_profile.reliability == ReliabilityPolicy.RELIABLE:
            pub.wait_for_all_acked(Duration(nanoseconds=int(left * 1e9)))
