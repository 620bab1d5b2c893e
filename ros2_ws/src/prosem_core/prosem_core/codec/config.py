"""Configuration of the Meta AutoEncoder (what `MetaAutoEncoder.fit(..., **config)` accepts)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class CodecConfig:
    # Spatial pyramid: level 0 = mean token, one level per split (2 -> 2x2 cells), last = per-token detail.
    splits: tuple[int, ...] = (2,)
    # Which pyramid levels each layer codes, coarse to fine. Layers revisiting a level refine it.
    layer_levels: tuple[tuple[int, ...], ...] = ((0, 1), (2,), (0, 1, 2), (0, 1, 2))
    # Byte budget of each layer, header included (base layer <= 1 KiB). fit() calibrates each layer's
    # step so that `budget_quantile` of calibration frames fit; encode() coarsens the step of a frame
    # that would not fit, so budgets always hold.
    layer_budgets: tuple[int, ...] = (1024, 1024, 2048, 4096)
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
        if len(self.layer_levels) != len(self.layer_budgets) or not 1 <= len(self.layer_levels) <= 16:
            raise ValueError("layer_levels and layer_budgets must have the same length (1..16)")
        nlev = len(self.splits) + 2
        for levels in self.layer_levels:
            if not levels or any(not 0 <= lv < nlev for lv in levels) or len(set(levels)) != len(levels):
                raise ValueError(f"layer levels {levels} must be distinct pyramid levels in 0..{nlev - 1}")
        if any(not 128 <= b <= 60_000 for b in self.layer_budgets):
            raise ValueError("layer budgets must be within 128..60000 bytes")
        if not 0.0 < self.budget_quantile <= 1.0 or not 0.0 <= self.deadzone < 0.5:
            raise ValueError("budget_quantile must be in (0, 1], deadzone in [0, 0.5)")
        if self.detail_components < 1 or self.metric_rank < 1 or self.null_weight <= 0:
            raise ValueError("detail_components, metric_rank and null_weight must be positive")
        if any(not (math.isfinite(w) and w > 0) for w in self.level_weights):
            raise ValueError("level_weights must be positive")
        if any(s < 2 for s in self.splits) or list(self.splits) != sorted(self.splits):
            raise ValueError("splits must be increasing factors >= 2")

    def weights(self) -> tuple[float, ...]:
        if self.level_weights:
            return self.level_weights
        return (32.0,) + (4.0,) * len(self.splits) + (1.0,)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> CodecConfig:
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown codec config keys: {sorted(unknown)}")
        conv = dict(data)
        for key, kind in (("splits", int), ("layer_budgets", int), ("level_weights", float)):
            if key in conv:
                conv[key] = tuple(kind(v) for v in conv[key])
        if "layer_levels" in conv:
            conv["layer_levels"] = tuple(tuple(int(v) for v in lv) for lv in conv["layer_levels"])
        return cls(**conv)
