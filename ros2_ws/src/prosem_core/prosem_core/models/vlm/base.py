"""The contract every real-VLM backend keeps (numpy only: importing this needs no torch).

A backend is one vision-language model cut in two where the reference paper cut it:
  edge  : image -> visual tokens float32 [T, D]      (what the codec compresses and ships)
  cloud : tokens [T, D] + question -> Answer          (tokens injected through `inputs_embeds`)
The cloud half never sees pixels, so it can answer from reconstructed (lossy) tokens just as well.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

from prosem_core.models.answer import Answer, PartialCallback, StopCheck


class VlmLoadError(RuntimeError):
    """A model directory is missing, incomplete, or holds a model family we do not support."""


class VlmInputError(ValueError):
    """An image, token array or question a backend was given has the wrong shape, dtype or content."""


Role = Literal["both", "edge", "cloud"]


@dataclass(frozen=True)
class VlmConfig:
    """How to load and run one backend. Only `model_dir` is required.

    role: which half to keep in memory. "edge" drops the language model, "cloud" drops the vision
        tower (and, for LLaVA with the projector on the cloud side, keeps the projector).
    llava_projector_on_edge: LLaVA only. True: the edge ships projector output (LM width);
        False: it ships vision-tower features and the cloud runs the projector.
    resize_mode: "processor" replays the model's own image processor resize chain (what the model
        was trained with); "direct" resizes once straight to the vision tower's input (cheaper on the edge).
    prompt_template: used only when the model directory ships no chat template; must contain
        "{image}" and "{question}".
    image_splitting: SmolVLM only. Off: one global view per frame (64 tokens for SmolVLM-256M). On: the
        frame is also cut into a rows x cols grid of tiles, as the model's processor does, and every
        tile plus the global view is encoded: tokens [views * T, D], views = rows * cols + 1.
    split_grid: (rows, cols) of the tiles. None: the grid the model's processor picks for a 4:3
        landscape camera frame (3 x 4 for SmolVLM-256M: 13 views, 832 tokens). Fixed per config so that
        both ends agree on the token count without it travelling with every frame.
    max_new_tokens: default generation budget for `answer`.
    min_new_tokens: end-of-sequence is held back for this many tokens, so an answer is never empty.
    """

    model_dir: str
    role: Role = "both"
    llava_projector_on_edge: bool = True
    resize_mode: Literal["processor", "direct"] = "processor"
    prompt_template: str | None = None
    image_splitting: bool = False
    split_grid: tuple[int, int] | None = None
    max_new_tokens: int = 24
    min_new_tokens: int = 1
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model_dir, str) or not self.model_dir:
            raise VlmInputError("model_dir must be a non-empty path string")
        if self.role not in ("both", "edge", "cloud"):
            raise VlmInputError(f"role must be 'both', 'edge' or 'cloud', got {self.role!r}")
        if self.resize_mode not in ("processor", "direct"):
            raise VlmInputError(f"resize_mode must be 'processor' or 'direct', got {self.resize_mode!r}")
        if self.prompt_template is not None and (
            "{image}" not in self.prompt_template or "{question}" not in self.prompt_template
        ):
            raise VlmInputError("prompt_template must contain '{image}' and '{question}'")
        if self.split_grid is not None:
            grid = tuple(self.split_grid)
            if len(grid) != 2 or any(int(g) < 1 or int(g) > 8 for g in grid) or grid[0] * grid[1] < 2:
                raise VlmInputError(f"split_grid must be (rows, cols) with 1..8 each and at least 2 tiles, got {self.split_grid!r}")
        if not (1 <= int(self.max_new_tokens) <= 4096):
            raise VlmInputError(f"max_new_tokens must be in 1..4096, got {self.max_new_tokens}")
        if not (0 <= int(self.min_new_tokens) <= int(self.max_new_tokens)):
            raise VlmInputError(f"min_new_tokens must be in 0..max_new_tokens, got {self.min_new_tokens}")
        if self.num_threads is not None and not (1 <= int(self.num_threads) <= 256):
            raise VlmInputError(f"num_threads must be in 1..256, got {self.num_threads}")


class VlmBackend(ABC):
    """Edge/cloud halves of one VLM. Subclasses hold the torch model; callers see numpy only."""

    family: str = "abstract"

    @property
    @abstractmethod
    def token_shape(self) -> tuple[int, int]:
        """(T, D) of the tokens `edge_tokens` returns and `answer` accepts, for one image."""

    @abstractmethod
    def edge_tokens(self, rgb_uint8_hwc: np.ndarray) -> np.ndarray:
        """Run the edge half on one RGB uint8 image [H, W, 3]; return float32 tokens [T, D]."""

    @abstractmethod
    def answer(self, tokens: np.ndarray, question: str, *, max_new_tokens: int | None = None,
               on_partial: PartialCallback | None = None, should_stop: StopCheck | None = None) -> Answer:
        """Cloud half: inject tokens [T, D] (possibly reconstructed) and generate an answer (the
        Answerer protocol of prosem_core.models.answer: streaming text and prompt stopping)."""

    @abstractmethod
    def first_linear_map(self) -> np.ndarray:
        """float32 [M, D]: the first per-token linear map the cloud applies to injected tokens.

        The codec uses it to weight token error by what the language model actually reads
        (error in directions this map ignores costs nothing downstream).
        """


def check_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate one RGB image; returns it as a C-contiguous uint8 [H, W, 3] array."""
    if not isinstance(image, np.ndarray):
        raise VlmInputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise VlmInputError(f"image must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise VlmInputError(f"image must be [H, W, 3] RGB, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise VlmInputError(f"image is empty: shape {image.shape}")
    return np.ascontiguousarray(image)


def check_tokens(tokens: np.ndarray, expected: tuple[int, int]) -> np.ndarray:
    """Validate tokens against a backend's (T, D); returns float32 C-contiguous [T, D]."""
    arr = np.asarray(tokens)
    if arr.ndim != 2 or tuple(arr.shape) != tuple(expected):
        raise VlmInputError(f"tokens must have shape {tuple(expected)}, got {tuple(arr.shape)}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise VlmInputError(f"tokens must be floating point, got {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise VlmInputError("tokens contain NaN or Inf")
    return arr


def check_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise VlmInputError("question must be a non-empty string")
    return question.strip()
