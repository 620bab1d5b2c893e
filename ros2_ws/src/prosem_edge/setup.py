"""prosem_edge: the robot-side node (vision encoder + Meta AutoEncoder + link-adaptive publishing)."""
from setuptools import find_packages, setup

PACKAGE = "prosem_edge"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="ProSem developers",
    maintainer_email="dev@prosem.invalid",
    description="ProSem edge node",
    license="Apache-2.0",
    entry_points={"console_scripts": ["edge_node = prosem_edge.edge_main:main", "camera_replay = prosem_edge.camera_main:main"]},
)
