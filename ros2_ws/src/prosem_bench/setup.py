"""prosem_bench: benchmark harness processes around the real nodes (`prosem bench link`)."""
from setuptools import find_packages, setup

PACKAGE = "prosem_bench"

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
    description="ProSem benchmark harness: nodes as processes over shaped links",
    license="Apache-2.0",
    entry_points={"prosem.cli": ["bench_link = prosem_bench.cli_link"]},
)
