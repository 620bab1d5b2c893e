"""prosem_core is ROS-free: importing it (and every submodule) must never import rclpy."""
import subprocess
import sys
import textwrap


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_import_prosem_core_does_not_import_rclpy():
    proc = _run(
        """
        import sys
        import prosem_core
        assert "rclpy" not in sys.modules, "import prosem_core pulled in rclpy"
        print("ok")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_no_submodule_of_prosem_core_imports_rclpy():
    # Walk every module of the package; each must import without dragging rclpy in.
    proc = _run(
        """
        import importlib, pkgutil, sys
        import prosem_core
        bad, failed = [], []
        for info in pkgutil.walk_packages(prosem_core.__path__, prefix="prosem_core."):
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # an optional heavy dependency (e.g. transformers) may be absent
                failed.append(f"{info.name}: {exc}")
                continue
            if "rclpy" in sys.modules:
                bad.append(info.name)
                break
        print("checked", len(list(pkgutil.walk_packages(prosem_core.__path__, prefix="prosem_core."))))
        print("import errors:", failed)
        assert not bad, f"these modules import rclpy at import time: {bad}"
        """
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
