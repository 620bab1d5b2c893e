"""When a new epoch of a known stream may take the stream over, and when two edges share one id.

An edge picks a random epoch at each start; the cloud keeps one epoch per stream (the "current"
one). A layer of another epoch is either a restarted edge (take over: its frame counter started
again), a straggler of a replaced epoch, a second edge misconfigured with the same stream_id, or a
forgery. One layer used to be enough to take a stream over, which let one forged layer lock the real
edge out for minutes. Now a candidate epoch takes over only with evidence:

- unkeyed: `takeover_frames` new frames of the candidate in a row (no layer of the current epoch in
  between) while the current epoch has been silent for at least
  max(takeover_silence_s, silence_frame_periods x its own frame interval);
- keyed (HMAC on): the candidate's layers are authenticated and fresh (the Assembler checks the
  signed send stamp against its clock), so `keyed_takeover_frames` (1) frame suffices, with the same
  silence rule and, while the current epoch's newest signed stamp is within the freshness window,
  a newer stamp than it (a replayed older epoch cannot win).
- both alive: when the candidate delivered `duplicate_frames` frames while the current epoch was
  alive, and the current one delivered as many since the candidate appeared, two edges send under
  one stream_id: a duplicate stream. The established (current) epoch is kept; both edges are told
  (LayerFeedback STATUS_DUPLICATE_STREAM) for `duplicate_hold_s` after the duplicate's last layer.
  When the current edge then stops, the other takes over by the silence rule: nobody is locked out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class EpochConfig:
    takeover_frames: int = 3  # unkeyed: new frames of a candidate, in a row, needed to take over
    keyed_takeover_frames: int = 1  # keyed: a signed, fresh frame is evidence already
    takeover_silence_s: float = 1.0  # the current epoch must have been silent at least this long ...
    silence_frame_periods: float = 3.0  # ... and at least this many of its own frame intervals
    duplicate_frames: int = 3  # frames each epoch delivered while the other was alive -> duplicate stream
    duplicate_hold_s: float = 10.0  # a detected duplicate is reported this long after its last layer
    candidate_expire_s: float = 10.0  # a candidate silent this long is forgotten
    max_candidates: int = 2  # candidate epochs held per stream (their frames are held too, bounded)
    retired_epochs: int = 8  # replaced epochs remembered per stream (their layers are "stale epoch")


@dataclass
class EpochEvidence:
    """What a candidate epoch has shown so far."""

    epoch: int
    first_seen: float
    current_frames_at_first_seen: int  # the stream's frame counter when the candidate appeared
    last_seen: float = math.nan
    frames_in_row: int = 0  # new frames since the current epoch's last layer
    frames_while_current_alive: int = 0
    newest_stamp_ns: int = 0  # newest signed send stamp (keyed)
    reported_duplicate: bool = False

    def on_frame(self, current_alive: bool) -> None:
        """A new frame of this candidate arrived."""
        self.frames_in_row += 1
        if current_alive:
            self.frames_while_current_alive += 1

    def on_current_layer(self) -> None:
        """A layer of the current epoch arrived: the candidate's run is broken."""
        self.frames_in_row = 0


def silence_needed_s(cfg: EpochConfig, current_frame_interval_s: float) -> float:
    """How long the current epoch must have been silent before another may take over."""
    periods = 0.0 if math.isnan(current_frame_interval_s) else cfg.silence_frame_periods * current_frame_interval_s
    return max(cfg.takeover_silence_s, periods)


def takeover_ready(cfg: EpochConfig, ev: EpochEvidence, keyed: bool, current_silent_s: float,
                   current_frame_interval_s: float, stamps_newer: bool) -> bool:
    """Whether the candidate takes the stream over now (see the module docstring)."""
    frames = cfg.keyed_takeover_frames if keyed else cfg.takeover_frames
    if ev.frames_in_row < frames or current_silent_s < silence_needed_s(cfg, current_frame_interval_s):
        return False
    return stamps_newer or not keyed


def is_duplicate(cfg: EpochConfig, ev: EpochEvidence, current_frames_total: int) -> bool:
    """Both epochs kept sending frames while the other was alive: two edges, one stream_id."""
    current_since = current_frames_total - ev.current_frames_at_first_seen
    return ev.frames_while_current_alive >= cfg.duplicate_frames and current_since >= cfg.duplicate_frames
