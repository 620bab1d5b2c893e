"""QoS profiles as rosbag2 records them: every field of a publisher's offered profile.

rosbag2 stores, per topic, the offered QoS of every publisher it saw (history, depth, reliability,
durability, deadline, lifespan, liveliness, lease duration, namespace conventions), in metadata.yaml
and in each .mcap channel's `offered_qos_profiles` metadata entry. Format version 9 writes the
policies as strings ("reliable"); versions 4..8 as the rmw enum integers. Durations are
{sec, nsec}; "infinite" is INT64_MAX nanoseconds, and bags recorded on Foxy carry each DDS vendor's
older spelling of it, which are read back as infinite too.

A player needs one profile per topic: `playback_profile` combines what several publishers offered.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

NS_PER_S = 1_000_000_000
INFINITE_NS = 2**63 - 1  # RMW_DURATION_INFINITE
DEFAULT_NS = 0  # RMW_DURATION_DEFAULT: "let the middleware choose" (infinite for all of these)
# Foxy-era spellings of "infinite" (Cyclone DDS, Fast DDS, Connext), as {sec, nsec}.
_FOXY_INFINITE = {(INFINITE_NS // NS_PER_S, INFINITE_NS % NS_PER_S), (0x7FFFFFFF, 0xFFFFFFFF), (0x7FFFFFFF, 0x7FFFFFFF)}

# rmw enum values, in order (version <= 8 bags store the index).
HISTORY = ("system_default", "keep_last", "keep_all", "unknown")
RELIABILITY = ("system_default", "reliable", "best_effort", "unknown", "best_available")
DURABILITY = ("system_default", "transient_local", "volatile", "unknown", "best_available")
LIVELINESS = ("system_default", "automatic", "manual_by_node", "manual_by_topic", "unknown", "best_available")
# Depth a player uses when the recording does not know it (DDS does not tell other participants).
PLAYBACK_DEPTH = 10


class QosError(ValueError):
    """An offered_qos_profiles entry that is not a rosbag2 QoS profile."""


@dataclass(frozen=True)
class OfferedQos:
    """One publisher's offered QoS profile, field for field as rosbag2 stores it."""

    history: str = "keep_last"
    depth: int = 10
    reliability: str = "reliable"
    durability: str = "volatile"
    deadline_ns: int = DEFAULT_NS
    lifespan_ns: int = DEFAULT_NS
    liveliness: str = "automatic"
    liveliness_lease_ns: int = DEFAULT_NS
    avoid_ros_namespace_conventions: bool = False

    @property
    def reliable(self) -> bool:
        return self.reliability == "reliable"

    @property
    def transient_local(self) -> bool:
        return self.durability == "transient_local"

    def describe(self) -> str:
        """Short text for `prosem bag info`: only the policies that are set."""
        parts = [self.reliability, self.durability,
                 f"{self.history} {self.depth}" if self.history == "keep_last" else self.history]
        for name, ns in (("deadline", self.deadline_ns), ("lifespan", self.lifespan_ns)):
            if ns not in (DEFAULT_NS, INFINITE_NS):
                parts.append(f"{name} {ns / NS_PER_S:g}s")
        if self.liveliness != "automatic" or self.liveliness_lease_ns not in (DEFAULT_NS, INFINITE_NS):
            lease = self.liveliness_lease_ns
            parts.append(f"liveliness {self.liveliness}"
                         + (f" lease {lease / NS_PER_S:g}s" if lease not in (DEFAULT_NS, INFINITE_NS) else ""))
        return "/".join(parts)


