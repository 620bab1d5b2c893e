"""scripts/update_readme_results.py: README results regenerated from benchmark JSON, between the markers only."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "update_readme_results.py"

README = """# Title

Intro that must survive.

<!-- results:start -->
old results
<!-- results:end -->

Footer that must survive.
"""


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_tables_and_plots_from_json(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    rows = [{"method": "prosem", "prefix": k, "bytes_per_frame": 300 * k, "agreement": 0.8 + 0.05 * k, "extra": [1]}
            for k in (1, 2, 3)]
    rows += [{"method": "jpeg", "quality": q, "bytes_per_frame": 40 * q, "agreement": 0.5 + q / 250} for q in (10, 50, 90)]
    (out / "bench_codec.json").write_text(json.dumps({"meta": {"images": 1000}, "rows": rows}))
    (out / "bench_link.json").write_text(json.dumps({"summary": {"progressive_first_median_s": 0.12,
                                                                 "full_cloud_q90_median_s": 1.4, "ratio_ok": True}}))
    readme = tmp_path / "README.md"
    readme.write_text(README)
    proc = _run("--out", out, "--readme", readme)
    assert proc.returncode == 0, proc.stderr
    text = readme.read_text()
    assert text.startswith("# Title\n\nIntro that must survive.") and text.endswith("Footer that must survive.\n")
    assert "old results" not in text
    body = text.split("<!-- results:start -->")[1].split("<!-- results:end -->")[0]
    assert "| method | prefix | bytes_per_frame | agreement |" in body  # list-valued column dropped
    assert "| prosem | 3 | 900 | 0.95 |" in body
    assert "| progressive_first_median_s | 0.12 |" in body and "| ratio_ok | yes |" in body
    assert "Run: images=1000" in body
    assert "Not run yet (no `bench_vqa.json`)" in body
    assert (tmp_path / "docs/results/bench_codec.png").stat().st_size > 1000
    assert (tmp_path / "docs/results/bench_link_summary.png").stat().st_size > 1000
    assert "![codec](docs/results/bench_codec.png)" in body
    # Idempotent: a second run gives the same README.
    assert _run("--out", out, "--readme", readme).returncode == 0
    assert readme.read_text() == text


def test_missing_markers_leave_readme_untouched(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    proc = _run("--out", tmp_path, "--readme", readme)
    assert proc.returncode == 1 and "results:start" in proc.stderr
    assert readme.read_text() == "# no markers\n"
