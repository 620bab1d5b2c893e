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
_PRESENCE = re.compile(
    r"^\s*(?:is|are)\s+(?:there|this|that|it)\s+(?:an?\s+|any\s+|some\s+)?(?P<x>.+?)\s*(?:in\s+(?:the|this)\s+\w+\s*)?\??\s*$"
    r"|^\s*(?:do|can)\s+(?:you|i)\s+see\s+(?:an?\s+|any\s+|some\s+)?(?P<y>.+?)\s*(?:in\s+(?:the|this)\s+\w+\s*)?\??\s*$"
    r"|^\s*(?:does|do)\s+(?:the|this)\s+(?:image|picture|photo|scene|frame)\s+(?:contain|show|have|include)s?\s+(?:an?\s+|any\s+|some\s+)?(?P<z>.+?)\s*\??\s*$"
    r"|^\s*any\s+(?P<w>.+?)\s*\??\s*$",
    re.IGNORECASE,
)


def route(question: str, vocab: set[str] | frozenset[str]) -> str:
    ws = words(question)
    if not ws:
        raise ValueError("empty question")
    domain = any(w in SHAPE_WORDS or w in COLOR_WORDS for w in ws)
    known = all(w in vocab or w in FILLER_WORDS for w in ws)
    return "shapes" if (domain and known) else "open"


def presence_target(question: str) -> str | None:
    """The X of 'is there a X?' / 'do you see X' / 'does the image contain X', else None."""
    m = _PRESENCE.match(question.strip())
    if not m:
        return None
    target = next(g for g in m.groups() if g)
    target = re.sub(r"[^\w\s'-]", "", target).strip()
    if target.lower() in {"", "in the image", "anything", "something"}:
        return None
    return target
