"""`prosem bench stream --json OUT [--quick] [--plot PNG]`: the codec vs live H.264/H.265/AV1 on a camera stream."""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from prosem_core.cli.report_out import write_report


def _csv(kind, allowed=None):
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(",") if v)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"expected comma-separated values, got {text!r}") from exc
        if not values:
            raise argparse.ArgumentTypeError("expected at least one value")
        if allowed is not None and any(v not in allowed for v in values):
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}, got {text!r}")
        return values
    return parse


def _frames(text: str) -> int:
    value = int(text)
    if not 2 <= value <= 5000:
        raise argparse.ArgumentTypeError(f"frames must be 2..5000, got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    # One BLAS thread: the codec's small matrix products run 5-10x slower (wall) with OpenBLAS's
    # default pool on a shared 2-core host, and the benchmark's wall time is what a user waits for.
    # numpy is already loaded here (other subcommands import it), so environment variables come too
    # late; threadpoolctl resizes the loaded pool.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("[bench stream] threadpoolctl not installed: BLAS threads not limited "
              "(pip install threadpoolctl==3.8.0, or run with OMP_NUM_THREADS=1)", file=sys.stderr)
        threadpool_limits = None
    with threadpool_limits(limits=1, user_api="blas") if threadpool_limits else contextlib.nullcontext():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from prosem_core.bench.stream import StreamBenchConfig, headline, plot, quick_config
    from prosem_core.bench.stream import run as run_bench
    from prosem_core.bench.stream_video import VideoCodecUnavailable
    from prosem_core.codec import CodecError
    from prosem_core.models.paths import ModelFileMissing

    overrides = {k: v for k, v in {"frames": args.frames, "seed": args.seed, "runtime": args.runtime,
                                   "codebook": args.codebook, "video_codecs": args.video_codecs,
                                   "sizes": args.sizes, "temporal_intervals": args.temporal_intervals}.items()
                 if v is not None}
    try:
        cfg = quick_config(**overrides) if args.quick else StreamBenchConfig(**overrides)
        report = run_bench(cfg, log=lambda s: print(f"[bench stream] {s}", file=sys.stderr, flush=True))
    except (VideoCodecUnavailable, CodecError, ModelFileMissing, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_report(report, args.json, indent=1)
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(report, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    print(headline(report), file=sys.stderr)
    print(f"runtime {report['meta']['runtime_s']} s", file=sys.stderr)
    return 0


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("stream", help="codec (keyframe, temporal) vs H.264/H.265/AV1 on a camera stream")
    p.add_argument("--json", default=None, help="write the report here (default: stdout)")
    p.add_argument("--plot", default=None, help="agreement vs bytes/frame plot (PNG)")
    p.add_argument("--quick", action="store_true", help="a few frames, two settings per video codec (tests, smoke runs)")
    p.add_argument("--frames", type=_frames, default=None, help="camera frames (default 300; --quick: 12)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--runtime", default=None, choices=["torch", "onnx", "onnx-int8"], help="encoder runtime (default onnx)")
    p.add_argument("--codebook", default=None, help="codec codebook path stem (default: the shipped one)")
    p.add_argument("--video-codecs", type=_csv(str, ("h264", "h265", "av1")), default=None,
                   help="comma-separated subset of h264,h265,av1 (default: all)")
    p.add_argument("--sizes", type=_csv(str, ("native", "224")), default=None, help="video frame sizes: native,224 (default both)")
    p.add_argument("--temporal-intervals", type=_csv(int), default=None, help="codec temporal keyframe intervals in frames (default 50)")
    p.set_defaults(func=run)
