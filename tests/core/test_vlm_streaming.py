"""The Answerer protocol: a generative answerer streams its text (on_partial) and stops promptly when
asked (should_stop); the default answerer takes the same call and ignores both."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from vlm_helpers import photo, tiny_model

pytest.importorskip("transformers")

from prosem_core.models.answer import Answer  # noqa: E402
from prosem_core.pipeline import Pipeline, PipelineConfig  # noqa: E402

QUESTION = "what is in the image ?"


@pytest.fixture(scope="module", params=["smolvlm", "llava"])
def vlm(request, tmp_path_factory):
    model_dir = tiny_model(tmp_path_factory.mktemp("stream"), request.param, 8, export=False)
    p = Pipeline(PipelineConfig(model=request.param, model_dir=str(model_dir), runtime="torch", max_new_tokens=12))
    return p.encoder.encode(photo(seed=3)), p.answerer


def test_partial_text_streams_and_ends_with_the_answer(vlm):
    tokens, answerer = vlm
    answerer.config = dataclasses.replace(answerer.config, min_new_tokens=12)  # a long answer
    partials: list[str] = []
    ans = answerer.answer(tokens, QUESTION, on_partial=partials.append)
    assert isinstance(ans, Answer) and ans.route == "generate" and not ans.stopped
    assert ans.new_tokens == 12 and 0.0 < ans.confidence <= 1.0
    assert len(partials) >= 2, partials
    assert all(b.startswith(a) for a, b in zip(partials, partials[1:]))  # each extends the previous text
    assert partials[-1] == ans.text
    assert answerer.answer(tokens, QUESTION) == ans  # streaming changes nothing in the result


def test_should_stop_ends_generation_early_with_what_was_written(vlm):
    tokens, answerer = vlm
    answerer.config = dataclasses.replace(answerer.config, min_new_tokens=12)
    partials: list[str] = []
    ans = answerer.answer(tokens, QUESTION, on_partial=partials.append, should_stop=lambda: len(partials) >= 2)
    assert ans.stopped and 2 <= ans.new_tokens < 12
    assert ans.text.startswith(partials[1]) or ans.text == partials[-1]
    stopped_at_once = answerer.answer(tokens, QUESTION, should_stop=lambda: True)
    assert stopped_at_once.stopped and stopped_at_once.text == "" and stopped_at_once.new_tokens == 0


def test_request_budget_overrides_the_default(vlm):
    tokens, answerer = vlm
    answerer.config = dataclasses.replace(answerer.config, min_new_tokens=1)
    assert answerer.answer(tokens, QUESTION, max_new_tokens=3).new_tokens <= 3


def test_default_answerer_accepts_the_protocol_and_ignores_streaming():
    from prosem_core.models.answerer import DefaultAnswerer

    tokens = np.random.default_rng(0).standard_normal((49, 1280)).astype(np.float32)
    answerer = DefaultAnswerer()
    calls: list[str] = []
    plain = answerer.answer(tokens, "what shape is in the image?")
    ans = answerer.answer(tokens, "what shape is in the image?", max_new_tokens=4, on_partial=calls.append,
                          should_stop=lambda: True)
    assert ans == plain and not ans.stopped and calls == [] and 0.0 <= ans.confidence <= 1.0
