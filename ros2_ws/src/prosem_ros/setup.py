"""prosem_ros: the ROS-side glue shared by prosem_edge and prosem_cloud (no nodes of its own)."""
from setuptools import find_packages, setup

PACKAGE = "prosem_ros"

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
    description="ProSem ROS-side glue: conversions, parameters, QoS, spin/shutdown, bags",
    license="Apache-2.0",
    # `prosem bag record|play` (the rclpy half of bags) plugs into the core's CLI.
    entry_points={"prosem.cli": ["bag_ros = prosem_ros.cli_bag"]},
)
