"""Everything on one machine: a replayed camera, the edge node and the cloud node.

    ros2 launch prosem_bringup demo.launch.py
    ros2 service call /prosem/query prosem_msgs/srv/Query "{question: 'what is in the image?', frame_seq: -1}"

All three share `namespace`, so several demo robots can run side by side (namespace:=robot2).

Each include runs in its own scope (GroupAction scoped, not forwarding): `ros2 launch` does not scope
an IncludeLaunchDescription, so without it the first file's `params_file` default would stay set and
reach the next include (the edge would start with cloud.yaml). Only the arguments named here cross
into an include, and the environment is reset inside each group, so each sets the DDS profile itself.
"""
from pathlib import Path

from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import EnvironmentVariable, LaunchConfiguration

import prosem_core
from launch import LaunchDescription
from prosem_core.models.encoder import RUNTIMES as ENCODER_RUNTIMES
from prosem_core.models.registry import family_names
from prosem_core.modes import MODE_NAMES

HERE = Path(__file__).parent
# Raw 640x480 frames (921,600 B) overflow Fast DDS's default 512 KB shared-memory segment; between
# camera_replay and edge_node they would fall back to UDP fragments and best-effort frames get lost.
LARGE_FRAMES_PROFILE = str(Path(prosem_core.__file__).resolve().parent / "data" / "fastdds_large_frames.xml")

MODES = list(MODE_NAMES)  # one definition: prosem_core.modes
RUNTIMES = list(ENCODER_RUNTIMES)
MODELS = list(family_names())

ARGUMENTS = [
    ("namespace", "", "ROS namespace of the demo robot (camera, edge and cloud share it)", None),
    ("source", "demo", "camera source: 'demo' (bundled sequence), 'demo:cat,shapes', a folder of images, "
                       "a video file or a rosbag2 bag folder", None),
    ("rate_hz", "5.0", "camera frames per second", None),
    ("mode", "progressive", "what goes over the uplink (edge and cloud use the same)", MODES),
    ("model", "default", "model family of edge and cloud: default, or a VLM of model_dir", MODELS),
    ("model_dir", "", "folder of the saved VLM (edge: its vision half; cloud: its language half)", None),
    ("codebook", "", "codebook calibrated for the model; '' = the default model's shipped one", None),
    ("runtime", "onnx", "edge vision half runtime", RUNTIMES),
    ("log_level", "info", "log level of all three nodes", None),
    ("fastdds_profile", EnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", default_value=LARGE_FRAMES_PROFILE),
     "Fast DDS XML profile for the three nodes (default: $FASTDDS_DEFAULT_PROFILES_FILE, else ProSem's "
     "large shared-memory segment profile so raw camera frames are not lost between processes)", None),
]


def _scoped_include(launch_file: str, arguments: dict) -> GroupAction:
    """`launch_file` of this folder with exactly `arguments` (names -> substitutions evaluated here)."""
    return GroupAction(
        scoped=True,
        forwarding=False,
        launch_configurations={**arguments, "fastdds_profile": LaunchConfiguration("fastdds_profile")},
        actions=[
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", LaunchConfiguration("fastdds_profile")),
            IncludeLaunchDescription(PythonLaunchDescriptionSource(str(HERE / launch_file))),
        ],
    )


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text, choices=choices)
            for name, default, text, choices in ARGUMENTS]
    ns, level, mode = LaunchConfiguration("namespace"), LaunchConfiguration("log_level"), LaunchConfiguration("mode")
    model = {name: LaunchConfiguration(name) for name in ("model", "model_dir", "codebook")}
    return LaunchDescription([
        *args,
        _scoped_include("cloud.launch.py", {"namespace": ns, "mode": mode, "log_level": level, **model}),
        _scoped_include("edge.launch.py", {"namespace": ns, "mode": mode, "runtime": LaunchConfiguration("runtime"),
                                           "log_level": level, **model}),
        _scoped_include("camera.launch.py", {"namespace": ns, "source": LaunchConfiguration("source"),
                                             "rate_hz": LaunchConfiguration("rate_hz"), "log_level": level}),
    ])
