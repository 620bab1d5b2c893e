"""`prosem bench vqa --json OUT`: accuracy and semantic consistency per codec prefix (easy-VQA test)."""
from __future__ import annotations

import argparse
import sys

from prosem_core.cli.report_out import write_report


def _count(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be 1..1000, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    from prosem_core.bench.vqa import VQABenchConfig
    from prosem_core.bench.vqa import run as run_bench

    cfg = VQABenchConfig(images=args.images, runtime=args.runtime, codebook=args.codebook,
                         with_int8=not args.no_int8, with_photos=not args.no_photos, seed=args.seed)
    log = lambda s: print(s, file=sys.stderr)  # noqa: E731
    report = run_bench(cfg, log=log)
    if not args.no_encoders:
        from prosem_core.bench.encoders import EncoderBenchConfig
        from prosem_core.bench.encoders import run as run_encoders

        report["encoders"] = enc = run_encoders(EncoderBenchConfig(), log=log)
        for r in enc["runtimes"]:
            report["summary"][f"encode_ms_{r['runtime']}"] = r["encode_ms_median"]
            if r["runtime"] != enc["reference"]:
                report["summary"][f"token_rel_error_{r['runtime']}_vs_{enc['reference']}"] = r["token_rel_error"]
    write_report(report, args.json)
    return 0


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("vqa", help="easy-VQA accuracy + semantic consistency per codec prefix")
    p.add_argument("--json", default=None, help="write the report here (default: stdout)")
    p.add_argument("--images", type=_count, default=1000, help="test images to use (their questions all count)")
    p.add_argument("--runtime", default="onnx", choices=["torch", "onnx", "onnx-int8"], help="reference encoder")
    p.add_argument("--codebook", default=None, help="codebook path (default: the shipped one)")
    p.add_argument("--no-int8", action="store_true", help="skip the int8-encoder condition")
    p.add_argument("--no-photos", action="store_true", help="skip open-question consistency on the bundled photos")
    p.add_argument("--no-encoders", action="store_true", help="skip the encoder runtime comparison (time, token error)")
    p.add_argument("--seed", type=int, default=0, help="seed picking the images when --images < 1000")
    p.set_defaults(func=run)
