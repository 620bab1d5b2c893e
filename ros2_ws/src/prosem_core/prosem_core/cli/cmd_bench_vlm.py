"""`prosem bench vlm --json out/bench_vlm.json`: bring-your-own-VLM costs on real architecture sizes with
RANDOM weights (edge time per runtime vs the default encoder, token error, bytes and link time per
prefix vs JPEG, cloud time to first token and per token, peak RSS per side). See bench/vlm.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prosem_core.cli.report_out import write_report


def run(args: argparse.Namespace) -> int:
    from prosem_core.bench.vlm import VlmBenchConfig, markdown_table
    from prosem_core.bench.vlm import run as run_bench

    cfg = VlmBenchConfig(architectures=args.arch, models=tuple(args.models.split(",")), work_dir=args.work_dir,
                         frames=args.frames, calib_images=args.calib_images, threads=args.threads,
                         max_new_tokens=args.max_new_tokens)
    unknown = set(cfg.models) - {"smolvlm", "llava"}
    if unknown:
        print(f"prosem bench vlm: unknown model(s) {sorted(unknown)}; choose from smolvlm,llava", file=sys.stderr)
        return 2
    report = run_bench(cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    write_report(report, args.json, note=f" ({report['run_seconds']:.0f} s)")
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(report) + "\n")
    failed = [f for f, m in report["models"].items() if "error" in m]
    return 1 if failed else 0


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("vlm", help="VLM edge/cloud costs on real architecture sizes (random weights)")
    p.add_argument("--json", default=None, help="write the report here (default: stdout)")
    p.add_argument("--markdown", default=None, help="also write the README table here")
    p.add_argument("--arch", default="real", choices=["real", "tiny"], help="real sizes (default) or tiny (tests)")
    p.add_argument("--models", default="smolvlm,llava", help="comma-separated: smolvlm,llava")
    p.add_argument("--work-dir", default="build/bench_vlm", help="model dirs, exports, caches (reused by reruns)")
    p.add_argument("--frames", type=int, default=3, help="640x480 frames per runtime")
    p.add_argument("--calib-images", type=int, default=24, help="photos the codebook is fitted on")
    p.add_argument("--threads", type=int, default=1, help="CPU threads of every model in the run")
    p.add_argument("--max-new-tokens", type=int, default=8, help="tokens generated per timed answer")
    p.set_defaults(func=run)
