"""The int8 edge encoder against fp32 on natural photos: does the robot's NPU path keep the answers?

The i.MX95's NPU runs int8, so the int8 ONNX export (`prosem export-onnx`: ONNX Runtime's dynamic
quantization) is what an accelerated robot would run. Measured on the bench's held-out photo crops,
both encoders with one thread: the relative token error against the fp32 tokens, the ImageNet top-1
agreement of the answers built on them, and the CPU time per frame of each (int8 over fp32 as a
speed-up). The targets (token error <= 0.05, top-1 agreement >= 0.95, >= 1.3x faster) are checked
and the gap is stated in words when they are missed.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

TARGET_ERROR, TARGET_AGREEMENT, TARGET_SPEEDUP = 0.05, 0.95, 1.3


def int8_edge(photos: list[np.ndarray], fp32_tokens: np.ndarray, top1: Callable[[np.ndarray], np.ndarray],
              fp32_encoder, timing_frames: int = 24) -> dict:
    """`top1(tokens[N, T, D]) -> labels[N]`; fp32_tokens are fp32_encoder's tokens of the photos."""
    from prosem_core.bench.codec import _cpu_ms
    from prosem_core.models.encoder import build_encoder

    int8 = build_encoder("onnx-int8")
    tokens8 = int8.encode_batch(photos).astype(np.float32)
    err = np.linalg.norm((tokens8 - fp32_tokens).reshape(len(photos), -1), axis=1) / np.maximum(
        np.linalg.norm(fp32_tokens.reshape(len(photos), -1), axis=1), 1e-12)
    agreement = float(np.mean(top1(tokens8) == top1(fp32_tokens)))
    sample = photos[:timing_frames]
    _, ms32 = _cpu_ms(fp32_encoder.encode, sample)
    _, ms8 = _cpu_ms(int8.encode, sample)
    out = {"photos": len(photos), "token_rel_error_mean": round(float(err.mean()), 4),
           "token_rel_error_p90": round(float(np.percentile(err, 90)), 4), "top1_agreement_with_fp32": round(agreement, 4),
           "fp32_cpu_ms_per_frame": round(ms32, 2), "int8_cpu_ms_per_frame": round(ms8, 2),
           "speedup_over_fp32": round(ms32 / ms8, 3) if ms8 > 0 else None}
    missed = []
    if out["token_rel_error_mean"] > TARGET_ERROR:
        missed.append(f"token error {out['token_rel_error_mean']:.3f} (target <= {TARGET_ERROR})")
    if agreement < TARGET_AGREEMENT:
        missed.append(f"top-1 agreement {agreement:.3f} (target >= {TARGET_AGREEMENT})")
    if out["speedup_over_fp32"] is None or out["speedup_over_fp32"] < TARGET_SPEEDUP:
        missed.append(f"speed-up {out['speedup_over_fp32']}x (target >= {TARGET_SPEEDUP}x)")
    out["target_met"] = not missed
    out["gap"] = "; ".join(missed) if missed else "none"
    return out
