"""Semantic-consistency metrics (the paper's): cosine, exact agreement, accuracy."""
from __future__ import annotations

import numpy as np
import pytest

from prosem_core.models.consistency import consistency


def _fake_cosine(calls):
    def cos(a, b):
        calls.append((list(a), list(b)))
        return np.array([0.5 if x != y else 1.0 for x, y in zip(a, b)])
    return cos


def test_identical_answers_are_fully_consistent():
    calls = []
    c = consistency(["yes", "red"], ["yes", "red"], ["yes", "blue"], _fake_cosine(calls))
    assert (c.minilm_cosine, c.exact_agreement, c.accuracy, c.n) == (1.0, 1.0, 0.5, 2)
    assert calls == []  # identical pairs are never embedded


def test_only_differing_pairs_are_embedded():
    calls = []
    c = consistency(["yes", "blue", "circle", "no"], ["yes", "red", "circle", "yes"], None, _fake_cosine(calls))
    assert calls == [(["blue", "no"], ["red", "yes"])]
    assert c.exact_agreement == 0.5 and c.minilm_cosine == pytest.approx(0.75) and c.accuracy is None


def test_minilm_ranks_related_answers_higher():
    from prosem_core.models.text_embed import shared_embedder

    e = shared_embedder()
    cos = e.cosine(["I see a tabby cat.", "I see a tabby cat."], ["I see an Egyptian cat.", "I see a fire engine."])
    assert cos[0] > cos[1] + 0.2
    assert e.cosine(["red"], ["red"])[0] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("args", [([], [], None), (["a"], ["a", "b"], None), (["a"], ["a"], ["a", "b"])])
def test_bad_lengths_raise(args):
    with pytest.raises(ValueError):
        consistency(*args, cosine_of=lambda a, b: np.ones(len(a)))


def test_onnx_minilm_matches_torch_minilm():
    from models_helpers import ensure_onnx

    from prosem_core.models.text_embed import OnnxTextEmbedder, TextEmbedder

    ensure_onnx()
    texts = ["I see a tabby cat.", "is there a dog?", "red", "a robot looks at a kitchen table with two cups on it"]
    np.testing.assert_allclose(OnnxTextEmbedder().embed(texts), TextEmbedder().embed(texts), atol=1e-5)
