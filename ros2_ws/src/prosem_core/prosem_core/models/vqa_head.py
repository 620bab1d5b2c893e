"""easy-VQA answer head: tokens [49, 1280] + question -> one of 13 answers. Inference in numpy.

    z    = relu(tokens @ W_tok.T + b_tok)          per-token first linear layer, [49, H]
    img  = relu(W_img @ [mean(z); max(z)] + b_img)  pooled over the grid (shape position varies)
    q    = relu(W_q @ bow(question) + b_q)
    out  = W_out @ relu(W_mix @ (img * q) + b_mix) + b_out   (product: the question selects attributes)

`W_tok` is what the codec fitting reads through `first_linear_map()`. Weights live in a safetensors
file whose metadata holds the config, vocabulary and answer names (no pickle).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from prosem_core.models.question_text import bag_of_words

PARAM_NAMES = ("W_tok", "b_tok", "W_img", "b_img", "W_q", "b_q", "W_mix", "b_mix", "W_out", "b_out")


@dataclass(frozen=True)
class VQAHeadConfig:
    token_dim: int = 1280
    num_tokens: int = 49
    token_hidden: int = 64
    hidden: int = 128
    mix_hidden: int = 128


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


class VQAHead:
    def __init__(self, cfg: VQAHeadConfig, params: dict[str, np.ndarray], vocab: list[str], answers: list[str]):
        missing = [n for n in PARAM_NAMES if n not in params]
        if missing:
            raise ValueError(f"answer head weights lack {missing}")
        self.cfg, self.vocab, self.answers = cfg, list(vocab), list(answers)
        self.p = {n: np.asarray(params[n], dtype=np.float32) for n in PARAM_NAMES}
        if self.p["W_tok"].shape != (cfg.token_hidden, cfg.token_dim):
            raise ValueError(f"W_tok has shape {self.p['W_tok'].shape}, config says {(cfg.token_hidden, cfg.token_dim)}")
        if self.p["W_q"].shape[1] != len(self.vocab) or self.p["W_out"].shape[0] != len(self.answers):
            raise ValueError("answer head weights do not match its vocabulary/answers")

    def image_features(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [T, D] or [N, T, D] -> pooled image features [N, hidden]."""
        t = np.asarray(tokens, dtype=np.float32)
        if t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[2] != self.cfg.token_dim:
            raise ValueError(f"expected tokens [T, {self.cfg.token_dim}] or [N, T, {self.cfg.token_dim}], got {t.shape}")
        z = _relu(t @ self.p["W_tok"].T + self.p["b_tok"])
        pooled = np.concatenate([z.mean(axis=1), z.max(axis=1)], axis=1)
        return _relu(pooled @ self.p["W_img"].T + self.p["b_img"])

    def logits(self, tokens: np.ndarray, questions: list[str], image_index: np.ndarray | None = None) -> np.ndarray:
        """[Q, 13] logits. tokens [N, T, D] (or [T, D]); question i is about image image_index[i]
        (default: i, or image 0 when there is one image). Image features are computed once per image."""
        img = self.image_features(tokens)
        q = _relu(bag_of_words(questions, self.vocab) @ self.p["W_q"].T + self.p["b_q"])
        if image_index is None:
            if img.shape[0] not in (1, q.shape[0]):
                raise ValueError(f"{img.shape[0]} images for {q.shape[0]} questions")
            image_index = np.zeros(q.shape[0], np.int64) if img.shape[0] == 1 else np.arange(q.shape[0])
        image_index = np.asarray(image_index)
        if image_index.shape != (q.shape[0],) or (len(image_index) and not 0 <= image_index.min() <= image_index.max() < img.shape[0]):
            raise ValueError("image_index must give a valid image for every question")
        h = _relu((img[image_index] * q) @ self.p["W_mix"].T + self.p["b_mix"])
        return h @ self.p["W_out"].T + self.p["b_out"]

    def predict(self, tokens: np.ndarray, questions: list[str], image_index: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(answer index [Q], softmax probability of that answer [Q])."""
        lg = self.logits(tokens, questions, image_index)
        lg = lg - lg.max(axis=1, keepdims=True)
        p = np.exp(lg)
        p /= p.sum(axis=1, keepdims=True)
        idx = p.argmax(axis=1)
        return idx, p[np.arange(len(idx)), idx]

    # ---- files -------------------------------------------------------------------------------
    def save(self, path: str | Path, extra: dict | None = None) -> None:
        from safetensors.numpy import save_file

        meta = {"config": json.dumps(asdict(self.cfg)), "vocab": json.dumps(self.vocab),
                "answers": json.dumps(self.answers), "format": "prosem-vqa-head-1"}
        if extra:
            meta["train"] = json.dumps(extra)
        save_file({n: np.ascontiguousarray(self.p[n]) for n in PARAM_NAMES}, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> VQAHead:
        from safetensors import safe_open

        from prosem_core.models.paths import ModelFileMissing

        path = Path(path)
        if not path.is_file():
            raise ModelFileMissing(f"answer head weights not found at {path}; train them with `prosem train vqa-head`")
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            if meta.get("format") != "prosem-vqa-head-1":
                raise ValueError(f"{path} is not a ProSem answer head file (format={meta.get('format')!r})")
            params = {n: f.get_tensor(n) for n in f.keys()}
        cfg = VQAHeadConfig(**json.loads(meta["config"]))
        head = cls(cfg, params, json.loads(meta["vocab"]), json.loads(meta["answers"]))
        head.train_info = json.loads(meta.get("train", "{}"))
        return head
