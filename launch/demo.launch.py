"""Everything on one machine: a replayed camera, the edge node and the cloud node.

    ros2 launch prosem_edge demo.launch.py
    ros2 service call /prosem/query prosem_msgs/srv/Query "{question: 'what is in the image?', frame_seq: -1}"

All three share `namespace`, so several demo robots can run side by side (namespace:=robot2).
"""
from pathlib import Path

import prosem_core
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

# Raw 640x480 frames (921,600 B) overflow Fast DDS's default 512 KB shared-memory segment; between
# camera_replay and edge_node they would fall back to UDP fragments and best-effort frames get lost.
LARGE_FRAMES_PROFILE = str(Path(prosem_core.__file__).resolve().parent / "data" / "fastdds_large_frames.xml")

MODES = ["progressive", "full_cloud", "full_tokens", "full_edge"]
RUNTIMES = ["onnx", "onnx-int8", "torch"]

ARGUMENTS = [
    ("namespace", "", "ROS namespace of the demo robot (camera, edge and cloud share it)", None),
    ("source", "demo", "camera source: 'demo' (bundled sequence), 'demo:cat,shapes', a folder of images, "
                       "a video file or a rosbag2 bag folder", None),
    ("rate_hz", "5.0", "camera frames per second", None),
    ("mode", "progressive", "what goes over the uplink (edge and cloud use the same)", MODES),
    ("runtime", "onnx", "edge vision encoder runtime", RUNTIMES),
    ("log_level", "info", "log level of all three nodes", None),
    ("fastdds_profile", EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", default_value=LARGE_FRAMES_PROFILE),
     "Fast DDS XML profile for the three nodes (default: $FASTDDS_DEFAULT_PROFILES_FILE, else ProSem's "
     "large shared-memory segment profile so raw camera frames are not lost between processes)", None),
]


def _include(package: str, launch_file: str, arguments: dict) -> IncludeLaunchDescription:
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(package), "launch", launch_file])),
        launch_arguments=arguments.items(),
    )


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text, choices=choices)
            for name, default, text, choices in ARGUMENTS]
    ns, level = LaunchConfiguration("namespace"), LaunchConfiguration("log_level")
    return LaunchDescription([
        *args,
        SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
        _include("prosem_cloud", "cloud.launch.py", {"namespace": ns, "mode": LaunchConfiguration("mode"), "log_level": level}),
        _include("prosem_edge", "edge.launch.py", {"namespace": ns, "mode": LaunchConfiguration("mode"),
                                                   "runtime": LaunchConfiguration("runtime"), "log_level": level}),
        _include("prosem_edge", "camera.launch.py", {"namespace": ns, "source": LaunchConfiguration("source"),
                                                     "rate_hz": LaunchConfiguration("rate_hz"), "log_level": level}),
    ])
