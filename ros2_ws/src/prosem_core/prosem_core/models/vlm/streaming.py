"""Hooks into transformers' generate(): partial text as tokens arrive, and stopping on request.

Both run on the generating thread between tokens, so a caller's on_partial sees text while the model
writes, and a cancelled query stops after the current token instead of after max_new_tokens.
"""
from __future__ import annotations

import torch
from transformers import StoppingCriteria
from transformers.generation.streamers import BaseStreamer

from prosem_core.models.answer import PartialCallback, StopCheck


class PartialText(BaseStreamer):
    """Calls on_partial(text so far) after every generated token that changes the text."""

    def __init__(self, tokenizer, on_partial: PartialCallback):
        self.tokenizer = tokenizer
        self.on_partial = on_partial
        self.ids: list[int] = []
        self._prompt_seen = False
        self._last = ""

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompt ids (empty with inputs_embeds)
            self._prompt_seen = True
            return
        self.ids.extend(int(v) for v in value.reshape(-1).tolist())
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).strip()
        if text and text != self._last:
            self._last = text
            self.on_partial(text)

    def end(self) -> None:
        pass


class StopWhen(StoppingCriteria):
    """Stops generation once should_stop() returns True; `fired` says whether it did."""

    def __init__(self, should_stop: StopCheck):
        self.should_stop = should_stop
        self.fired = False

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        if not self.fired and self.should_stop():
            self.fired = True
        return torch.full((input_ids.shape[0],), self.fired, dtype=torch.bool, device=input_ids.device)
