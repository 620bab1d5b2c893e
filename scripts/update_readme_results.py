#!/usr/bin/env python3
"""Regenerate the README results (between <!-- results:start --> and <!-- results:end -->) from the
benchmarks' JSON in out/: a table per benchmark and plots drawn from the same JSON.

What it reads from each out/bench_<name>.json (written by `prosem bench <name>`):
  - "summary": a dict of headline numbers -> a two-column table (nested dicts are flattened a.b;
    the first MAX_LINES entries, the rest stay in the JSON);
  - "rows" (or "conditions"): a list of flat dicts (one per method / operating point) -> a table with their scalar
    columns, and a plot: out/bench_<name>.png when the benchmark drew one itself, else, when rows
    carry a bytes column and agreement/accuracy/consistency columns, those against bytes (log x),
    one line per "method";
  - "meta"/"config" (optional): printed as one line under the title (what machine, which data).
out/demo.json (scripts/demo.py) adds the demo's question table. Plots go to docs/results/ so the
README can show them from the repository. A benchmark without JSON is listed as not run.

out/bench_vlm.json (`prosem bench vlm`, random-weight VLMs, ten minutes and more) fills its own block
in the "Bring your own VLM" section (<!-- vlm-results:start --> .. <!-- vlm-results:end -->) with the
benchmark's own tables; without that JSON the block is left as it is, so a `make bench` that skips the
VLMs keeps the last measured table.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

START, END = "<!-- results:start -->", "<!-- results:end -->"
VLM_START, VLM_END = "<!-- vlm-results:start -->", "<!-- vlm-results:end -->"
BENCHES = [
    ("codec", "Codec: bytes vs agreement (`prosem bench codec`)"),
    ("vqa", "Answers: accuracy and semantic consistency per prefix (`prosem bench vqa`)"),
    ("link", "Shaped link, 1 Mbit/s: latency and bytes (`prosem bench link`)"),
    ("stream", "A camera stream: codec layers vs live H.264/H.265/AV1 (`prosem bench stream`)"),
    ("int8_smolvlm", "int8 for a VLM's edge half: dynamic vs the static recipe (`prosem bench int8`, SmolVLM-256M, "
                     "random weights)"),
]
Y_WORDS = ("agreement", "accuracy", "consistency", "cosine")
MAX_LINES = 30  # longer tables stay in the JSON; the README shows the first ones
MAX_RUN_CHARS = 400  # the "Run:" line under a title


def _rel(path: Path, base: Path) -> str:
    """Link target for the README: the plot's path relative to the README's folder."""
    import os

    return Path(os.path.relpath(path, base)).as_posix()


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4g}"
    if value is None:
        return "n/a"
    return str(value).replace("|", "\\|").replace("\n", " ")


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif not isinstance(value, list):
            out[name] = value
    return out


def md_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def rows_table(rows: list[dict], max_cols: int = 10) -> str:
    cols: list[str] = []
    for row in rows:
        for key, value in row.items():
            if key not in cols and not isinstance(value, (dict, list)):
                cols.append(key)
    cols = cols[:max_cols]
    return md_table(cols, [[row.get(c) for c in cols] for row in rows])


def plot_rows(rows: list[dict], path: Path, title: str) -> bool:
    """Agreement-like columns vs a bytes column, one line per method; False if rows have neither."""
    keys = {k for r in rows for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    x_key = next((k for k in sorted(keys) if "bytes" in k.lower()), None)
    y_keys = [k for k in sorted(keys) if any(w in k.lower() for w in Y_WORDS)]
    if x_key is None or not y_keys:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(y_keys), figsize=(5.5 * len(y_keys), 4), squeeze=False)
    colors = plt.get_cmap("tab20").colors
    groups: dict[str, list[dict]] = {}
    for r in rows:
        if isinstance(r.get(x_key), (int, float)) and r.get(x_key, 0) > 0:
            groups.setdefault(str(r.get("method", "all")), []).append(r)
    for ax, y_key in zip(axes[0], y_keys):
        for i, (method, items) in enumerate(groups.items()):
            pts = sorted((r[x_key], r[y_key]) for r in items if isinstance(r.get(y_key), (int, float)))
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=method, markersize=4,
                        color=colors[i % len(colors)])
        ax.set_xscale("log")
        ax.set_xlabel(x_key)
        ax.set_ylabel(y_key)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_summary_times(summary: dict, path: Path, title: str) -> bool:
    """Bar chart of the summary's median/p95 seconds (the link benchmark's headline)."""
    flat = flatten(summary)
    items = [(k, v) for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
             and re.search(r"_(median|p95)_s$", k)]
    if not items:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(items) + 1.5))
    ax.barh(range(len(items)), [v for _, v in items], color="tab:blue")
    ax.set_yticks(range(len(items)), [k for k, _ in items], fontsize=7)
    ax.set_xlabel("seconds")
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def bench_section(name: str, title: str, out: Path, assets: Path, readme_dir: Path) -> str:
    path = out / f"bench_{name}.json"
    parts = [f"### {title}"]
    if not path.is_file():
        return "\n\n".join(parts + [f"Not run yet (no `{path.name}`): `make bench` writes it."])
    data = json.loads(path.read_text())
    meta = data.get("meta") or data.get("config")
    if isinstance(meta, dict):
        run = ", ".join(f"{k}={fmt(v)}" for k, v in flatten(meta).items())
        # The whole run description stays in the JSON; the README shows its start.
        parts.append("Run: " + (run if len(run) <= MAX_RUN_CHARS else run[:MAX_RUN_CHARS].rsplit(", ", 1)[0]
                                + f", ... (all in `{path.name}`)"))
    summary = data.get("summary")
    if isinstance(summary, dict) and summary:
        items = list(flatten(summary).items())
        parts.append(md_table(["metric", "value"], items[:MAX_LINES]))
        if len(items) > MAX_LINES:
            parts.append(f"({len(items) - MAX_LINES} more summary values in `{path.name}`.)")
        png = assets / f"bench_{name}_summary.png"
        if plot_summary_times(summary, png, title):
            parts.append(f"![{name} summary]({_rel(png, readme_dir)})")
    rows = data.get("rows") or data.get("conditions")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):
        parts.append(rows_table(rows[:MAX_LINES]))
        if len(rows) > MAX_LINES:
            parts.append(f"({len(rows) - MAX_LINES} more rows in `{path.name}`.)")
        png = assets / f"bench_{name}.png"
        own = out / f"bench_{name}.png"
        if own.is_file():  # the benchmark drew its own plot (e.g. --plot): show that one
            png.write_bytes(own.read_bytes())
            parts.append(f"![{name}]({_rel(png, readme_dir)})")
        elif plot_rows(rows, png, title):
            parts.append(f"![{name}]({_rel(png, readme_dir)})")
    if len(parts) == 1:
        parts.append(f"`{path.name}` has neither `summary` nor `rows`; see the file.")
    return "\n\n".join(parts)


def demo_section(out: Path, assets: Path, readme_dir: Path) -> str | None:
    path = out / "demo.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    rows = [[r["scene"], r["question"], r["min_fidelity"], r["answer"] or r["error"], r["layers"], r["bytes"],
             r["fidelity"], f"{r['latency_s'] * 1000:.0f} ms"] for r in data["rows"]]
    parts = [f"### `make demo` (over {data['link_text']})",
             md_table(["scene", "question", "min fidelity", "answer", "layers", "bytes", "fidelity", "latency"], rows)]
    if (out / "demo.png").is_file():
        png = assets / "demo.png"
        png.write_bytes((out / "demo.png").read_bytes())
        parts.append(f"![demo]({_rel(png, readme_dir)})")
    return "\n\n".join(parts)


def render(out: Path, assets: Path, readme_dir: Path) -> str:
    assets.mkdir(parents=True, exist_ok=True)
    sections = [bench_section(name, title, out, assets, readme_dir) for name, title in BENCHES]
    demo = demo_section(out, assets, readme_dir)
    if demo:
        sections.append(demo)
    note = "_Generated by `scripts/update_readme_results.py` from `out/*.json` (`make bench`); do not edit by hand._"
    return "\n\n".join([note, *sections])


def vlm_section(out: Path) -> str | None:
    """The bench vlm tables from out/bench_vlm.json (None without it)."""
    path = out / "bench_vlm.json"
    if not path.is_file():
        return None
    from prosem_core.bench.vlm import markdown_table

    data = json.loads(path.read_text())
    return f"_Generated from `{path.name}` ({data['run_seconds']:.0f} s run); do not edit by hand._\n\n{markdown_table(data)}"


def replace_between_markers(text: str, body: str, start: str = START, end: str = END) -> str:
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"README must contain exactly one {start} followed by one {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=root / "out", help="folder with bench_*.json and demo.json")
    parser.add_argument("--readme", type=Path, default=root / "README.md")
    parser.add_argument("--assets", type=Path, default=None, help="plot folder (default docs/results beside the README)")
    parser.add_argument("--check", action="store_true", help="print the section instead of writing the README")
    parser.add_argument("--vlm-only", action="store_true", help="update only the bench vlm block (after `prosem bench vlm` alone)")
    args = parser.parse_args(argv)
    readme_dir = args.readme.resolve().parent
    assets = (args.assets or readme_dir / "docs" / "results").resolve()
    body = render(args.out, assets, readme_dir)
    vlm = vlm_section(args.out)
    if args.check:
        print(body if vlm is None else f"{body}\n\n{vlm}")
        return 0
    try:
        new = args.readme.read_text()
        if not args.vlm_only:
            new = replace_between_markers(new, body)
        if vlm is not None:
            new = replace_between_markers(new, vlm, VLM_START, VLM_END)
    except (OSError, ValueError) as err:
        print(f"update_readme_results: {err}", file=sys.stderr)
        return 1
    args.readme.write_text(new)
    print(f"updated {args.readme} ({len(body)} characters of results, plots in {assets})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
