"""`prosem bench int8 --model smolvlm --model-dir DIR --json OUT`: a VLM edge half's int8 graphs,
dynamic vs the static recipe, against its fp32 export (token error, CPU time). See bench/vlm_int8.py;
the default model's int8 encoder is measured by `prosem bench codec` (int8_edge)."""
from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from prosem_core.bench.vlm_int8 import VlmInt8BenchConfig
    from prosem_core.bench.vlm_int8 import run as run_bench
    from prosem_core.cli.report_out import write_report
    from prosem_core.models.errors import ModelSetupError

    cfg = VlmInt8BenchConfig(model=args.model, model_dir=args.model_dir, projector_on_edge=not args.projector_on_cloud,
                             calib_images=args.calib_images, eval_images=args.eval_images, work_dir=args.work_dir)
    try:
        report = run_bench(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    except ModelSetupError as exc:
        print(f"prosem bench int8: {exc}", file=sys.stderr)
        return 2
    write_report(report, args.json)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 500:
        raise argparse.ArgumentTypeError(f"must be 1..500, got {text}")
    return value


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("int8", help="a VLM edge half's int8: dynamic vs the static recipe, vs fp32")
    p.add_argument("--model", required=True, choices=["smolvlm", "llava"], help="model family")
    p.add_argument("--model-dir", required=True, help="folder of the saved VLM, with its fp32 edge export")
    p.add_argument("--projector-on-cloud", action="store_true", help="LLaVA: the export without the projector")
    p.add_argument("--calib-images", type=_positive, default=8, help="calibration photos for the static recipe")
    p.add_argument("--eval-images", type=_positive, default=6, help="held-out photos the error and time are measured on")
    p.add_argument("--work-dir", default="build/bench_int8", help="where the two int8 graphs are written")
    p.add_argument("--json", default=None, help="write the report here (default: stdout)")
    p.set_defaults(func=run)
