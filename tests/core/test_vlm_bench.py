"""`prosem bench vlm` end to end on tiny random models (the real sizes take minutes): every side runs in
its own process, the ONNX edge never imports torch, and the report holds what the README table needs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("transformers")


@pytest.mark.slow
def test_bench_vlm_on_tiny_models(tmp_path):
    out = tmp_path / "bench_vlm.json"
    proc = subprocess.run([sys.executable, "-m", "prosem_core.cli.main", "bench", "vlm", "--arch", "tiny",
                           "--models", "smolvlm", "--work-dir", str(tmp_path / "work"), "--frames", "2",
                           "--calib-images", "10", "--max-new-tokens", "4", "--json", str(out),
                           "--markdown", str(tmp_path / "table.md")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert "RANDOM weights" in report["weights"]
    m = report["models"]["smolvlm"]
    assert "error" not in m and "RANDOM" in m["weights"]
    default = m["default_encoder"]
    assert default["frame_s_reference"] > 0 and default["torch_imported"] is False
    edge = {r["runtime"]: r for r in m["edge"]}
    assert set(edge) == {"torch", "onnx", "onnx-int8"}
    assert edge["torch"]["torch_imported"] and not edge["onnx"]["torch_imported"] and not edge["onnx-int8"]["torch_imported"]
    assert edge["onnx"]["token_rel_error_vs_torch"] < 1e-4 < edge["onnx-int8"]["token_rel_error_vs_torch"] < 0.1
    for r in edge.values():
        assert r["ratio_to_default_encoder"] > 0 and r["cpu_ratio_to_default_encoder"] > 0
        assert 0 < r["frame_cpu_s_median"] and r["peak_rss_bytes"] > 50e6
    prefixes = m["codec"]["prefixes"]
    assert [p["prefix"] for p in prefixes] == list(range(1, len(prefixes) + 1))
    assert all(a["bytes_mean"] < b["bytes_mean"] for a, b in zip(prefixes, prefixes[1:]))
    assert all(a["link_s_mean"] < b["link_s_mean"] for a, b in zip(prefixes, prefixes[1:]))
    assert prefixes[0]["link_s_over_jpeg"] < 1  # a base layer beats a 640x480 JPEG q90 on the link
    cloud = m["cloud_summary"]
    assert cloud["time_to_first_token_s"] > 0 and cloud["per_token_s"] > 0 and cloud["peak_rss_bytes"] > 50e6
    assert cloud["cpu_to_first_token_s"] > 0 and cloud["cpu_per_token_s"] > 0
    assert all(a["new_tokens"] == 4 for a in m["cloud"]["answers"])
    table = (tmp_path / "table.md").read_text()
    assert "random weights" in table and "tiny-smolvlm" in table
    # The README's "Bring your own VLM" table is generated from this JSON, inside its own markers.
    from pathlib import Path

    readme = tmp_path / "README.md"
    readme.write_text("# T\n\n<!-- results:start -->\n<!-- results:end -->\n\n"
                      "<!-- vlm-results:start -->\nold\n<!-- vlm-results:end -->\nend\n")
    script = Path(__file__).resolve().parents[2] / "scripts" / "update_readme_results.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "--readme", str(readme)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    block = readme.read_text().split("<!-- vlm-results:start -->")[1].split("<!-- vlm-results:end -->")[0]
    assert "old" not in block and "bench_vlm.json" in block and "| tiny-smolvlm" in block and "random weights" in block
