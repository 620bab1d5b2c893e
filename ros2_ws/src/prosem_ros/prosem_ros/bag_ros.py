"""Record live topics into a rosbag2 bag and play one back, with rclpy (raw CDR, no deserialising).

This is the rclpy half of `prosem bag`; it lives in a ROS package because prosem_core never imports
rclpy. The rosbag2 format itself (writer, reader, type registration) is ROS-free in
prosem_core.bags. rclpy is imported inside the functions, so `prosem bag info` and the rest of the
CLI work without a ROS environment.

Recording mirrors `ros2 bag record`: each topic is subscribed raw with a QoS compatible with its
publishers (best effort if any publisher is), and every sample is written with its receive time.
Playing mirrors `ros2 bag play`: raw CDR is published with the recorded QoS at the original
spacing divided by `rate`.
"""
from __future__ import annotations

import importlib
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from prosem_core.bags import BagError, BagWriter, QosSpec, bag_topics, read_messages

# Topics every ROS process has; `--all` leaves them out like `ros2 bag record --all` does for clarity.
SYSTEM_TOPICS = ("/rosout", "/parameter_events")
GRAPH_POLL_S = 0.2


@dataclass
class RecordStats:
    counts: dict[str, int]
    types: dict[str, str]
    duration_s: float


@dataclass
class PlayStats:
    published: int
    loops: int
    duration_s: float


def _init_own_context():
    """A private context without rclpy's signal handlers: Ctrl-C / SIGTERM set our stop event
    instead of shutting the context down, so a recording can take what is still queued and close
    the bag, and a player can wait for its reliable samples to be acknowledged."""
    import rclpy
    from rclpy.context import Context
    from rclpy.signals import SignalHandlerOptions

    context = Context()
    rclpy.init(context=context, signal_handler_options=SignalHandlerOptions.NO)
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


def _qos_profile(spec: QosSpec):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=max(1, spec.depth),
        reliability=ReliabilityPolicy.RELIABLE if spec.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if spec.transient_local else DurabilityPolicy.VOLATILE,
    )


def _offered_qos(node, topic: str) -> list[QosSpec]:
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    specs = []
    for info in node.get_publishers_info_by_topic(topic):
        q = info.qos_profile
        specs.append(
            QosSpec(
                reliable=q.reliability == ReliabilityPolicy.RELIABLE,
                transient_local=q.durability == DurabilityPolicy.TRANSIENT_LOCAL,
                depth=int(q.depth) if q.depth else 10,
            )
        )
    return specs


