"""easy-VQA data and cached encoder tokens (shared by training, the VQA bench and the codec bench).

Tokens of all images of a split are computed once per encoder runtime and cached as .npy files in
`model_dir()/cache` (git-ignored); later runs load them in a second. easy-VQA images are 64x64 RGB PNGs
with one shape; questions are templated (shape, colour, yes/no), 13 answers.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prosem_core.models.paths import model_dir

SPLITS = ("train", "test")


@dataclass(frozen=True)
class VQASplit:
    questions: list[str]
    answers: list[str]
    image_ids: np.ndarray  # [Q] easy-VQA image id of each question
    answer_names: list[str]  # the 13 answers, in easy-VQA's order

    @property
    def answer_index(self) -> np.ndarray:
        lookup = {a: i for i, a in enumerate(self.answer_names)}
        return np.array([lookup[a] for a in self.answers], dtype=np.int64)


def _easy_vqa():
    try:
        import easy_vqa
    except ImportError as exc:
        raise ImportError("easy-VQA data needs the PyPI package easy-vqa; run `make setup`") from exc
    return easy_vqa


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown easy-VQA split {split!r}; expected one of {SPLITS}")


def easy_vqa_questions(split: str) -> VQASplit:
    _check_split(split)
    ev = _easy_vqa()
    texts, answers, ids = ev.get_train_questions() if split == "train" else ev.get_test_questions()
    return VQASplit(list(texts), list(answers), np.asarray(ids, dtype=np.int64), ev.get_answers())


def easy_vqa_images(split: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(sorted image ids, RGB uint8 images) of a split."""
    from PIL import Image

    _check_split(split)
    ev = _easy_vqa()
    paths = ev.get_train_image_paths() if split == "train" else ev.get_test_image_paths()
    ids = np.array(sorted(paths), dtype=np.int64)
    images = [np.asarray(Image.open(paths[int(i)]).convert("RGB")) for i in ids]
    return ids, images


def _encoder_file_tag(runtime: str) -> str:
    """A short tag of the ONNX file behind an ONNX runtime (size and write time): re-exporting the
    encoder, e.g. with a new int8 recipe, must not serve tokens of the old file."""
    if runtime not in ("onnx", "onnx-int8"):
        return ""
    from prosem_core.models.paths import onnx_path

    try:
        st = onnx_path("fp32" if runtime == "onnx" else "int8").stat()
    except OSError:
        return ""
    return "_" + hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:10]


def _cache_paths(split: str, runtime: str) -> tuple[Path, Path]:
    base = model_dir() / "cache" / f"easy_vqa_{split}_{runtime}{_encoder_file_tag(runtime)}"
    return base.with_name(base.name + "_ids.npy"), base.with_name(base.name + "_tokens.npy")


def easy_vqa_tokens(split: str, runtime: str = "torch", encoder=None, refresh: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(image ids [N], tokens float32 [N, 49, 1280]) of a split, computed once and cached.

    The cache is keyed by split, runtime and the ONNX file's identity; `refresh=True` recomputes. Memory-mapped on load.
    """
    _check_split(split)
    ids_path, tok_path = _cache_paths(split, runtime)
    if not refresh and ids_path.is_file() and tok_path.is_file():
        ids = np.load(ids_path, allow_pickle=False)
        tokens = np.load(tok_path, allow_pickle=False, mmap_mode="r")
        if len(ids) == len(tokens):
            return ids, tokens
    if encoder is None:
        from prosem_core.models.encoder import build_encoder

        encoder = build_encoder(runtime)
    ids, images = easy_vqa_images(split)
    tokens = encoder.encode_batch(images).astype(np.float32)
    tok_path.parent.mkdir(parents=True, exist_ok=True)
    # Write tokens first, ids last: a crash in between leaves no ids file and the cache is rebuilt.
    ids_path.unlink(missing_ok=True)
    np.save(tok_path, tokens)
    np.save(ids_path, ids)
    return ids, tokens


def tokens_for_questions(ids: np.ndarray, tokens: np.ndarray, question_image_ids: np.ndarray) -> np.ndarray:
    """Row of `tokens` for each question (index array into the image axis)."""
    pos = np.searchsorted(ids, question_image_ids)
    if np.any(pos >= len(ids)) or np.any(ids[np.minimum(pos, len(ids) - 1)] != question_image_ids):
        raise KeyError("some question image ids are missing from the token cache")
    return pos


def easy_vqa_token_subset(split: str, runtime: str, count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image ids [n], tokens float32 [n, 49, 1280]) of `count` seeded images of a split.

    Uses the full cache when it exists (or when all images are asked for); otherwise encodes only
    the picked images, so a small run never pays for the whole split.
    """
    _check_split(split)
    ids_path, tok_path = _cache_paths(split, runtime)
    all_ids = np.array(sorted(_image_paths(split)), dtype=np.int64)
    pick = np.sort(np.random.default_rng(seed).choice(len(all_ids), size=min(count, len(all_ids)), replace=False))
    if count >= len(all_ids) or (ids_path.is_file() and tok_path.is_file()):
        ids, tokens = easy_vqa_tokens(split, runtime)
        pos = np.searchsorted(ids, all_ids[pick])
        return ids[pos], np.asarray(tokens[pos], dtype=np.float32)
    from PIL import Image

    from prosem_core.models.encoder import build_encoder

    paths = _image_paths(split)
    images = [np.asarray(Image.open(paths[int(i)]).convert("RGB")) for i in all_ids[pick]]
    return all_ids[pick], build_encoder(runtime).encode_batch(images).astype(np.float32)


def _image_paths(split: str) -> dict[int, str]:
    ev = _easy_vqa()
    return ev.get_train_image_paths() if split == "train" else ev.get_test_image_paths()
