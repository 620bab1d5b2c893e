"""prosem_edge: the robot-side node (vision encoder + Meta AutoEncoder + link-adaptive publishing)."""
from setuptools import find_packages, setup

PACKAGE = "prosem_edge"
# launch/ and config/ of the repository, relative to this file (setup.py runs from its own folder).
BRINGUP = "../../.."

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        # Launch files and parameter YAML live at the repository root (launch/, config/).
        (f"share/{PACKAGE}/launch", [f"{BRINGUP}/launch/edge.launch.py", f"{BRINGUP}/launch/camera.launch.py", f"{BRINGUP}/launch/demo.launch.py"]),
        (f"share/{PACKAGE}/config", [f"{BRINGUP}/config/edge.yaml", f"{BRINGUP}/config/camera_replay.yaml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="ProSem developers",
    maintainer_email="dev@prosem.invalid",
    description="ProSem edge node",
    license="Apache-2.0",
    entry_points={"console_scripts": ["edge_node = prosem_edge.edge_node:main", "camera_replay = prosem_edge.camera_replay:main"]},
)
