"""`colcon build` of a copy of ros2_ws alone (nothing else of the repository beside it), against the
venv's ROS 2 wheels, with and without --symlink-install: every package builds from its own folder,
installs its launch/config/executables where `ros2 launch` / `ros2 run` look, and nothing is written
outside the workspace. The installed edge_node then finds (or asks for) its ONNX export through
PROSEM_MODEL_DIR, the documented place."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
COLCON = VENV / "bin" / "colcon"
PACKAGES = sorted(p.parent.name for p in (ROOT / "ros2_ws" / "src").glob("*/package.xml"))


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV), PATH=f"{VENV / 'bin'}:{env.get('PATH', '')}")
    env.pop("PYTHONPATH", None)
    env.update(extra)
    return env


def _installed(install: Path, exe: str) -> list[str]:
    """argv running `exe` the way a robot user does: after `source install/setup.bash`."""
    return ["bash", "-c", f'source "{install}/setup.bash" && exec "{exe}"']


@pytest.mark.skipif(not COLCON.exists(), reason="colcon is not installed in this venv (make setup installs it)")
@pytest.mark.parametrize("symlink", [False, True], ids=["copy", "symlink"])
def test_colcon_builds_the_workspace_copied_alone(tmp_path, symlink):
    ws = tmp_path / "ws"
    shutil.copytree(ROOT / "ros2_ws", ws, ignore=shutil.ignore_patterns("build", "install", "log", "__pycache__", "*.egg-info"))
    cmd = [str(COLCON), "build", "--base-paths", "src", "--event-handlers", "console_cohesion-",
           "--cmake-args", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}"]
    proc = subprocess.run(cmd + (["--symlink-install"] if symlink else []), cwd=ws, env=_env(), capture_output=True,
                          text=True, timeout=800)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ws"], "colcon wrote outside the workspace"
    install = ws / "install"
    for name in PACKAGES:
        assert (install / name / "share" / "ament_index" / "resource_index" / "packages" / name).exists(), name
    share = install / "prosem_bringup" / "share" / "prosem_bringup"
    for rel in ("launch/demo.launch.py", "launch/edge.launch.py", "config/edge.yaml", "config/cloud.yaml"):
        assert (share / rel).is_file(), rel
    for pkg, exe in (("prosem_edge", "edge_node"), ("prosem_edge", "camera_replay"), ("prosem_cloud", "cloud_node")):
        assert os.access(install / pkg / "lib" / pkg / exe, os.X_OK), exe

    # The installed node, outside any checkout, with nothing exported yet: one line naming the place it
    # looked (the default outside a checkout: ~/.cache/prosem/models, so this is the installed copy,
    # not the editable one in the repository, which would look in build/models) and the fix.
    home = tmp_path.parent / f"{tmp_path.name}-home"
    home.mkdir()
    try:
        missing = subprocess.run(_installed(install, "edge_node"), env=_env(HOME=str(home)), capture_output=True,
                                 text=True, timeout=60)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    errors = [line for line in missing.stderr.splitlines() if line.startswith("edge_node:")]
    assert missing.returncode == 2 and len(errors) == 1, missing.stdout + missing.stderr
    assert "prosem export-onnx" in errors[0] and str(home / ".cache" / "prosem" / "models") in errors[0], errors[0]

    # With PROSEM_MODEL_DIR pointing at an export (this checkout's, made by make setup) it runs.
    models = ROOT / "build" / "models"
    if not (models / "efficientnet_lite0_tokens_fp32.onnx").is_file():
        pytest.skip("no ONNX export in build/models (make setup makes it)")
    run = subprocess.Popen(_installed(install, "edge_node"), env=_env(PROSEM_MODEL_DIR=str(models), PYTHONUNBUFFERED="1"),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in run.stdout:
            lines.append(line)
            if "edge up" in line or len(lines) > 50:
                break
        assert any("edge up" in line for line in lines), "".join(lines)
    finally:
        os.killpg(run.pid, signal.SIGINT)
        code = run.wait(timeout=30)
    assert code == 0, run.stdout.read()
