"""Item 3 of issue 12: bounded questions with clear errors, a linear-time router, caches bounded in
bytes, answers that never echo unbounded input."""
import math
import re
import time

import numpy as np
import pytest

from prosem_core import wire_codes
from prosem_core.bounded_cache import ByteBoundedMemo
from prosem_core.models import text_embed
from prosem_core.models.router import MAX_TARGET_CHARS, presence_target, route
from prosem_core.questions import MAX_QUESTION_CHARS, BadRequest, check_query, check_question

# -- the question itself ------------------------------------------------------------------------


def test_question_whitespace_normalised():
    assert check_question("  is there\ta cat\n in the image?  ") == "is there a cat in the image?"


@pytest.mark.parametrize("question, match", [
    ("is there a\x00 cat?", r"U\+0000 at position 10"),  # a NUL used to cut the question silently
    ("what\x1b[31m color", r"U\+001B"),
    ("abc\x7f", r"U\+007F"),
    ("abc\x85", r"U\+0085"),
    ("", "empty question"),
    (" \t\n ", "empty question"),
    ("x" * (MAX_QUESTION_CHARS + 1), "at most 1000"),
])
def test_bad_questions_rejected_with_a_clear_error(question, match):
    with pytest.raises(BadRequest, match=match) as err:
        check_question(question)
    assert err.value.code == wire_codes.ERROR_BAD_REQUEST


def test_ten_megabyte_question_refused_by_length_and_not_echoed():
    huge = "is there a " + "x" * 10_000_000
    with pytest.raises(BadRequest) as err:
        check_question(huge)
    assert len(str(err.value)) < 200
    with pytest.raises(BadRequest):
        check_question(b"bytes are not text")


def test_query_fields_checked():
    q = check_query(" is  there a cat? ", "robot1", -1, 0.5, math.inf, 0, max_timeout_s=8.0)
    assert (q.question, q.stream_id, q.frame_seq, q.min_fidelity, q.timeout_s) == ("is there a cat?", "robot1", -1, 0.5, 8.0)
    bad = [dict(frame_seq=2**63), dict(frame_seq=-2), dict(frame_seq=2**32), dict(min_fidelity=math.nan),
           dict(min_fidelity=1.5), dict(timeout_s=math.nan), dict(timeout_s=-1.0), dict(stream_id="s" * 10_000),
           dict(stream_id="a\x00b"), dict(max_new_tokens=70_000), dict(max_new_tokens=-1)]
    for fields in bad:
        with pytest.raises(BadRequest) as err:
            check_query("what is this?", **fields)
        assert len(str(err.value)) < 300, fields  # never echoes the whole bad value


# -- the router: linear time --------------------------------------------------------------------

