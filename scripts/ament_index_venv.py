"""Register the workspace's ament_python packages in the venv the way colcon --symlink-install would.

`pip install -e` makes the packages importable but leaves them out of the ament index, so `ros2 run
prosem_edge edge_node` and `ros2 launch prosem_bringup demo.launch.py` (where the ROS 2 CLI exists)
could not find them. For every package under ros2_ws/src built with ament_python this writes, into
the venv prefix:
  share/ament_index/resource_index/packages/<pkg>   the package marker
  share/<pkg>/...                                   every data_files entry of its setup.py (symlinks
                                                    into the source tree, so edits show at once)
  lib/<pkg>/<executable>                            each console script (symlink to bin/<executable>)
Idempotent: each package's share/ and lib/ folders are rebuilt from scratch on every run.

    python scripts/ament_index_venv.py [--prefix VENV]
"""
from __future__ import annotations

import argparse
import os
import runpy
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "ros2_ws" / "src"


def build_type(package_dir: Path) -> str:
    node = ET.parse(package_dir / "package.xml").getroot().find("export/build_type")
    return node.text.strip() if node is not None and node.text else "ament_cmake"


def setup_kwargs(package_dir: Path) -> dict:
    """The keyword arguments a package's setup.py passes to setup(), run with setup() captured
    (data_files paths are relative to the package folder, so it runs from there)."""
    import setuptools

    captured: dict = {}
    old_setup, old_cwd = setuptools.setup, os.getcwd()
    setuptools.setup = lambda **kw: captured.update(kw)
    try:
        os.chdir(package_dir)
        runpy.run_path(str(package_dir / "setup.py"), run_name="__main__")
    finally:
        setuptools.setup = old_setup
        os.chdir(old_cwd)
    return captured


def console_scripts(kwargs: dict) -> dict[str, str]:
    entries = kwargs.get("entry_points", {}).get("console_scripts", [])
    return {e.split("=")[0].strip(): e.split("=")[1].strip() for e in entries}


def ament_python_packages() -> list[Path]:
    return [p.parent for p in sorted(SRC.glob("*/package.xml")) if build_type(p.parent) == "ament_python"]


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)


def register(prefix: Path) -> list[str]:
    done = []
    for package_dir in ament_python_packages():
        name = package_dir.name
        kwargs = setup_kwargs(package_dir)
        for folder in (prefix / "share" / name, prefix / "lib" / name):
            shutil.rmtree(folder, ignore_errors=True)
        for dest, files in kwargs.get("data_files", []):
            for rel in files:
                source = (package_dir / rel).resolve()
                if not source.is_file():
                    raise SystemExit(f"{package_dir / 'setup.py'}: data file {rel} does not exist")
                _link(source, prefix / dest / source.name)
        for script in console_scripts(kwargs):
            binary = prefix / "bin" / script
            if not binary.exists():
                raise SystemExit(f"{binary} missing: install {name} first (pip install -e {package_dir})")
            _link(binary, prefix / "lib" / name / script)
        done.append(name)
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default=str(Path(sys.prefix)), help="install prefix (default: this venv)")
    args = parser.parse_args()
    names = register(Path(args.prefix))
    print(f"ament index in {args.prefix}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
