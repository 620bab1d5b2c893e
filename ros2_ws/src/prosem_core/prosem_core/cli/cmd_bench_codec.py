"""`prosem bench codec --json OUT [--plot OUT.png]`: bytes vs agreement for the codec and baselines."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from prosem_core.cli.report_out import write_report


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be 1..1000, got {text}")
    return value


def _qualities(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated qualities, got {text!r}") from exc
    if not values or any(not 1 <= v <= 100 for v in values):
        raise argparse.ArgumentTypeError("qualities must be within 1..100")
    return values


def run(args: argparse.Namespace) -> int:
    from prosem_core.bench.codec import CodecBenchConfig, plot
    from prosem_core.bench.codec import run as run_bench
    from prosem_core.codec import CodecError

    cfg = CodecBenchConfig(limit=args.limit, photos=args.photos, runtime=args.runtime, codebook=args.codebook,
                           qualities=args.qualities, seed=args.seed,
                           temporal_frames=args.temporal_frames, int8_study=args.int8_study)
    try:
        report = run_bench(cfg, log=lambda s: print(s, file=sys.stderr))
    except (CodecError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_report(report, args.json)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    s = report["summary"]
    keys = ("base_layer_bytes", "base_layer_answer_agreement", "photo_base_layer_bytes", "photo_base_layer_top1_agreement",
            "photo_base_layer_gap", "best_agreement_within_2KiB", "accuracy_uncompressed", "accuracy_all_layers",
            "encode_ms", "decode_ms_all_layers", "encode_over_reference_workload", "int8_edge_token_error",
            "int8_edge_top1_agreement", "int8_edge_speedup_over_fp32", "int8_edge_gap", "targets")
    print(json.dumps({k: s[k] for k in keys if k in s}, indent=1), file=sys.stderr)
    return 0


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("codec", help="codec vs fp16/int8/pooled tokens and JPEG/WebP: bytes vs agreement")
    p.add_argument("--json", default=None, help="write the report here (default: stdout)")
    p.add_argument("--plot", default=None, help="agreement vs bytes plot (PNG)")
    p.add_argument("--limit", type=_count, default=100, help="easy-VQA test images (all their questions count)")
    p.add_argument("--photos", type=int, default=240, help="held-out photo crops for ImageNet top-1 agreement (0: skip)")
    p.add_argument("--temporal-frames", type=int, default=160,
                   help="camera frames for the temporal section, keyframes vs temporal coding (0: skip)")
    p.add_argument("--no-int8-study", dest="int8_study", action="store_false",
                   help="skip the int8 per-layer sensitivity and the recipe's steps (saves about 5 minutes)")
    p.add_argument("--runtime", default="onnx", choices=["torch", "onnx", "onnx-int8"], help="encoder runtime")
    p.add_argument("--codebook", default=None, help="codebook path stem (default: the shipped one)")
    p.add_argument("--qualities", type=_qualities, default=(10, 30, 50, 90), help="JPEG/WebP qualities")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
