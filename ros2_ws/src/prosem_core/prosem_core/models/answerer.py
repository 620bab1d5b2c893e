"""Default cloud answerer: free-text question + tokens [49, 1280] -> Answer.

Routing (router.route): easy-VQA shape/colour questions go to the trained answer head (numpy,
~1 ms); every other question goes to the ImageNet head + MiniLM (open_vqa, loaded on the first open
question). After `prosem export-onnx` (make setup) neither path imports torch: the ImageNet head is
cached as safetensors, MiniLM runs as ONNX with the class-name vectors cached; without the exports
MiniLM falls back to torch + transformers. The codec always decodes a full 49-token grid, so both
models read 49 tokens.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from prosem_core.models.answer import Answer, PartialCallback, StopCheck
from prosem_core.models.encoder import TOKEN_SHAPE
from prosem_core.models.paths import DATA_DIR, VQA_HEAD_FILE
from prosem_core.models.router import route
from prosem_core.models.vqa_head import VQAHead


def check_tokens(tokens: np.ndarray, shape: tuple[int, int] = TOKEN_SHAPE) -> np.ndarray:
    t = np.asarray(tokens)
    if t.shape != shape:
        raise ValueError(f"answerer expects tokens of shape {shape} (the codec decodes a full grid), got {t.shape}")
    t = t.astype(np.float32, copy=False)
    if not np.all(np.isfinite(t)):
        raise ValueError("tokens contain NaN or inf")
    return t


class DefaultAnswerer:
    name = "default"

    def __init__(self, head_path: str | Path | None = None):
        self.head_path = Path(head_path) if head_path else DATA_DIR / VQA_HEAD_FILE
        self._head: VQAHead | None = None
        self._open = None

    @property
    def head(self) -> VQAHead:
        if self._head is None:
            self._head = VQAHead.load(self.head_path)
        return self._head

    @property
    def open_vqa(self):
        if self._open is None:
            from prosem_core.models.open_vqa import OpenVQA

            self._open = OpenVQA()
        return self._open

    def warm_up(self, question: str | None = None) -> None:
        """Load models now so the first query is fast: all of them (servers), or only what
        `question` needs (the shapes route needs neither torch nor MiniLM)."""
        _ = self.head
        if question is None or self.route(question) == "open":
            _ = self.open_vqa

    def route(self, question: str) -> str:
        return route(question, set(self.head.vocab))

    def answer(self, tokens: np.ndarray, question: str, *, max_new_tokens: int | None = None,
               on_partial: PartialCallback | None = None, should_stop: StopCheck | None = None) -> Answer:
        """The Answerer protocol; the heads answer in about a millisecond, so max_new_tokens, on_partial
        and should_stop have nothing to act on and are ignored."""
        if not isinstance(question, str) or not question.strip():
            raise ValueError("question must be a non-empty string")
        t = check_tokens(tokens)
        if self.route(question) == "shapes":
            idx, prob = self.head.predict(t, [question])
            word = self.head.answers[int(idx[0])]
            return Answer(text=word, confidence=float(prob[0]), label=word, route="shapes")
        return self.open_vqa.answer(t, question)

    def answer_shapes_batch(self, tokens: np.ndarray, questions: list[str],
                            image_index: np.ndarray | None = None) -> tuple[list[str], np.ndarray]:
        """easy-VQA head on many questions at once (benchmarks): tokens [N, 49, 1280]; question i is
        about image image_index[i] (default i). Each image's features are computed once."""
        idx, prob = self.head.predict(np.asarray(tokens, dtype=np.float32), questions, image_index)
        return [self.head.answers[int(i)] for i in idx], prob

    def first_linear_map(self) -> np.ndarray:
        """[64 + 1000, 1280]: the rows every token is read through first.

        Rows 0..63: the answer head's per-token layer W_tok; rows 64..1063: the ImageNet `_fc`
        (applied to the mean token). Each block is divided by its Frobenius norm, so the two models
        weigh the same in a codec fit whatever their row counts and weight scales.
        """
        from prosem_core.models.imagenet_head import load_fc

        w_tok = self.head.p["W_tok"]
        w_fc, _ = load_fc()
        blocks = [w_tok / np.linalg.norm(w_tok), w_fc / np.linalg.norm(w_fc)]
        return np.concatenate(blocks, axis=0).astype(np.float32)
