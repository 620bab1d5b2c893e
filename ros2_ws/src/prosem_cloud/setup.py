"""prosem_cloud: the cloud-side node (layer assembly, decoding, VLM query service and action)."""
from setuptools import find_packages, setup

PACKAGE = "prosem_cloud"

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
    description="ProSem cloud node",
    license="Apache-2.0",
    entry_points={"console_scripts": ["cloud_node = prosem_cloud.cloud_main:main"]},
)
