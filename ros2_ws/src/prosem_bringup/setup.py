"""prosem_bringup: launch files and parameter YAML for the ProSem nodes (nothing but data)."""
from glob import glob

from setuptools import setup

PACKAGE = "prosem_bringup"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=[],
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", sorted(glob("launch/*.launch.py"))),
        (f"share/{PACKAGE}/config", sorted(glob("config/*.yaml"))),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="ProSem developers",
    maintainer_email="dev@prosem.invalid",
    description="ProSem bring-up: launch files and parameters for edge, cloud, camera and demo",
    license="Apache-2.0",
)
