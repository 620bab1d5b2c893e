"""prosem_core: ROS-free Python (codec, link control, models, metrics, benchmarks, CLI)."""

from setuptools import find_packages, setup

PACKAGE = "prosem_core"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    package_data={PACKAGE: ["data/*", "data/**/*"]},
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
    ],
    install_requires=["setuptools", "numpy"],
    zip_safe=False,
    maintainer="ProSem developers",
    maintainer_email="dev@prosem.invalid",
    description="ROS-free core of ProSem",
    license="Apache-2.0",
    entry_points={"console_scripts": ["prosem = prosem_core.cli.main:main"]},
)
