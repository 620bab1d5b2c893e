"""Question text -> words and bag-of-words vectors (numpy only).

easy-VQA questions are templated over a vocabulary of ~30 words, so a bag of words carries all the
information (negation included: "not"/"no" are words). A few spellings a user may type are folded
onto the training vocabulary; unknown words are ignored.
"""
from __future__ import annotations

import re

import numpy as np

_WORD = re.compile(r"[a-z]+")
# User spellings -> the words easy-VQA's templates use.
SYNONYMS = {"colour": "color", "colours": "color", "colors": "color", "grey": "gray", "square": "rectangle",
            "squares": "rectangle", "rectangles": "rectangle", "circles": "circle", "triangles": "triangle",
            "shapes": "shape", "isn": "is not", "doesn": "does not", "aren": "are not", "t": ""}


def words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(text.lower()):
        out.extend(SYNONYMS.get(w, w).split())  # "isn't" -> "is not"; "t" -> nothing
    return out


def build_vocab(questions: list[str]) -> list[str]:
    return sorted({w for q in questions for w in words(q)})


def bag_of_words(questions: list[str], vocab: list[str]) -> np.ndarray:
    """[Q, V] float32 word-presence vectors."""
    index = {w: i for i, w in enumerate(vocab)}
    out = np.zeros((len(questions), len(vocab)), dtype=np.float32)
    for r, q in enumerate(questions):
        for w in words(q):
            i = index.get(w)
            if i is not None:
                out[r, i] = 1.0
    return out
