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
import runpy
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
PACKAGES = ("prosem_edge", "prosem_cloud")
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def setup_kwargs(package: str) -> dict:
    """The keyword arguments a package's setup.py passes to setup() (run with setup() captured)."""
    import setuptools

    captured = {}
    old_setup, old_cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        os.chdir(SRC / package)  # data_files paths are relative to setup.py's folder
        runpy.run_path(str(SRC / package / "setup.py"), run_name="__main__")
    finally:
        setuptools.setup = old_setup
        os.chdir(old_cwd)
    return captured


def console_scripts(package: str) -> dict[str, str]:
    entries = setup_kwargs(package).get("entry_points", {}).get("console_scripts", [])
    return {e.split("=")[0].strip(): e.split("=")[1].strip() for e in entries}


@pytest.fixture(scope="module")
def share(tmp_path_factory) -> dict[str, Path]:
    """An install prefix made the way `setup.py install` / colcon lay out data_files."""
    prefix = tmp_path_factory.mktemp("install")
    for package in PACKAGES:
        for dest, files in setup_kwargs(package)["data_files"]:
            for rel in files:
                src = (SRC / package / rel).resolve()
                assert src.is_file(), f"{package}/setup.py installs {rel}, which does not exist"
                (prefix / dest).mkdir(parents=True, exist_ok=True)
                shutil.copy(src, prefix / dest / src.name)
    return {package: prefix / "share" / package for package in PACKAGES}


def run_launch(name: str, share, **args):
    with installed_fake_launch():
        return evaluate(ROOT / "launch" / name, {k: str(v) for k, v in args.items()}, share)


def test_every_launch_and_config_file_is_installed(share):
    installed = {p.name for s in share.values() for p in s.rglob("*") if p.is_file()}
    for path in [*LAUNCH_FILES, *(ROOT / "config").glob("*.yaml")]:
        assert path.name in installed, f"{path.relative_to(ROOT)} is not in any package's data_files"


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

    # The demo sets a Fast DDS profile for raw frames; the file it names exists.
    with installed_fake_launch():
        from bringup_fake_launch import Context, _evaluate_file

        ctx = Context(configs={}, share=share)
        _evaluate_file(ROOT / "launch" / "demo.launch.py", ctx, [], [])
    assert Path(ctx.env["FASTDDS_DEFAULT_PROFILES_FILE"]).is_file() or os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE")

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
    for path in (ROOT / "config").glob("*.yaml"):
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

    module = importlib.import_module(console_scripts(package)[executable].split(":")[0])
    classes = [c for _, c in inspect.getmembers(module, inspect.isclass)
               if issubclass(c, Node) and c is not Node and c.__module__ == module.__name__]
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

    path = ROOT / "config" / yaml_name
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
        cloud_subs = {s.topic_name for s in cloud.subscriptions}
        cloud_pubs = {p.topic_name for p in cloud.publishers}
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
