"""The VLM edge half exported to ONNX (tiny SmolVLM and LLaVA models built here): ONNX Runtime accepts
the graphs, runs them without torch, and gives the torch tokens (fp32 to float precision, int8 close),
with and without SmolVLM's image splitting."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from vlm_helpers import photo, tiny_model

pytest.importorskip("transformers")

from prosem_core.models.vlm.onnx_files import manifest_path, onnx_file  # noqa: E402
from prosem_core.pipeline import Pipeline, PipelineConfig  # noqa: E402

CASES = {  # id: (family, PipelineConfig options)
    "smolvlm": ("smolvlm", {}),
    "smolvlm-split": ("smolvlm", {"image_splitting": True}),
    "llava-proj-edge": ("llava", {}),
    "llava-proj-cloud": ("llava", {"llava_projector_on_edge": False}),
}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlmonnx")
    smol = tiny_model(root, "smolvlm", 5)
    llava = tiny_model(root, "llava", 6)
    from prosem_core.models.vlm.onnx_export import export_edge

    export_edge(llava, "llava", projector_on_edge=False, log=lambda _m: None)
    return {"smolvlm": smol, "llava": llava}


def _cfg(dirs, case: str, runtime: str) -> PipelineConfig:
    family, opts = CASES[case]
    return PipelineConfig(model=family, model_dir=str(dirs[family]), runtime=runtime, **opts)


@pytest.mark.parametrize("case", list(CASES))
def test_onnx_runtime_runs_the_export_without_torch_and_matches_torch(dirs, case, tmp_path):
    images = np.stack([photo(96, 128, seed=1), photo(96, 128, seed=2)[::-1]])  # 4:3, as the default grid
    np.save(tmp_path / "images.npy", images)
    family, opts = CASES[case]
    code = textwrap.dedent(f"""
        import sys, json
        import numpy as np
        from prosem_core.pipeline import Pipeline, PipelineConfig
        images = list(np.load({str(tmp_path / 'images.npy')!r}))
        out = {{}}
        for runtime in ("onnx", "onnx-int8"):
            enc = Pipeline(PipelineConfig(model={family!r}, model_dir={str(dirs[family])!r}, runtime=runtime,
                                          **{opts!r})).encoder
            out[runtime] = np.stack([enc.encode(im) for im in images])
            np.save({str(tmp_path)!r} + "/" + runtime + ".npy", out[runtime])
        print(json.dumps({{"torch_loaded": "torch" in sys.modules, "views": enc.views}}))
    """)
    torch_enc = Pipeline(_cfg(dirs, case, "torch")).encoder
    ref = np.stack([torch_enc.encode(im) for im in images])
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["torch_loaded"] is False  # the edge half on ONNX Runtime never imports torch
    assert info["views"] == (13 if opts.get("image_splitting") else 1)
    fp32, int8 = np.load(tmp_path / "onnx.npy"), np.load(tmp_path / "onnx-int8.npy")
    assert fp32.shape == int8.shape == ref.shape
    rel = lambda a: float(np.linalg.norm(a - ref) / np.linalg.norm(ref))  # noqa: E731
    assert rel(fp32) < 1e-4, rel(fp32)
    assert 0 < rel(int8) < 0.1, rel(int8)  # really quantized, still close


def test_manifest_records_the_model_and_the_token_errors(dirs):
    folder = dirs["smolvlm"] / "prosem_onnx"
    manifest = json.loads(manifest_path(folder, "vision_connector").read_text())
    assert manifest["family"] == "smolvlm" and manifest["view_token_shape"] == [16, 48]
    assert manifest["token_error_vs_torch"]["fp32"]["rel_error"] < 1e-4
    assert 0 < manifest["token_error_vs_torch"]["int8"]["rel_error"] < 0.1
    for variant in ("fp32", "int8"):
        assert onnx_file(folder, "vision_connector", variant).is_file()


def test_export_cli_reports_token_errors_and_is_idempotent(dirs, tmp_path, capsys):
    from prosem_core.cli.main import main

    args = ["export-onnx", "--model", "llava", "--model-dir", str(dirs["llava"]), "--out", str(tmp_path / "export")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "fp32:" in out and "int8:" in out and "token error vs torch" in out
    assert main(args) == 0 and "up to date" in capsys.readouterr().out
    assert main(args[:3] + ["--model-dir", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and "fix: " in err[0]


def test_static_int8_export_for_an_npu_is_qdq_and_says_so(dirs, tmp_path, capsys):
    """`--int8 static`: calibrated QDQ graph (no run-time activation ranging), close to torch, recorded in
    the manifest; asking for the other method afterwards re-exports instead of calling it up to date."""
    import onnx

    from prosem_core.cli.main import main

    out = tmp_path / "static"
    args = ["export-onnx", "--model", "smolvlm", "--model-dir", str(dirs["smolvlm"]), "--out", str(out)]
    assert main(args + ["--int8", "static"]) == 0
    capsys.readouterr()
    manifest = json.loads(manifest_path(out, "vision_connector").read_text())
    assert manifest["int8"] == "static" and manifest["int8_method"].startswith("static QDQ")
    assert 0 < manifest["token_error_vs_torch"]["int8"]["rel_error"] < 0.1
    ops = {n.op_type for n in onnx.load(str(onnx_file(out, "vision_connector", "int8"))).graph.node}
    assert "QuantizeLinear" in ops and "DynamicQuantizeLinear" not in ops
    assert main(args + ["--int8", "static"]) == 0 and "up to date" in capsys.readouterr().out
    assert main(args) == 0 and "up to date" not in capsys.readouterr().out  # dynamic asked: re-exported
    assert json.loads(manifest_path(out, "vision_connector").read_text())["int8"] == "dynamic"


def test_bench_int8_compares_dynamic_and_static_against_fp32(dirs, tmp_path):
    from prosem_core.cli.main import main

    out = tmp_path / "int8.json"
    common = ["bench", "int8", "--model", "smolvlm", "--work-dir", str(tmp_path / "work"), "--calib-images", "2",
              "--eval-images", "2"]
    assert main(common + ["--model-dir", str(dirs["smolvlm"]), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["methods"]) == {"dynamic", "static"} and report["views"] == 2
    for m in report["methods"].values():
        assert 0 < m["token_rel_error_mean"] < 0.2 and m["cpu_ms_per_view"] > 0 and m["speedup_over_fp32"] > 0
    assert report["methods"]["static"]["described"].startswith("static QDQ")
    no_export = tmp_path / "bare"
    no_export.mkdir()
    assert main(common + ["--model-dir", str(no_export)]) == 2  # no fp32 export: says what to run
