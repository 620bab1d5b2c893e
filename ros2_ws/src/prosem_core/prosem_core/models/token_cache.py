"""A resumable on-disk cache of calibration tokens: image hash -> tokens, in .npz shards (no pickle).

The folder is keyed by everything that decides the tokens (model fingerprint, runtime, options), so a
rerun of the same `prosem calibrate` reuses every image already encoded and a run with another model
or option never mixes its tokens in. Shards are written atomically every few images and when a run
ends or is interrupted, so at most `flush_every` images are lost to a crash.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def image_key(rgb: np.ndarray) -> str:
    """Content hash of an image (shape + pixels)."""
    arr = np.ascontiguousarray(rgb)
    h = hashlib.sha256(f"{arr.shape}|{arr.dtype}|".encode())
    h.update(arr.data)
    return h.hexdigest()[:24]


def cache_folder(out: str | Path, identity: dict) -> Path:
    """OUT.cache/<model fingerprint>-<hash of the rest of identity>/ next to the codebook path OUT."""
    text = json.dumps(identity, sort_keys=True, default=str)
    tag = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Path(f"{out}.cache") / f"{identity.get('fingerprint', 'model')}-{tag}"


class TokenCache:
    def __init__(self, folder: str | Path, identity: dict, flush_every: int = 8):
        self.folder = Path(folder)
        self.flush_every = max(1, int(flush_every))
        self.folder.mkdir(parents=True, exist_ok=True)
        ident = self.folder / "identity.json"
        if not ident.is_file():
            ident.write_text(json.dumps(identity, indent=2, sort_keys=True, default=str), encoding="utf-8")
        self._stored: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("shard_*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    self._stored.update({k: data[k] for k in data.files})
            except (OSError, ValueError):  # a shard cut short by a crash before its rename: ignore it
                continue
        self._pending: dict[str, np.ndarray] = {}
        self._next_shard = len(list(self.folder.glob("shard_*.npz")))

    def __len__(self) -> int:
        return len(self._stored) + len(self._pending)

    def get(self, key: str) -> np.ndarray | None:
        hit = self._stored.get(key)
        return hit if hit is not None else self._pending.get(key)

    def put(self, key: str, tokens: np.ndarray) -> None:
        self._pending[key] = np.ascontiguousarray(tokens, dtype=np.float32)
        if len(self._pending) >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        path = self.folder / f"shard_{self._next_shard:05d}.npz"
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=self.folder)
        os.close(fd)
        try:
            np.savez(tmp, **self._pending)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
        self._stored.update(self._pending)
        self._pending = {}
        self._next_shard += 1
