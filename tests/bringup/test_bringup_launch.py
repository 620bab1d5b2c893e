"""Launch files and parameter YAML, checked without `ros2 launch` (not installable here).

The launch files are evaluated with a stand-in for the launch/launch_ros API
(bringup_fake_launch.py); packages' share folders are built from their setup.py data_files, so the
launch files also prove that what they refer to is installed. The nodes they describe are then
constructed for real (rclpy, private context) with exactly the parameters the launch would give.
"""
from __future__ import annotations

import importlib
import inspect
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bringup_fake_launch import LaunchError, evaluate, installed_fake_launch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "nodes"))
from pipelines import double_pipeline  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "ros2_ws" / "src"
BRINGUP = SRC / "prosem_bringup"
LAUNCH_FILES = sorted((BRINGUP / "launch").glob("*.launch.py"))
CONFIG_FILES = sorted((BRINGUP / "config").glob("*.yaml"))

sys.path.insert(0, str(ROOT / "scripts"))
from ament_index_venv import ament_python_packages, setup_kwargs  # noqa: E402  (one reading of setup.py)

PACKAGES = tuple(p.name for p in ament_python_packages())


def console_scripts(package: str) -> dict[str, str]:
    entries = setup_kwargs(SRC / package).get("entry_points", {}).get("console_scripts", [])
    return {e.split("=")[0].strip(): e.split("=")[1].strip() for e in entries}


@pytest.fixture(scope="module")
def share(tmp_path_factory) -> dict[str, Path]:
    """An install prefix made the way `setup.py install` / colcon lay out data_files (copies, so the
    launch files are evaluated from share/, away from the source tree)."""
    prefix = tmp_path_factory.mktemp("install")
    for package in PACKAGES:
        for dest, files in setup_kwargs(SRC / package)["data_files"]:
            for rel in files:
                src = (SRC / package / rel).resolve()
                assert src.is_file(), f"{package}/setup.py installs {rel}, which does not exist"
                (prefix / dest).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, prefix / dest / src.name)
    return {package: prefix / "share" / package for package in PACKAGES}


def run_launch(name: str, share, **args):
    """Evaluate the installed copy (share/prosem_bringup/launch/NAME), as `ros2 launch prosem_bringup NAME`."""
    with installed_fake_launch():
        return evaluate(share["prosem_bringup"] / "launch" / name, {k: str(v) for k, v in args.items()}, share)


def test_every_launch_and_config_file_is_installed(share):
    installed = {p.relative_to(share["prosem_bringup"]).as_posix() for p in share["prosem_bringup"].rglob("*") if p.is_file()}
    for path in [*LAUNCH_FILES, *CONFIG_FILES]:
        assert path.relative_to(BRINGUP).as_posix() in installed, f"{path.relative_to(ROOT)} is not installed by prosem_bringup"
    # Nothing outside a package installs launch or config files (packages are self-contained).
    for package in PACKAGES:
        for _, files in setup_kwargs(SRC / package)["data_files"]:
            for rel in files:
                assert (SRC / package / rel).resolve().is_relative_to(SRC / package), f"{package} installs {rel}"


@pytest.mark.parametrize("launch_file", [p.name for p in LAUNCH_FILES])
def test_checkout_wrappers_reach_the_package_files(launch_file, share):
    """`ros2 launch launch/NAME` from a checkout starts the same nodes, with the same parameters, as
    `ros2 launch prosem_bringup NAME` after colcon."""
    wrapper = ROOT / "launch" / launch_file
    assert wrapper.is_file(), f"launch/{launch_file} (thin wrapper) is missing"
    with installed_fake_launch():
        from_checkout, declared_checkout = evaluate(wrapper, {"namespace": "r9"}, share)
    installed, declared = run_launch(launch_file, share, namespace="r9")
    assert [(n.fqn(), n.parameters()) for n in from_checkout] == [(n.fqn(), n.parameters()) for n in installed]
    assert {d.name for d in declared_checkout} == {d.name for d in declared}


def test_each_node_of_the_demo_gets_its_own_params_file(share):
    """The stand-in does not scope includes (like real launch), so this fails if demo.launch.py lets
    one include's params_file default leak into the next."""
    nodes, _ = run_launch("demo.launch.py", share)
    files = {n.executable: [p.name for p in n.param_files] for n in nodes}
    assert files == {"cloud_node": ["cloud.yaml"], "edge_node": ["edge.yaml"], "camera_replay": ["camera_replay.yaml"]}


