"""Configuration of the Meta AutoEncoder (what `MetaAutoEncoder.fit(..., **config)` accepts)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class CodecConfig:
    # Token layout: `views` equal blocks of consecutive tokens (e.g. SmolVLM image splitting: 13 views
    # x 64 tokens), each an h x w grid in row-major order: `grid` = (h, w) per view, or () for a
    # square grid when tokens per view is a square (else 1 x n). The pyramid respects views: level 0
    # is the mean over all tokens, then (views > 1) the per-view means, then the cells of each view.
    views: int = 1
    grid: tuple[int, ...] = ()
    # Spatial pyramid: level 0 = mean token, [per-view means], one level per split (2 -> 2x2 cells
    # of each view), last = per-token detail.
    splits: tuple[int, ...] = (2,)
    # Which pyramid levels each layer codes, coarse to fine; layers revisiting a level refine it.
    # () = the default plan (default_plan): ordered by what answers need, see there.
    layer_levels: tuple[tuple[int, ...], ...] = ()
    # Byte budget of each layer, header included; () = the default plan's. fit() calibrates each
    # layer's step so that `budget_quantile` of calibration frames fit; encode() coarsens the step of
    # a frame that would not fit, so budgets always hold.
    layer_budgets: tuple[int, ...] = ()
    budget_quantile: float = 0.9
    # Channel components kept for the detail level (coarse levels keep all D, so they transfer to
    # any image domain); encode/decode time grows with this.
    detail_components: int = 256
    # Model metric: kept eigen-directions of W^T W and the weight of the directions W ignores.
    metric_rank: int = 128
    null_weight: float = 0.05
    # Weight of each pyramid level's error; empty = automatic: 32 for the mean token, 4 for the cell
    # levels, 1 for the detail (measured: ImageNet top-1 agreement on photos at the base layer 0.94
    # with 8,2,1 -> 0.97 with 32,4,1, easy-VQA answers unchanged). Heavier coarse levels buy accuracy for models that pool tokens (the
    # ImageNet head reads only the mean token; the answer head mean- and max-pools its first layer).
    level_weights: tuple[float, ...] = ()
    # Quantizer dead zone (0 = plain rounding).
    deadzone: float = 0.15
    # Calibration frames used to set the steps (more = slower fit).
    step_calibration_frames: int = 96

    def __post_init__(self) -> None:
        if self.views < 1 or self.views > 4096:
            raise ValueError(f"views must be 1..4096, got {self.views}")
        if self.grid and (len(self.grid) != 2 or min(self.grid) < 1):
            raise ValueError(f"grid must be () or (h, w) with h, w >= 1, got {self.grid}")
        if any(s < 2 for s in self.splits) or list(self.splits) != sorted(self.splits):
            raise ValueError("splits must be increasing factors >= 2")
        levels, budgets = self.plan()
        if len(levels) != len(budgets) or not 1 <= len(levels) <= 16:
            raise ValueError("layer_levels and layer_budgets must have the same length (1..16)")
        nlev = self.level_count
        for lv in levels:
            if not lv or any(not 0 <= v < nlev for v in lv) or len(set(lv)) != len(lv):
                raise ValueError(f"layer levels {lv} must be distinct pyramid levels in 0..{nlev - 1}")
        if any(not 64 <= b <= 60_000 for b in budgets):
            raise ValueError("layer budgets must be within 64..60000 bytes")
        if not 0.0 < self.budget_quantile <= 1.0 or not 0.0 <= self.deadzone < 0.5:
            raise ValueError("budget_quantile must be in (0, 1], deadzone in [0, 0.5)")
        if self.detail_components < 1 or self.metric_rank < 1 or self.null_weight <= 0:
            raise ValueError("detail_components, metric_rank and null_weight must be positive")
        if any(not (math.isfinite(w) and w > 0) for w in self.level_weights):
            raise ValueError("level_weights must be positive")
        if self.level_weights and len(self.level_weights) != nlev:
            raise ValueError(f"level_weights needs {nlev} values (one per pyramid level)")

    @property
    def level_count(self) -> int:
        """Pyramid levels: mean, [per-view means], one per split, detail."""
        return 2 + len(self.splits) + (1 if self.views > 1 else 0)

    def plan(self) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
        """(levels of each layer, byte budget of each layer): the configured ones or default_plan's."""
        levels, budgets = default_plan(self.level_count)
        if self.layer_levels:
            levels = self.layer_levels
            if not self.layer_budgets:
                raise ValueError("layer_levels needs layer_budgets (one per layer)")
        if self.layer_budgets:
            budgets = self.layer_budgets
        return levels, budgets

    def weights(self) -> tuple[float, ...]:
        if self.level_weights:
            return self.level_weights
        return (32.0,) + (4.0,) * (self.level_count - 2) + (1.0,)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CodecConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown codec config keys: {sorted(unknown)}")
        conv = dict(data)
        for key, kind in (("splits", int), ("layer_budgets", int), ("level_weights", float), ("grid", int)):
            if key in conv:
                conv[key] = tuple(kind(v) for v in conv[key])
        if "layer_levels" in conv:
            conv["layer_levels"] = tuple(tuple(int(v) for v in lv) for lv in conv["layer_levels"])
        return cls(**conv)


def default_plan(level_count: int) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """The default layer plan, ordered by what answers need (levels: 0 = mean token, last = detail,
    the others coarse: per-view means and cells):

        layer 0  mean token            256 B  what a pooled read-out needs (the ImageNet head reads
                                              only the mean token): open questions
        layer 1  mean token again      256 B  refines it
        layer 2  coarse levels         512 B  where things are (cells, views) and the mean again
        layer 3  detail               1024 B  per-token detail (shape questions)
        layer 4  everything           4096 B  near-lossless for the model
    """
    detail = level_count - 1
    coarse = tuple(range(detail))
    return ((0,), (0,), coarse, (detail,), coarse + (detail,)), (256, 256, 512, 1024, 4096)
