"""Semantic consistency of answers, as the reference paper measures it.

For every question: the answer from compressed tokens vs the answer from uncompressed tokens:
  - minilm_cosine: MiniLM cosine of the two answer texts (1.0 when identical),
  - exact_agreement: the two answers are the same,
  - accuracy: the compressed answer equals the ground truth (when there is one).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Consistency:
    minilm_cosine: float
    exact_agreement: float
    accuracy: float | None
    n: int


def consistency(answers: list[str], reference: list[str], truth: list[str] | None, cosine_of) -> Consistency:
    """`cosine_of(a_list, b_list) -> [N]` pairwise MiniLM cosine (e.g. TextEmbedder.cosine)."""
    if len(answers) != len(reference) or (truth is not None and len(truth) != len(answers)):
        raise ValueError("answers, reference and truth must have the same length")
    if not answers:
        raise ValueError("no answers to compare")
    same = np.array([a == r for a, r in zip(answers, reference)])
    # Identical strings have cosine 1 by definition; only embed the pairs that differ (fast, exact).
    cos = np.ones(len(answers), dtype=np.float64)
    diff = np.flatnonzero(~same)
    if len(diff):
        cos[diff] = cosine_of([answers[i] for i in diff], [reference[i] for i in diff])
    acc = None if truth is None else float(np.mean([a == t for a, t in zip(answers, truth)]))
    return Consistency(float(cos.mean()), float(same.mean()), acc, len(answers))