def test_stand_in_leaks_like_real_launch_without_a_scope(share, tmp_path):
    """The stand-in must reproduce the real leak, or the test above would prove nothing: two plain
    includes, and the second node starts with the first file's YAML."""
    launch_dir = share["prosem_bringup"] / "launch"
    unscoped = tmp_path / "unscoped.launch.py"
    unscoped.write_text(
        "from launch import LaunchDescription\n"
        "from launch.actions import IncludeLaunchDescription\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        "def generate_launch_description():\n"
        "    return LaunchDescription([\n"
        f"        IncludeLaunchDescription(PythonLaunchDescriptionSource({str(launch_dir / 'cloud.launch.py')!r})),\n"
        f"        IncludeLaunchDescription(PythonLaunchDescriptionSource({str(launch_dir / 'edge.launch.py')!r})),\n"
        "    ])\n")
    with installed_fake_launch():
        nodes, _ = evaluate(unscoped, {}, share)
    edge = next(n for n in nodes if n.executable == "edge_node")
    assert [p.name for p in edge.param_files] == ["cloud.yaml"]


@pytest.mark.parametrize("launch_file", [p.name for p in LAUNCH_FILES])
def test_arguments_described_and_nodes_are_console_scripts(launch_file, share):
    nodes, declared = run_launch(launch_file, share)
    assert nodes, f"{launch_file} starts no node"
    for arg in declared:
        assert arg.description and len(arg.description) > 15, f"{arg.launch_file.name}: {arg.name} has no description"
    for node in nodes:
        scripts = console_scripts(node.package)
        assert node.executable in scripts, f"{node.package} has no console script {node.executable}"
        module, func = scripts[node.executable].split(":")
        assert callable(getattr(importlib.import_module(module), func)), scripts[node.executable]
        # A node must not get the same parameter from the YAML and from a launch argument:
        # the argument would silently win over what the YAML says.
        overlap = set(node.yaml_parameters()) & set(node.param_overrides)
        assert not overlap, f"{node.executable}: {sorted(overlap)} set both by YAML and by launch arguments"


def test_demo_nodes_namespaces_and_argument_flow(share):
    nodes, _ = run_launch("demo.launch.py", share)
    assert sorted((n.package, n.executable) for n in nodes) == [
        ("prosem_cloud", "cloud_node"), ("prosem_edge", "camera_replay"), ("prosem_edge", "edge_node")]
    assert all(n.namespace == "" for n in nodes)

    # The demo gives each node a Fast DDS profile for raw frames (set inside each scope, since a
    # non-forwarding group resets the environment); the file it names exists.
    for n in nodes:
        assert Path(n.env["FASTDDS_DEFAULT_PROFILES_FILE"]).is_file() or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")

    nodes, _ = run_launch("demo.launch.py", share, namespace="robot1", mode="full_cloud", source="demo:cat", rate_hz="2.0")
    by_exe = {n.executable: n for n in nodes}
    assert {n.fqn() for n in nodes} == {"/robot1/prosem_cloud", "/robot1/prosem_edge", "/robot1/camera_replay"}
    assert by_exe["edge_node"].parameters()["mode"] == by_exe["cloud_node"].parameters()["mode"] == "full_cloud"
    cam = by_exe["camera_replay"].parameters()
    assert cam["source"] == "demo:cat" and cam["rate_hz"] == 2.0 and cam["loop"] is True
    # The YAML's `/**/name` keys reach the node inside the namespace too.
    assert cam["frame_id"] == "camera_optical_frame"
    assert by_exe["edge_node"].parameters()["buffer_frames"] == 16


def test_edge_remapping_choices_and_multi_robot_cloud(share):
    (edge,), _ = run_launch("edge.launch.py", share, camera_topic="/realsense/color/image_raw", namespace="r2")
    assert edge.remappings == [("camera/image_raw", "/realsense/color/image_raw")] and edge.namespace == "r2"
    assert edge.arguments == ["--ros-args", "--log-level", "info"]
    with pytest.raises(LaunchError, match="not in"):
        run_launch("edge.launch.py", share, mode="jpeg_everything")
    (cloud,), _ = run_launch("cloud.launch.py", share, namespaces="['robot1', 'robot2']")
    assert cloud.parameters()["namespaces"] == ["robot1", "robot2"]


