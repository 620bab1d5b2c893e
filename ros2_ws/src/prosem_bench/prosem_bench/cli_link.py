"""`prosem bench link --json OUT [--quick]`: edge and cloud nodes across a real shaped link (root).

Sections (all by default; pick with --only):
  single     progressive (first/refined answer), full_cloud JPEG q90/q75, full_tokens (fp16), 30 % loss, 5 s cut
  multi      8 edge streams x 5 fps into one cloud node: memory over time, query p95 vs 1 stream
  footprint  edge_node with torch hidden: steady RSS, keeping up with 10 fps by dropping frames
  scale      1, 8, 16, 32, 64 simulated robots (pre-encoded replays) into one cloud node: query p95, cloud CPU
             per stream, memory, share of layers taken in (JSON + plot next to --json)
  soak       edge, cloud and a question every 0.2 s for --soak-s (600 s; quick 60) under hostile traffic:
             all answered, none from a forged frame, hostile questions refused, memory flat, clean Ctrl-C
Progress goes to stderr; the JSON names each mode's median and p95, the link rate and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

SECTIONS = ("single", "multi", "footprint", "scale", "soak")


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
    from prosem_bench import link

    if args.dds_profile:
        # Inherited by every process the harness starts (edge, cloud, probes), in every section.
        os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = str(Path(args.dds_profile).resolve())
    cfg = link.LinkBenchConfig(rate_bps=int(args.rate_bps), log_dir=args.log_dir or "", codebook=args.codebook)
    if args.quick:
        cfg.measure_s, cfg.cut_at_s, cfg.cut_s = 10.0, 2.0, 5.0
    if args.measure_s:
        cfg.measure_s = args.measure_s
    report: dict = {"meta": {"command": "prosem " + " ".join(sys.argv[1:]), "quick": bool(args.quick),
                             "link_rate_bps": int(args.rate_bps), "machine": link.machine(),
                             "dds_profile": netns.dds_env(0).get("FASTDDS_DEFAULT_PROFILES_FILE", "")}}
    if "single" in args.only:
        report["single"] = link.run(cfg)
    if "multi" in args.only:
        from prosem_bench import link_multi

        duration = args.multi_s or (20.0 if args.quick else 120.0)
        report["multi"] = link_multi.run(link_multi.MultiConfig(duration_s=duration, rate_bps=int(args.rate_bps), codebook=args.codebook,
                                                                solo_s=10.0 if args.quick else 30.0))
    if "footprint" in args.only:
        from prosem_bench import edge_footprint

        duration = 15.0 if args.quick else 40.0
        report["footprint"] = edge_footprint.run(edge_footprint.FootprintConfig(duration_s=duration, codebook=args.codebook))
    if "scale" in args.only:
        from prosem_bench import link_scale

        scale_cfg = link_scale.ScaleConfig(rate_bps=int(args.rate_bps), codebook=args.codebook)
        if args.quick:
            scale_cfg.counts, scale_cfg.window_s = (1, 8, 32), 10.0
        report["scale"] = link_scale.run(scale_cfg, plot=Path(args.json).with_name(Path(args.json).stem + "_scale.png"))
    if "soak" in args.only:
        from prosem_bench import link_soak

        duration = args.soak_s or (60.0 if args.quick else 600.0)
        report["soak"] = link_soak.run(link_soak.SoakConfig(duration_s=duration, rate_bps=int(args.rate_bps), codebook=args.codebook))
    report["summary"] = summary(report)
    report["rows"] = link.rows(report["single"]) if "single" in report else []
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    print(f"prosem bench link: wrote {out}", file=sys.stderr)
    return 0


def summary(report: dict) -> dict:
    """The headline numbers of every section that ran, flat enough for the README table."""
    out: dict = {}
    if "single" in report:
        out.update(report["single"]["summary"])
    multi = report.get("multi", {})
    if multi and "error" not in multi:
        mem = multi.get("memory", {})
        out["multi"] = {
            "streams": multi["config"]["streams"], "duration_s": multi["duration_multi_s"],
            "single_stream_query_p95_s": multi["solo"]["query_to_answer_s"]["p95"],
            "eight_streams_query_p95_s": multi["multi"]["query_to_answer_s"]["p95"],
            "p95_ratio_multi_over_single": multi["p95_ratio_multi_over_solo"],
            "cloud_rss_mb_start": mem.get("rss_mb_multi_start"), "cloud_rss_mb_end": mem.get("rss_mb_multi_end"),
            "cloud_rss_slope_mb_per_min_second_half": mem.get("rss_slope_mb_per_min_second_half"),
            "targets": multi["targets"],
        }
    elif multi:
        out["multi"] = {"error": multi["error"]}
    fp = report.get("footprint", {})
    if fp and "error" not in fp:
        out["edge_footprint"] = {
            "torch_hidden_and_running": fp["torch_hidden_and_running"], "steady_rss_mb": fp["rss_mb"]["steady_median"],
            "camera_fps": fp["camera_fps"], "frames_in_fps": fp["frames_in_fps"],
            "encoded_fps": fp["encoded_fps"], "keeps_up_by_dropping": fp["keeps_up_by_dropping"],
            "capture_to_publish_median_s": fp["capture_to_publish_s_second_half"]["median"],
            "targets": fp["targets"],
        }
    elif fp:
        out["edge_footprint"] = {"error": fp["error"]}
    scale = report.get("scale", {})
    if scale:
        out["scale"] = {"saturates_at_streams": scale["saturates_at_streams"], "targets": scale["targets"]}
        for p in scale["points"]:
            out["scale"][f"streams_{p['streams']}"] = {"error": p["error"]} if "error" in p else {
                "query_p95_s": p["query_to_answer_s"]["p95"], "p95_over_one_stream": p.get("p95_over_one_stream"),
                "cloud_cpu_s_per_s_per_stream": p["cloud_cpu_s_per_s_per_stream"], "cloud_rss_mb_max": p["cloud_rss_mb_max"],
                "layers_taken_in_share": p["layers_taken_in_share"]}
    soak = report.get("soak", {})
    if soak and "error" not in soak:
        out["soak"] = {
            "duration_s": soak["config"]["duration_s"], "genuine_asked": soak["genuine"]["asked"],
            "genuine_answered": soak["genuine"]["answered"], "answered_about_forged_frame": soak["genuine"]["answered_about_forged_frame"],
            "hostile_questions_refused": f"{soak['hostile']['refused_bad_request']}/{soak['hostile']['questions']}",
            "cloud_rss_mb_start_end": f"{soak['memory']['cloud'].get('rss_mb_start')} -> {soak['memory']['cloud'].get('rss_mb_end')}",
            "cloud_rss_slope_mb_per_min": soak["memory"]["cloud"].get("rss_slope_mb_per_min_second_half"),
            "edge_rss_slope_mb_per_min": soak["memory"]["edge"].get("rss_slope_mb_per_min_second_half"),
            "clean_exit": soak["clean_exit"], "targets": soak["targets"],
        }
    elif soak:
        out["soak"] = {"error": soak["error"], "clean_exit": soak.get("clean_exit")}
    return out


def register(commands, groups) -> None:
    p = groups["bench"].add_parser("link", help="edge+cloud nodes across a 1 Mbit/s shaped link (root): latency, bytes, loss, cuts",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", required=True, help="where to write the results")
    p.add_argument("--quick", action="store_true", help="short windows (about a minute per section)")
    p.add_argument("--only", type=_sections, default=list(SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    p.add_argument("--rate-bps", type=_positive, default=1_000_000, help="link rate, each direction (default 1e6)")
    p.add_argument("--measure-s", type=_positive, default=None, help="measuring window per single-stream scenario")
    p.add_argument("--multi-s", type=_positive, default=None, help="duration of the 8-stream run (default 120, quick 20)")
    p.add_argument("--soak-s", type=_positive, default=None, help="duration of the soak (default 600, quick 60)")
    p.add_argument("--dds-profile", default=None, help="Fast DDS XML profile for all processes (default: $FASTDDS_DEFAULT_PROFILES_FILE)")
    p.add_argument("--codebook", default="", help="codec codebook for all nodes (default: the shipped one)")
    p.add_argument("--log-dir", default=None, help="keep node logs here (default: a temp folder, named in the JSON)")
    p.set_defaults(func=run)
