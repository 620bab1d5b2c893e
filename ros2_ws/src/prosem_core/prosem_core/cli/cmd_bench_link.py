"""`prosem bench link --json OUT [--quick]`: edge and cloud nodes across a real shaped link (root).

Sections (all by default; pick with --only):
  single     progressive (first/refined answer), full_cloud JPEG q90/q75, 30 % loss, 5 s cut
  multi      8 edge streams x 5 fps into one cloud node: memory over time, query p95 vs 1 stream
  footprint  edge_node with torch hidden: steady RSS, keeping up with 10 fps by dropping frames
Progress goes to stderr; the JSON names each mode's median and p95, the link rate and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SECTIONS = ("single", "multi", "footprint")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--only takes a comma list of {', '.join(SECTIONS)}; got {text!r}")
    return names


def run(args: argparse.Namespace) -> int:
    from prosem_core.bench import netns

    reason = netns.unavailable_reason()
    if reason:
        print(f"prosem bench link: {reason}", file=sys.stderr)
        return 2
    from prosem_core.bench import link

    if args.dds_profile:
        # Inherited by every process the harness starts (edge, cloud, probes), in every section.
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(Path(args.dds_profile).resolve())
    cfg = link.LinkBenchConfig(rate_bps=int(args.rate_bps), log_dir=args.log_dir or "")
    if args.quick:
        cfg.measure_s, cfg.cut_at_s, cfg.cut_s = 10.0, 2.0, 5.0
    if args.measure_s:
        cfg.measure_s = args.measure_s
    report: dict = {"command": "prosem bench link " + " ".join(sys.argv[3:]) if len(sys.argv) > 3 else "prosem bench link"}
    if "single" in args.only:
        report["single"] = link.run(cfg)
    if "multi" in args.only:
        from prosem_core.bench import link_multi

        duration = args.multi_s or (20.0 if args.quick else 120.0)
        report["multi"] = link_multi.run(link_multi.MultiConfig(duration_s=duration, rate_bps=int(args.rate_bps)))
    if "footprint" in args.only:
        from prosem_core.bench import edge_footprint

        duration = 15.0 if args.quick else 40.0
        report["footprint"] = edge_footprint.run(edge_footprint.FootprintConfig(duration_s=duration))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    print(f"prosem bench link: wrote {out}", file=sys.stderr)
    return 0


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("link", help="edge+cloud nodes across a 1 Mbit/s shaped link (root): latency, bytes, loss, cuts",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True, help="where to write the results")
    p.add_argument("--quick", action="store_true", help="short windows (about a minute per section)")
    p.add_argument("--only", type=_sections, default=list(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--rate-bps", type=_positive, default=1_000_000, help="link rate, each direction (default 1e6)")
    p.add_argument("--measure-s", type=_positive, default=None, help="measuring window per single-stream scenario")
    p.add_argument("--multi-s", type=_positive, default=None, help="duration of the 8-stream run (default 120, quick 20)")
    p.add_argument("--dds-profile", default=None, help="Fast DDS XML profile for all processes (default: $FASTDDS_DEFAULT_PROFILES_FILE)")
    p.add_argument("--log-dir", default=None, help="keep node logs here (default: a temp folder, named in the JSON)")
    p.set_defaults(func=run)