def test_yaml_files_are_ros_params_files_that_target_a_launched_node(share):
    nodes, _ = run_launch("demo.launch.py", share, namespace="robot7")
    targeted = {p.name for n in nodes for p in n.param_files}
    for path in CONFIG_FILES:
        data = yaml.safe_load(path.read_text())
        assert data and all("ros__parameters" in body for body in data.values()), path.name
        assert path.name in targeted, f"{path.name} is loaded by no node of demo.launch.py"
        for n in nodes:
            if path.name in {p.name for p in n.param_files}:
                assert n.yaml_parameters(), f"{path.name} has no entry matching {n.fqn()}"


# ----------------------------------------------------------------------------------------------
# The real nodes, constructed with what the launch files give them
# ----------------------------------------------------------------------------------------------
def _node_class(package: str, executable: str):
    from rclpy.node import Node

    # The console script's module, or (for a thin entry module such as prosem_edge.edge_main) the
    # module named after the executable.
    for name in (console_scripts(package)[executable].split(":")[0], f"{package}.{executable}"):
        module = importlib.import_module(name)
        classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
                   if issubclass(c, Node) and c is not Node and c.__module__ == module.__name__]
        if classes:
            break
    assert len(classes) == 1, f"{module.__name__}: expected one Node subclass, found {classes}"
    return classes[0]


@pytest.fixture
def ros_context():
    import rclpy
    from rclpy.context import Context

    ctx = Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.shutdown(context=ctx)


@pytest.mark.parametrize("launch_file,args", [
    ("demo.launch.py", {"namespace": "robot1"}),
    ("demo.launch.py", {"mode": "full_cloud"}),
    ("cloud.launch.py", {"namespaces": "['robot1', 'robot2']"}),
    ("multi_cloud.launch.py", {"groups": "robot1,robot2;robot3"}),
])
def test_real_nodes_declare_and_accept_every_launched_parameter(launch_file, args, share, ros_context):
    from rclpy.parameter import Parameter

    nodes, _ = run_launch(launch_file, share, **args)
    for desc in nodes:
        cls = _node_class(desc.package, desc.executable)
        params = desc.parameters()
        overrides = dict(params)
        kwargs = {}
        if "pipeline" in inspect.signature(cls).parameters:
            # The models are not what this test checks: the node tier's instant test pipeline.
            kwargs["pipeline"] = double_pipeline()
        node = cls(context=ros_context, namespace=desc.namespace or None,
                   parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()], **kwargs)
        try:
            undeclared = [k for k in params if not node.has_parameter(k)]
            assert not undeclared, f"{desc.executable} does not declare {undeclared} (set by {desc.launch_file.name} / YAML)"
            for key, value in overrides.items():
                got = node.get_parameter(key).value
                got = list(got) if isinstance(value, list) else got
                assert got == value, f"{desc.executable}.{key}: launched {value!r}, node has {got!r}"
            for key in params:
                assert node.describe_parameter(key).description, f"{desc.executable}.{key} has no description"
        finally:
            node.destroy_node()


@pytest.mark.parametrize("yaml_name,package,executable", [
    ("edge.yaml", "prosem_edge", "edge_node"),
    ("cloud.yaml", "prosem_cloud", "cloud_node"),
    ("camera_replay.yaml", "prosem_edge", "camera_replay"),
])
def test_rcl_reads_each_yaml_into_the_real_node(yaml_name, package, executable):
    """What `--ros-args --params-file` does on a robot: rcl's own YAML parser, wildcard node keys,
    a node in a namespace. Every value must reach the node unchanged."""
    import rclpy
    from rclpy.context import Context

    path = BRINGUP / "config" / yaml_name
    want = {}
    for body in yaml.safe_load(path.read_text()).values():
        want.update(body["ros__parameters"])
    ctx = Context()
    rclpy.init(context=ctx, args=["--ros-args", "--params-file", str(path)])
    try:
        cls = _node_class(package, executable)
        kwargs = {"pipeline": double_pipeline()} if "pipeline" in inspect.signature(cls).parameters else {}
        node = cls(context=ctx, namespace="robot3", **kwargs)
        try:
            # The values came from the file (rcl's overrides for this node), not from defaults.
            from_file = node._parameter_overrides  # rclpy's record of the params-file values for this node
            assert set(want) <= set(from_file), f"{yaml_name}: rcl did not apply {sorted(set(want) - set(from_file))}"
            for key, value in want.items():
                got = node.get_parameter(key).value
                assert (list(got) if isinstance(value, list) else got) == value, f"{yaml_name}: {key}"
        finally:
            node.destroy_node()
    finally:
        rclpy.shutdown(context=ctx)


