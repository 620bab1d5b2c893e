"""Question-type detection: which model answers a question.

Route "shapes" (the trained easy-VQA head) when every word of the question is one the head was
trained on (after synonym folding, plus a few filler words such as "this"/"picture"/"you") AND the
question names a shape or a colour. Everything else goes to "open" (ImageNet head + MiniLM):
"what is in the image?", "is there a cat?", "is there a red car?" (unknown word "car").
The rule is strict on purpose: the head must never see a question about things it cannot know.
"""
from __future__ import annotations

import re

from prosem_core.models.question_text import words

SHAPE_WORDS = frozenset({"shape", "circle", "rectangle", "triangle"})
COLOR_WORDS = frozenset({"color", "red", "green", "blue", "yellow", "teal", "brown", "gray", "black"})
FILLER_WORDS = frozenset({"this", "picture", "photo", "an", "any", "which", "you", "see", "can", "do", "has", "have",
                          "it", "one", "are", "i"})

# Open-question intents. "presence": is X in view (X captured); anything else is "describe".
# Matched on the question's words, not with a regex over the text: a pattern such as
# "(?P<x>.+?)\s*(in the \w+)?\??\s*$" backtracks on user text (a question with 3,000 spaces took 23 s);
# splitting into words and comparing a few of them is linear in the question's length.
_ARTICLES = frozenset({"a", "an", "any", "some"})
_MEDIA = frozenset({"image", "picture", "photo", "scene", "frame"})
_VERBS = frozenset({"contain", "show", "have", "include", "contains", "shows", "haves", "includes"})
_NOT_A_TARGET = frozenset({"", "in the image", "anything", "something"})
_UNWANTED = re.compile(r"[^\w\s'-]")  # one character class: linear, no backtracking
_WORDISH = re.compile(r"\w+")
MAX_TARGET_CHARS = 64  # longer is no object name the open model knows; a target is echoed in answers


def route(question: str, vocab: set[str] | frozenset[str]) -> str:
    ws = words(question)
    if not ws:
        raise ValueError("empty question")
    domain = any(w in SHAPE_WORDS or w in COLOR_WORDS for w in ws)
    known = all(w in vocab or w in FILLER_WORDS for w in ws)
    return "shapes" if (domain and known) else "open"


def _lower(ws: list[str], i: int) -> str:
    return ws[i].lower() if i < len(ws) else ""


def _presence_words(ws: list[str]) -> list[str] | None:
    """The words of X in one of the presence forms, or None; `ws` is the question split on whitespace."""
    if _lower(ws, 0) in ("is", "are") and _lower(ws, 1) in ("there", "this", "that", "it"):
        rest, place_suffix = ws[2:], True
    elif _lower(ws, 0) in ("do", "can") and _lower(ws, 1) in ("you", "i") and _lower(ws, 2) == "see":
        rest, place_suffix = ws[3:], True
    elif (_lower(ws, 0) in ("does", "do") and _lower(ws, 1) in ("the", "this") and _lower(ws, 2) in _MEDIA
          and _lower(ws, 3) in _VERBS):
        rest, place_suffix = ws[4:], False
    elif _lower(ws, 0) == "any":
        return ws[1:] or None
    else:
        return None
    if len(rest) > 1 and rest[0].lower() in _ARTICLES:
        rest = rest[1:]
    # "... X in the kitchen": the place is not part of X.
    if (place_suffix and len(rest) > 3 and rest[-3].lower() == "in" and rest[-2].lower() in ("the", "this")
            and _WORDISH.fullmatch(rest[-1])):
        rest = rest[:-3]
    return rest or None


def presence_target(question: str) -> str | None:
    """The X of 'is there a X?' / 'do you see X' / 'does the image contain X', else None.

    Linear in the question's length. An X longer than MAX_TARGET_CHARS counts as no target: the
    question is then answered with a description, which quotes nothing of it.
    """
    text = question.strip()
    if text.endswith("?"):
        text = text[:-1]
    ws = _presence_words(text.split())
    if ws is None:
        return None
    target = " ".join(ws)
    if len(target) > 4 * MAX_TARGET_CHARS:  # no object name whatever the cleaning removes: skip the work
        return None
    target = _UNWANTED.sub("", target).strip()
    if target.lower() in _NOT_A_TARGET or target.lower() in _ARTICLES or len(target) > MAX_TARGET_CHARS:
        return None
    return target
