"""Thin wrapper for running from a checkout: `ros2 launch launch/multi_cloud.launch.py [ARG:=VALUE ...]`.

The launch file itself lives in the prosem_bringup package (ros2_ws/src/prosem_bringup/launch/) and is
installed with it, so after `colcon build` the same file runs as `ros2 launch prosem_bringup multi_cloud.launch.py`.
Launch arguments given on the command line reach it unchanged (`--show-args` lists them).
"""
from pathlib import Path

from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

from launch import LaunchDescription

PACKAGE_FILE = Path(__file__).resolve().parent.parent / "ros2_ws" / "src" / "prosem_bringup" / "launch" / "multi_cloud.launch.py"


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([IncludeLaunchDescription(PythonLaunchDescriptionSource(str(PACKAGE_FILE)))])