def test_multi_robot_namespaces_meet(share, ros_context):
    """Two robots launched with namespace:=robot1 / robot2 and one cloud launched with
    namespaces:="['robot1', 'robot2']": the cloud subscribes exactly the topics the edges publish
    and publishes the feedback they subscribe."""
    from rclpy.parameter import Parameter

    (cloud_desc,), _ = run_launch("cloud.launch.py", share, namespaces="['robot1', 'robot2']")
    edges = [run_launch("edge.launch.py", share, namespace=ns)[0][0] for ns in ("robot1", "robot2")]
    made = []
    try:
        for desc in [cloud_desc, *edges]:
            cls = _node_class(desc.package, desc.executable)
            made.append(cls(context=ros_context, namespace=desc.namespace or None, pipeline=double_pipeline(),
                            parameter_overrides=[Parameter(k, value=v) for k, v in desc.parameters().items()]))
        cloud, *edge_nodes = made
        # The wire lives on the cloud's ingest node (prosem_cloud.ingest_node), in the same process.
        cloud_subs = {s.topic_name for n in (cloud, cloud.ingest) for s in n.subscriptions}
        cloud_pubs = {p.topic_name for n in (cloud, cloud.ingest) for p in n.publishers}
        for edge in edge_nodes:
            ns = edge.get_namespace()
            edge_pubs = {p.topic_name for p in edge.publishers}
            edge_subs = {s.topic_name for s in edge.subscriptions}
            assert f"{ns}/prosem/layers" in edge_pubs and f"{ns}/prosem/layers" in cloud_subs
            assert f"{ns}/prosem/layers/refine" in edge_pubs and f"{ns}/prosem/layers/refine" in cloud_subs
            assert f"{ns}/prosem/feedback" in edge_subs and f"{ns}/prosem/feedback" in cloud_pubs
            assert f"{ns}/camera/image_raw" in edge_subs
        assert "prosem/query" in {s.srv_name for s in cloud.services}  # relative: under the cloud namespace
    finally:
        for node in made:
            node.destroy_node()


def test_model_launch_arguments_reach_both_nodes(share):
    """Bring your own VLM from the launch line: the same model arguments reach edge and cloud."""
    model = {"model": "smolvlm", "model_dir": "/models/SmolVLM-256M-Instruct", "codebook": "/models/smolvlm_cb"}
    nodes, declared = run_launch("demo.launch.py", share, **model)
    by_exe = {n.executable: n.parameters() for n in nodes}
    for exe in ("edge_node", "cloud_node"):
        assert {k: by_exe[exe][k] for k in model} == model, exe
    (edge,), _ = run_launch("edge.launch.py", share, image_splitting="true", runtime="onnx-int8", **model)
    assert edge.parameters()["image_splitting"] is True and edge.parameters()["runtime"] == "onnx-int8"
    (cloud,), _ = run_launch("cloud.launch.py", share, max_new_tokens="64", **model)
    assert cloud.parameters()["max_new_tokens"] == 64
    with pytest.raises(LaunchError, match="not in"):
        run_launch("edge.launch.py", share, model="gpt5")


def test_multi_cloud_gives_each_node_its_own_disjoint_robots(share):
    nodes, _ = run_launch("multi_cloud.launch.py", share, groups="robot0,robot1;robot2, robot3 ;robot4")
    assert [n.fqn() for n in nodes] == ["/cloud0/prosem_cloud", "/cloud1/prosem_cloud", "/cloud2/prosem_cloud"]
    assert [n.parameters()["namespaces"] for n in nodes] == [["/robot0", "/robot1"], ["/robot2", "/robot3"], ["/robot4"]]
    assert all([p.name for p in n.param_files] == ["cloud.yaml"] for n in nodes)
    for bad in ("robot0;robot0", ";;", "robot0;"):
        if bad == "robot0;":  # a trailing separator is forgiven: one group
            assert len(run_launch("multi_cloud.launch.py", share, groups=bad)[0]) == 1
            continue
        with pytest.raises(ValueError, match="groups"):
            run_launch("multi_cloud.launch.py", share, groups=bad)
