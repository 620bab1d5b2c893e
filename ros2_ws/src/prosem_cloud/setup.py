"""prosem_cloud: the cloud-side node (layer assembly, decoding, VLM query service and action)."""
from setuptools import find_packages, setup

PACKAGE = "prosem_cloud"
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
        (f"share/{PACKAGE}/launch", [f"{BRINGUP}/launch/cloud.launch.py"]),
        (f"share/{PACKAGE}/config", [f"{BRINGUP}/config/cloud.yaml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=False,
    maintainer="ProSem developers",
    maintainer_email="dev@prosem.invalid",
    description="ProSem cloud node",
    license="Apache-2.0",
    entry_points={"console_scripts": ["cloud_node = prosem_cloud.cloud_node:main"]},
)