def record(
    out_dir: str | Path,
    topics: Sequence[str] = (),
    *,
    all_topics: bool = False,
    duration_s: float = 0.0,
    stop: threading.Event | None = None,
    context=None,
    log: Callable[[str], None] = print,
) -> RecordStats:
    """Record `topics` (or every topic with `all_topics`) until `duration_s` passes (0: no limit),
    `stop` is set, or Ctrl-C. Topics that appear later are picked up as soon as the graph shows them.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    wanted = [_absolute(t) for t in topics]
    if not wanted and not all_topics:
        raise BagError("name topics to record, or use --all")
    own_context = context is None
    if own_context:
        context = _init_own_context()
    stop = stop or threading.Event()
    restore_signals = _stop_on_signals(stop) if own_context else (lambda: None)
    node = rclpy.create_node("prosem_bag_recorder", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    types: dict[str, str] = {}
    start = time.monotonic()
    try:
        with BagWriter(out_dir) as bag:

            def subscribe_new() -> None:
                for name, type_names in node.get_topic_names_and_types():
                    if name in types or not type_names:
                        continue
                    if wanted and name not in wanted:
                        continue
                    if not wanted and name in SYSTEM_TOPICS:
                        continue
                    msgtype = type_names[0]
                    offered = _offered_qos(node, name)
                    if not offered:
                        continue  # known only from subscribers: wait for a publisher to learn its QoS
                    try:
                        cls = _message_class(msgtype)
                        bag.add_topic(name, msgtype, offered)
                    except BagError as err:
                        log(f"[bag] skipping {name}: {err}")
                        types[name] = msgtype
                        continue
                    # Best effort if any publisher is: a reliable reader would not match it.
                    reliable = all(q.reliable for q in offered)
                    depth = max(10, max(q.depth for q in offered))
                    sub_qos = _qos_profile(QosSpec(reliable=reliable, transient_local=False, depth=depth))

                    def on_message(data: bytes, topic: str = name) -> None:
                        bag.write(topic, time.time_ns(), data)

                    node.create_subscription(cls, name, on_message, sub_qos, raw=True)
                    types[name] = msgtype
                    log(f"[bag] recording {name} [{msgtype}] ({'reliable' if reliable else 'best effort'})")

            next_poll = 0.0
            try:
                while context.ok():
                    now = time.monotonic()
                    if duration_s > 0 and now - start >= duration_s:
                        break
                    if stop.is_set():
                        break
                    if now >= next_poll:
                        subscribe_new()
                        next_poll = now + GRAPH_POLL_S
                    executor.spin_once(timeout_sec=0.05)
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
    return RecordStats(counts=counts, types=dict(types), duration_s=time.monotonic() - start)


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


def play(
    bag_dir: str | Path,
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

    Before the first message, waits up to `wait_subscribers_s` for every played topic to have a
    subscriber (DDS drops what is published before a reader matches); after the last, up to
    `wait_acked_s` for reliable readers to acknowledge everything (a writer that goes away first
    takes unsent samples with it). `remap` renames topics.
    """
    import rclpy

    if not rate > 0:
        raise BagError(f"rate must be > 0, got {rate}")
    info = bag_topics(bag_dir)
    selected = [_absolute(t) for t in topics] if topics else sorted(info)
    unknown = [t for t in selected if t not in info]
    if unknown:
        raise BagError(f"bag {bag_dir} has no topic(s) {unknown} (has {sorted(info)})")
    remap = {_absolute(k): _absolute(v) for k, v in (remap or {}).items()}
    own_context = context is None
    if own_context:
        context = _init_own_context()
    stop = stop or threading.Event()
    restore_signals = _stop_on_signals(stop) if own_context else (lambda: None)
    node = rclpy.create_node("prosem_bag_player", context=context)
    published = 0
    loops = 0
    start = time.monotonic()
    publishers = {}
    try:
        for topic in selected:
            t = info[topic]
            spec = t.qos[0] if t.qos else QosSpec()
            publishers[topic] = node.create_publisher(
                _message_class(t.msgtype), remap.get(topic, topic), _qos_profile(spec)
            )
        deadline = time.monotonic() + max(0.0, wait_subscribers_s)
        while time.monotonic() < deadline and any(p.get_subscription_count() == 0 for p in publishers.values()):
            time.sleep(0.05)
        while True:
            first_stamp = None
            t0 = time.monotonic()
            for msg in read_messages(bag_dir, selected):
                if first_stamp is None:
                    first_stamp = msg.stamp_ns
                due = t0 + (msg.stamp_ns - first_stamp) / 1e9 / rate
                while True:
                    if stop.is_set() or not context.ok():
                        return PlayStats(published, loops, time.monotonic() - start)
                    wait = due - time.monotonic()
                    if wait <= 0:
                        break
                    time.sleep(min(wait, 0.05))
                publishers[msg.topic].publish(msg.data)
                published += 1
            loops += 1
            if not loop or first_stamp is None:
                break
    except KeyboardInterrupt:
        log("[bag] interrupted")
    finally:
        _wait_acked(publishers.values(), wait_acked_s, context)
        restore_signals()
        node.destroy_node()
        if own_context:
            rclpy.shutdown(context=context)
    return PlayStats(published, loops, time.monotonic() - start)


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
