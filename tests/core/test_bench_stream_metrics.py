"""Pure rules behind `prosem bench stream`'s verdict: interpolation, summary, question bytes, loss costs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from prosem_core.bench.stream_metrics import (
    Reach,
    bytes_for_agreement,
    bytes_since_keyframe,
    chain_bytes,
    compare,
    loss_events,
    upper_envelope,
    video_answered,
    video_loss_cost,
    where_video_wins,
)


def test_envelope_drops_settings_that_cost_more_and_agree_less():
    pts = [(400, 0.90), (100, 0.80), (200, 0.95), (800, 0.99), (800, 0.97), (50, 0.85)]
    assert upper_envelope(pts) == [(50, 0.85), (200, 0.95), (800, 0.99)]
    with pytest.raises(ValueError):
        upper_envelope([(0, 0.5)])


def test_bytes_for_agreement_interpolates_in_log_bytes():
    curve = [(100, 0.80), (1000, 1.00)]
    r = bytes_for_agreement(curve, 0.90)
    assert r is not None and not r.at_lowest_setting
    assert r.bytes == pytest.approx(math.sqrt(100 * 1000))  # half-way in agreement = geometric mean in bytes
    assert bytes_for_agreement(curve, 1.00) == Reach(1000.0, False)


def test_bytes_for_agreement_bounds_and_misses():
    # The cheapest setting already reaches the target: its bytes, flagged as an upper bound.
    assert bytes_for_agreement([(300, 0.96), (900, 0.99)], 0.95) == Reach(300.0, True)
    # Never reached: None, no extrapolation.
    assert bytes_for_agreement([(300, 0.80), (900, 0.94)], 0.95) is None
    # A dip is skipped: 400 B agrees less than 200 B, so 0.97 lies between 200 and 800.
    r = bytes_for_agreement([(100, 0.80), (200, 0.95), (400, 0.90), (800, 0.99)], 0.97)
    assert r.bytes == pytest.approx(math.exp(math.log(200) + 0.5 * (math.log(800) - math.log(200))))


def _curve(kind, pts_all, pts_conf=None):
    pts_conf = pts_conf or pts_all
    return {"kind": kind, "points": [{"bytes_per_frame": b, "agreement_all": a, "agreement_confident": c}
                                     for (b, a), (_, c) in zip(pts_all, pts_conf)]}


def test_compare_picks_best_of_each_kind_and_states_who_wins():
    curves = {
        "codec-a": _curve("codec", [(600, 0.90), (1200, 0.96), (5000, 0.99)]),
        "codec-b": _curve("codec", [(800, 0.93), (1600, 0.97)]),
        "h264": _curve("video", [(300, 0.85), (3000, 0.95)], [(300, 0.95), (3000, 0.99)]),
        "av1": _curve("video", [(500, 0.80), (2000, 0.94)]),
    }
    out = compare(curves, targets=(0.90, 0.95, 0.98))
    at90 = out["agreement_all"]["0.90"]
    assert at90["best_codec"] == "codec-a" and at90["bytes"]["codec-a"] == 600.0
    # h264 reaches 0.90 half-way between 0.85 and 0.95: geometric mean of 300 and 3000.
    assert at90["best_video"] == "h264" and at90["bytes"]["h264"] == pytest.approx(math.sqrt(300 * 3000), abs=0.1)
    assert at90["ratio_codec_over_best_video"] == pytest.approx(600 / math.sqrt(300 * 3000), abs=1e-3)
    assert at90["verdict"].startswith("codec ahead")
    assert "codec-a" in at90["at_lowest_setting"]
    at98 = out["agreement_all"]["0.98"]
    assert at98["best_video"] is None and at98["verdict"].startswith("codec wins")
    # Confident frames: h264's cheapest setting already agrees 0.95, the codec needs more: video wins.
    conf95 = out["agreement_confident"]["0.95"]
    assert conf95["best_video"] == "h264" and conf95["ratio_codec_over_best_video"] > 1
    assert conf95["verdict"].startswith("video wins")


def test_compare_says_video_wins_when_only_video_reaches():
    curves = {"codec": _curve("codec", [(600, 0.90)]), "h264": _curve("video", [(300, 0.85), (900, 0.99)])}
    out = compare(curves, targets=(0.95,), keys=("agreement_all",))
    v = out["agreement_all"]["0.95"]
    assert v["best_codec"] is None and v["ratio_codec_over_best_video"] is None
    assert v["verdict"].startswith("video wins") and "never" in v["verdict"]


def test_where_video_wins_lists_levels():
    curves = {"codec": _curve("codec", [(500, 0.90), (1000, 0.99)]), "h264": _curve("video", [(200, 0.88), (5000, 0.99)])}
    # 0.90: video interpolates to 200 * 25 ** (2 / 11) = 359 B < 500 B; 0.95: 1550 B > the codec's 735 B.
    wins = where_video_wins(curves, "agreement_all", [0.85, 0.88, 0.90, 0.95])
    assert wins == [0.85, 0.88, 0.90]


def test_bytes_since_keyframe():
    out = bytes_since_keyframe([10, 5, 5, 20, 1, 2], [False, True, False, False, True, False])
    assert np.isnan(out[0])
    np.testing.assert_array_equal(out[1:], [5, 10, 30, 1, 3])


def test_video_loss_cost_by_hand():
    sizes = [100, 10, 10, 10, 100, 10, 10, 10]
    keys = [True, False, False, False, True, False, False, False]
    cost = video_loss_cost(sizes, keys, fps=5.0)
    wait = cost["wait_for_keyframe"]
    # Losses at 0..3 recover at the keyframe 4: 4, 3, 2, 1 frames; positions 4..7 have no keyframe after.
    assert wait["loss_positions"] == 4 and wait["frames_without_answer"] == 2.5
    assert wait["seconds_without_answer"] == 0.5 and wait["frames_without_answer_max"] == 4
    # Bytes from the frame after the loss through the keyframe: 130, 120, 110, 100.
    assert wait["bytes_until_next_answer"] == 115.0
    assert cost["request_idr"]["bytes_until_next_answer"] == 100.0
    assert cost["request_idr"]["extra_bytes_over_steady_frame"] == 90.0


def test_video_answered_needs_the_chain_since_the_keyframe():
    keys = [True, False, False, True, False]
    lost = [False, True, False, False, False]
    np.testing.assert_array_equal(video_answered(keys, lost), [True, False, False, True, True])
    np.testing.assert_array_equal(video_answered([False, True], [False, False]), [False, True])


def test_loss_events():
    lost = [False, True, True, False, True, False]
    answered = [True, False, False, True, False, False]
    out = loss_events(lost, answered, [1, 2, 3, 4, 5, 6])
    # Loss at 1 -> next answer at 3 (gap 2, bytes 3+4), at 2 -> 3 (gap 1, bytes 4); at 4 never.
    assert out["lost_frames"] == 3 and out["frames_without_answer"] == 1.5
    assert out["bytes_until_next_answer"] == 5.5 and out["answered_fraction"] == pytest.approx(2 / 6)


def test_chain_bytes_follows_references_to_the_keyframe():
    sizes = {0: 100, 1: 10, 2: 20, 3: 30, 4: 100, 5: 5}
    refs = {0: None, 1: 0, 2: 1, 3: 1, 4: None, 5: 4}
    assert chain_bytes(sizes, refs) == {0: 100, 1: 110, 2: 130, 3: 140, 4: 100, 5: 105}
    # A chain that leaves the known frames is left out.
    assert chain_bytes({7: 10}, {7: 6}) == {}
