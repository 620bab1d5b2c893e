"""The robot side: edge_node (vision encoder + Meta AutoEncoder + link-adaptive layer publishing).

    ros2 launch prosem_bringup edge.launch.py namespace:=robot1 camera_topic:=/camera/color/image_raw

Topics (relative, so they land under the namespace): sub camera/image_raw (remapped from
camera_topic), prosem/feedback; pub prosem/layers, prosem/layers/refine, prosem/link_state.
Several robots share one cloud node by using one namespace each (see cloud.launch.py `namespaces`).
"""
from pathlib import Path

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from prosem_core.models.encoder import RUNTIMES as ENCODER_RUNTIMES
from prosem_core.modes import MODE_NAMES

# share/prosem_bringup/config after colcon, ros2_ws/src/prosem_bringup/config in a checkout.
CONFIG = Path(__file__).parent.parent / "config"
MODES = list(MODE_NAMES)  # one definition: prosem_core.modes
RUNTIMES = list(ENCODER_RUNTIMES)

# name, default, description, choices. Everything not here is in the params file (config/edge.yaml).
ARGUMENTS = [
    ("namespace", "", "ROS namespace of this robot (e.g. robot1); empty = root namespace", None),
    ("params_file", str(CONFIG / "edge.yaml"),
     "YAML file with the edge_node parameters not set by the arguments below", None),
    ("mode", "progressive", "what goes over the uplink: progressive layers, full_cloud JPEG frames, full_tokens fp16 tokens, "
                            "or full_edge (answers on the robot); must match the cloud's mode", MODES),
    ("runtime", "onnx", "vision encoder runtime: onnx (fp32), onnx-int8 (what an NPU runs) or torch", RUNTIMES),
    ("stream_id", "", "id of this robot's stream in the cloud; empty = last component of the namespace, or robot0", None),
    ("max_encode_rate_hz", "5.0", "most camera frames per second the edge encodes and sends", None),
    ("camera_topic", "camera/image_raw", "camera image topic (sensor_msgs/Image) the edge subscribes to", None),
    ("auth_key_file", "", "file with the HMAC key shared with the cloud; empty = layers are not authenticated", None),
    ("log_level", "info", "log level of the node (debug, info, warn, error)", None),
]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text, choices=choices)
            for name, default, text, choices in ARGUMENTS]
    edge = Node(
        package="prosem_edge",
        executable="edge_node",
        name="prosem_edge",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "mode": LaunchConfiguration("mode"),
                "runtime": LaunchConfiguration("runtime"),
                "stream_id": LaunchConfiguration("stream_id"),
                "max_encode_rate_hz": LaunchConfiguration("max_encode_rate_hz"),
                "auth_key_file": LaunchConfiguration("auth_key_file"),
            },
        ],
        remappings=[("camera/image_raw", LaunchConfiguration("camera_topic"))],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
    )
    return LaunchDescription([*args, edge])