# --------------------------------------------------------------------------------------------
# (De)serialisation: the YAML structures rosbag2 writes
# --------------------------------------------------------------------------------------------
def _time_to_yaml(ns: int) -> dict[str, int]:
    return {"sec": int(ns) // NS_PER_S, "nsec": int(ns) % NS_PER_S}


def _time_from_yaml(node) -> int:
    try:
        sec, nsec = int(node["sec"]), int(node["nsec"])
    except (KeyError, TypeError, ValueError) as err:
        raise QosError(f"QoS duration {node!r} is not {{sec, nsec}}") from err
    if (sec, nsec) in _FOXY_INFINITE:
        return INFINITE_NS
    return min(INFINITE_NS, sec * NS_PER_S + nsec)


def _policy_from_yaml(value, names: tuple[str, ...], field: str) -> str:
    if isinstance(value, bool):
        raise QosError(f"QoS {field} {value!r} is neither a policy name nor an rmw enum value")
    if isinstance(value, int):  # format version <= 8
        return names[value] if 0 <= value < len(names) else "unknown"
    if isinstance(value, str):
        name = value.strip().lower()
        return name if name in names else "unknown"
    raise QosError(f"QoS {field} {value!r} is neither a policy name nor an rmw enum value")


def to_yaml(qos: OfferedQos) -> dict:
    """The version-9 structure of one profile (what metadata.yaml lists)."""
    return {
        "history": qos.history,
        "depth": int(qos.depth),
        "reliability": qos.reliability,
        "durability": qos.durability,
        "deadline": _time_to_yaml(qos.deadline_ns),
        "lifespan": _time_to_yaml(qos.lifespan_ns),
        "liveliness": qos.liveliness,
        "liveliness_lease_duration": _time_to_yaml(qos.liveliness_lease_ns),
        "avoid_ros_namespace_conventions": bool(qos.avoid_ros_namespace_conventions),
    }


def from_yaml(node) -> OfferedQos:
    """One profile from its YAML structure (version 9 strings or version <= 8 integers)."""
    if not isinstance(node, dict):
        raise QosError(f"a QoS profile is a mapping, got {type(node).__name__}")
    try:
        return OfferedQos(
            history=_policy_from_yaml(node["history"], HISTORY, "history"),
            depth=int(node.get("depth", 0) or 0),
            reliability=_policy_from_yaml(node["reliability"], RELIABILITY, "reliability"),
            durability=_policy_from_yaml(node["durability"], DURABILITY, "durability"),
            deadline_ns=_time_from_yaml(node.get("deadline", {"sec": 0, "nsec": 0})),
            lifespan_ns=_time_from_yaml(node.get("lifespan", {"sec": 0, "nsec": 0})),
            liveliness=_policy_from_yaml(node.get("liveliness", 1), LIVELINESS, "liveliness"),
            liveliness_lease_ns=_time_from_yaml(node.get("liveliness_lease_duration", {"sec": 0, "nsec": 0})),
            avoid_ros_namespace_conventions=bool(node.get("avoid_ros_namespace_conventions", False)),
        )
    except KeyError as err:
        raise QosError(f"QoS profile lacks {err}") from err


def profiles_to_text(profiles: Sequence[OfferedQos]) -> str:
    """The YAML text stored in an .mcap channel's `offered_qos_profiles` entry (and in metadata.yaml
    of format versions <= 8): a sequence of profiles; empty text for none."""
    import yaml

    if not profiles:
        return ""
    return yaml.safe_dump([to_yaml(q) for q in profiles], default_flow_style=False, sort_keys=False).strip()


def profiles_from(value) -> list[OfferedQos]:
    """Profiles from metadata.yaml (a list, or YAML text in versions 4..8) or channel metadata (text)."""
    import yaml

    if value is None or value == "" or value == []:
        return []
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise QosError(f"offered_qos_profiles is not YAML: {err}") from err
        if value is None:
            return []
    if not isinstance(value, list):
        raise QosError(f"offered_qos_profiles is a sequence of profiles, got {type(value).__name__}")
    return [from_yaml(node) for node in value]


# --------------------------------------------------------------------------------------------
# Playback
# --------------------------------------------------------------------------------------------
def _longest(values: Iterable[int]) -> int:
    """The most permissive duration: infinite/default beat any finite one."""
    values = list(values)
    if not values or any(v in (DEFAULT_NS, INFINITE_NS) for v in values):
        return DEFAULT_NS
    return max(values)


def playback_profile(offered: Sequence[OfferedQos]) -> OfferedQos:
    """The profile a player publishes a topic with, from what its recorded publishers offered.

    One profile (or several equal ones) is used as recorded, lifespan included, so a replayed layer
    expires as the live one did. Differing profiles combine to one every recorded subscriber could
    have matched: reliable / transient-local only when all publishers were, the longest lifespan.
    History and depth are not seen by other DDS participants (recorded as unknown, 0); a player
    then keeps the last PLAYBACK_DEPTH.
    """
    if not offered:
        return OfferedQos(depth=PLAYBACK_DEPTH)
    first = offered[0]
    if all(q == first for q in offered):
        combined = first
    else:
        combined = OfferedQos(
            reliability="reliable" if all(q.reliable for q in offered) else "best_effort",
            durability="transient_local" if all(q.transient_local for q in offered) else "volatile",
            depth=max(q.depth for q in offered),
            lifespan_ns=_longest(q.lifespan_ns for q in offered),
        )
    if combined.history not in ("keep_last", "keep_all") or combined.depth <= 0:
        combined = replace(combined, history="keep_last", depth=max(combined.depth, PLAYBACK_DEPTH))
    if combined.reliability not in ("reliable", "best_effort"):
        combined = replace(combined, reliability="reliable")
    if combined.durability not in ("volatile", "transient_local"):
        combined = replace(combined, durability="volatile")
    if combined.liveliness not in ("automatic", "manual_by_topic"):
        combined = replace(combined, liveliness="automatic")
    return combined
