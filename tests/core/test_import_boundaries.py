"""Dependencies run one way: prosem_msgs -> prosem_core -> prosem_ros -> prosem_edge, prosem_cloud
(-> prosem_bench, prosem_bringup on top). Checked on the source, not on what happens to load: every
import statement (also inside functions, i.e. lazy ones), every `-m module` or module path written in
a string (a process a benchmark starts), and for the core every mention at all, comments included.

The rule lives in docs/architecture.md; a change here changes it there.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "ros2_ws" / "src"
OURS = ("prosem_msgs", "prosem_core", "prosem_ros", "prosem_edge", "prosem_cloud", "prosem_bench", "prosem_bringup")
# Python modules of ROS itself: the core must import none of them.
ROS_MODULES = ("rclpy", "rcl_interfaces", "builtin_interfaces", "std_msgs", "sensor_msgs", "action_msgs", "std_srvs",
               "rosidl_runtime_py", "rosidl_parser", "ament_index_python", "launch", "launch_ros", "rosbag2_py")
# What each package may import of ours (everything not listed is forbidden).
ALLOWED = {
    "prosem_core": set(),
    "prosem_ros": {"prosem_msgs", "prosem_core"},
    "prosem_edge": {"prosem_msgs", "prosem_core", "prosem_ros"},
    "prosem_cloud": {"prosem_msgs", "prosem_core", "prosem_ros"},
    "prosem_bench": {"prosem_msgs", "prosem_core", "prosem_ros", "prosem_edge", "prosem_cloud"},
    "prosem_bringup": {"prosem_core"},
}
# Tests of the pure tier import only the core.
TIER_ALLOWED = {"tests/core": set()}
MODULE_IN_STRING = re.compile(r"\b(" + "|".join(OURS) + r")(?:\.[a-z_]+)+\b")


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported_roots(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module) for every import in the file, wherever it is, and for every module
    path named in a string literal (e.g. [python, "-m", "pkg.module"])."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, str(node.args[0].value).split(".")[0]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [(node.lineno, m.group(1)) for m in MODULE_IN_STRING.finditer(node.value)]
    return found


def violations(files: list[Path], allowed: set[str], own: str | None, forbid_ros: bool) -> list[str]:
    bad = []
    for path in files:
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for line, root in imported_roots(path):
            if root in OURS and root != own and root not in allowed:
                bad.append(f"{shown}:{line}: {root}")
            if forbid_ros and root in ROS_MODULES:
                bad.append(f"{shown}:{line}: {root} (ROS)")
    return bad


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_is_below_it(package):
    folder = SRC / package
    assert folder.is_dir(), f"{package} is missing"
    files = python_files(folder)
    assert files, f"{package} has no Python files to check"
    bad = violations(files, ALLOWED[package], package, forbid_ros=package == "prosem_core")
    assert not bad, f"{package} reaches against the dependency direction:\n" + "\n".join(bad)


def test_core_never_names_a_package_above_it():
    """Not even in a comment, a docstring or a data file: the core does not know who uses it."""
    above = re.compile(r"\b(prosem_ros|prosem_edge|prosem_cloud|prosem_bench|prosem_bringup)\b")
    hits = []
    for path in sorted((SRC / "prosem_core").rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".json", ".md", ".txt", ".xml", ".cfg", ""):
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if above.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert not hits, "\n".join(hits)


def test_cloud_never_names_the_edge():
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in python_files(SRC / "prosem_cloud")
            for n, line in enumerate(p.read_text().splitlines(), 1) if "prosem_edge" in line]
    if "prosem_edge" in (SRC / "prosem_cloud" / "package.xml").read_text():
        hits.append("ros2_ws/src/prosem_cloud/package.xml")
    assert not hits, hits


@pytest.mark.parametrize("tier", sorted(TIER_ALLOWED))
def test_pure_test_tier_stays_pure(tier):
    files = [p for p in python_files(ROOT / tier) if p != Path(__file__).resolve()]  # this file holds a bad sample
    bad = violations(files, TIER_ALLOWED[tier] | {"prosem_core"}, None, forbid_ros=True)
    assert not bad, "\n".join(bad)


def test_the_scanner_sees_lazy_imports_and_module_strings(tmp_path):
    """The checks above must be able to fail: a lazy import and a `-m` command line are both found."""
    sample = tmp_path / "sample.py"
    sample.write_text(textwrap.dedent('''
        def f():
            from prosem_edge.edge_node import EdgeNode
            import rclpy
            return ["python", "-m", "prosem_cloud.bench_probe"], __import__("prosem_bench.link")
    '''))
    assert violations([sample], set(), "prosem_core", forbid_ros=True) != []
    roots = {r for _, r in imported_roots(sample)}
    assert {"prosem_edge", "rclpy", "prosem_cloud", "prosem_bench"} <= roots


def test_importing_every_core_module_loads_no_ros():
    """What actually loads agrees with the source scan (e.g. no third-party module pulls rclpy in)."""
    code = textwrap.dedent("""
        import importlib, pkgutil, sys
        import prosem_core
        for info in pkgutil.walk_packages(prosem_core.__path__, prefix="prosem_core."):
            importlib.import_module(info.name)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
        print("loaded:", loaded)
        assert not loaded, loaded
    """).replace("FORBIDDEN", repr(ROS_MODULES + OURS[2:]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