VOCAB = frozenset("what color is the shape circle red there a".split())
# The shapes that made the old regex backtrack: long runs between its optional parts.
ADVERSARIAL = [
    lambda n: "is there a x" + " " * n + "y",
    lambda n: "is there " + "a " * (n // 2),
    lambda n: "do you see " + "in the " * (n // 7),
    lambda n: "does the image contain" + " \t" * (n // 2) + "?",
    lambda n: "any " + "x" * n,
    lambda n: "?" * n,
]


def _route_seconds(question: str, repeats: int = 5) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        presence_target(question)
        try:
            route(question, VOCAB)
        except ValueError:
            pass  # no words at all: "empty question"
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.parametrize("make", ADVERSARIAL)
def test_router_time_grows_linearly_with_question_length(make):
    """1k/10k/100k characters: each 10x longer input may take at most 40x longer (linear: ~10x;
    quadratic: 100x; the old regex took 1.6/9/74 s for 1k/2k/4k). And 100k characters may cost at most
    as much as routing a short question 20 times per character (the old regex: 23 s for 3k)."""
    short = _route_seconds("is there a cat in the kitchen?", repeats=50)
    floor = 2e-5  # below ~20 us the timer and call overhead dominate: no ratio can be read there
    times = {1_000: _route_seconds(make(1_000))}
    assert times[1_000] < 20 * 1_000 * max(short, 1e-7), (times, short)  # fail here, not hang at 100k
    for n in (10_000, 100_000):  # each step checked before the next, longer one is tried
        times[n] = _route_seconds(make(n))
        assert max(times[n], floor) / max(times[n // 10], floor) < 40, times
    assert times[100_000] < 20 * 100_000 * max(short, 1e-7), (times, short)


def test_presence_target_matches_the_intents():
    cases = {
        "Is there a cat?": "cat",
        "is there any dog in the kitchen?": "dog",
        "are there some red cars in this picture": "red cars",
        "do you see any red cars in the image?": "red cars",
        "can I see a boat": "boat",
        "does the photo show an elephant": "elephant",
        "Does this scene contain a traffic light?": "traffic light",
        "any people?": "people",
        "is it a hot-dog??": "hot-dog",
        "what is in the image?": None,
        "is there anything in the image?": None,
        "is there something?": None,
        "is there?": None,
        "describe the scene": None,
        "is there a cat in the": "cat in the",  # no place word: not a place suffix
    }
    for question, target in cases.items():
        assert presence_target(question) == target, question


def test_long_presence_target_is_not_echoed():
    long_thing = " ".join(["elephant"] * 50)
    assert presence_target("is there a " + long_thing + "?") is None
    assert len(presence_target("is there a " + "x" * MAX_TARGET_CHARS)) == MAX_TARGET_CHARS
    assert presence_target("is there a " + "x" * (MAX_TARGET_CHARS + 1)) is None
    assert presence_target("is there a x" + " " * 100_000 + "y") == "x y"  # whitespace folded: short


def test_router_still_routes():
    assert route("what color is the shape?", VOCAB) == "shapes"
    assert route("is there a car?", VOCAB) == "open"
    with pytest.raises(ValueError, match="empty"):
        route("?!", VOCAB)


# -- caches bounded in bytes --------------------------------------------------------------------


def test_byte_bounded_memo():
    memo = ByteBoundedMemo(max_bytes=10_000, max_key_chars=100)
    vec = np.zeros(384, np.float32)  # 1,536 bytes
    for i in range(50):
        memo.put(f"q{i}", vec.copy())
        assert memo.nbytes <= 10_000
    assert 0 < len(memo) < 50
    assert memo.get("q49") is not None and memo.get("q0") is None  # least recently used went first
    assert not memo.put("k" * 101, vec) and "k" * 101 not in memo  # long keys are not kept
    assert not memo.put("big", np.zeros(10_000, np.float32))  # bigger than the whole memo
    assert memo.skipped == 2
    memo.get("q45")
    memo.put("new", vec.copy())
    assert memo.get("q45") is not None  # recently used survives


def test_text_embedder_memo_is_bounded_in_bytes():
    """Question strings were memoised with a count bound only: 7 big questions grew the cloud by GBs."""
    emb = object.__new__(text_embed.TextEmbedder)  # no model: only the memo logic
    emb._memo = ByteBoundedMemo(text_embed.MEMO_MAX_BYTES, text_embed.MEMO_MAX_KEY_CHARS)
    calls = []

    def fake_batch(texts):
        calls.append(len(texts))
        return np.ones((len(texts), emb.dim), np.float32)

    emb._encode_batch = fake_batch
    texts = [f"answer {i} " + "x" * 200 for i in range(20_000)] + ["q" + "y" * 1_000_000 for _ in range(3)]
    out = emb.embed(texts)
    assert out.shape == (len(texts), 384)
    assert emb._memo.nbytes <= text_embed.MEMO_MAX_BYTES
    assert all(len(k) <= text_embed.MEMO_MAX_KEY_CHARS for k in emb._memo._entries)
    before = sum(calls)
    emb.embed(texts[-100:-3])  # recent short texts come from the memo
    assert sum(calls) == before


def test_no_backtracking_pattern_left_on_user_text():
    """A guard against regressions: the router module compiles no pattern with a lazy or nested
    quantifier over arbitrary text (the shape that backtracked)."""
    import prosem_core.models.router as router

    patterns = [v.pattern for v in vars(router).values() if isinstance(v, re.Pattern)]
    assert patterns
    for pattern in patterns:
        assert ".+?" not in pattern and ".*?" not in pattern and ")?" not in pattern, pattern
