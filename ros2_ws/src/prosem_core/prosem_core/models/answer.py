"""What every answerer returns, and the call every answerer accepts (one type for the whole code base).

    ans = answerer.answer(tokens, question, max_new_tokens=None, on_partial=None, should_stop=None)

on_partial(text_so_far) is called while a generative model writes (at least every few tokens);
should_stop() returning True makes it stop promptly and return what it has (Answer.stopped = True).
Answerers that answer in one step (the default family's heads) accept both and ignore them.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

PartialCallback = Callable[[str], None]
StopCheck = Callable[[], bool]


@dataclass
class Answer:
    text: str  # readable answer (easy-VQA: the answer word, as the data set writes answers)
    confidence: float  # 0..1: the head's probability, or a generative model's mean token probability
    label: str = ""  # short canonical answer for exact agreement ("circle", "yes", "tabby"); generative: the text
    route: str = ""  # "shapes" (easy-VQA head), "open" (ImageNet head + MiniLM) or "generate" (a VLM)
    details: dict = field(default_factory=dict)
    stopped: bool = False  # True: should_stop() ended generation early; text is what was written by then
    new_tokens: int = 0  # tokens a generative model produced (0 for the default heads)


class Answerer(Protocol):
    name: str

    def answer(self, tokens: np.ndarray, question: str, *, max_new_tokens: int | None = None,
               on_partial: PartialCallback | None = None, should_stop: StopCheck | None = None) -> Answer:
        """Tokens [T, D] (possibly decoded from a codec prefix) + a question -> Answer."""
