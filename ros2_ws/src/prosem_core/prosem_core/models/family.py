"""What a model family provides to the pipeline, the CLI and the nodes (torch-free to import).

A family turns a PipelineConfig into the two halves of a split model:
  edge : build_encoder(cfg)  -> .encode(rgb_uint8_hwc) -> float32 [T, D], .token_shape, .name
  cloud: build_answerer(cfg) -> .answer(tokens, question, *, max_new_tokens, on_partial, should_stop)
and names the model exactly (fingerprint), so a codebook can be bound to it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class ModelFamily(Protocol):
    name: str
    runtimes: tuple[str, ...]  # edge runtimes this family offers

    def check_options(self, cfg: Any) -> None:
        """Raise ModelOptionError for options this family does not take (cheap: no file is read)."""

    def fingerprint(self, cfg: Any) -> str:
        """16 hex chars naming the model the edge runs (ModelSetupError if it cannot be read)."""

    def build_encoder(self, cfg: Any):
        """Edge half for cfg.runtime (ModelSetupError naming the fix when something is missing)."""

    def build_answerer(self, cfg: Any):
        """Cloud half (ModelSetupError naming the fix when something is missing)."""

    def default_codebook(self, cfg: Any) -> Path | None:
        """The shipped codebook, or None when the user must calibrate one."""

    def codec_model(self, cfg: Any):
        """What the codec weights errors by (an object with first_linear_map()), for calibration."""

    def model_args(self, cfg: Any) -> str:
        """The CLI arguments that select this model, for fix commands (e.g. "--model smolvlm --model-dir D")."""
