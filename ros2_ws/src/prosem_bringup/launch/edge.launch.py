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
from prosem_core.models.registry import family_names
from prosem_core.modes import MODE_NAMES

# share/prosem_bringup/config after colcon, ros2_ws/src/prosem_bringup/config in a checkout.
CONFIG = Path(__file__).parent.parent / "config"
MODES = list(MODE_NAMES)  # one definition: prosem_core.modes
RUNTIMES = list(ENCODER_RUNTIMES)
MODELS = list(family_names())

# name, default, description, choices. Everything not here is in the params file (config/edge.yaml).
ARGUMENTS = [
    ("namespace", "", "ROS namespace of this robot (e.g. robot1); empty = root namespace", None),
    ("params_file", str(CONFIG / "edge.yaml"),
     "YAML file with the edge_node parameters not set by the arguments below", None),
    ("mode", "progressive", "what goes over the uplink: progressive layers, full_cloud JPEG frames, full_tokens fp16 tokens, "
                            "or full_edge (answers on the robot); must match the cloud's mode", MODES),
    ("model", "default", "model family (the cloud must run the same): default, or a VLM of model_dir", MODELS),
    ("model_dir", "", "folder of the saved VLM (its vision half runs here; export it first: prosem export-onnx)", None),
    ("runtime", "onnx", "vision half runtime: onnx (fp32), onnx-int8 (what an NPU runs) or torch", RUNTIMES),
    ("codebook", "", "codebook calibrated for the model (prosem calibrate); '' = the default model's shipped one", None),
    ("image_splitting", "false", "SmolVLM: send tiles + a global view (13 views) instead of one view", ["true", "false"]),
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
                "model": LaunchConfiguration("model"),
                "model_dir": LaunchConfiguration("model_dir"),
                "runtime": LaunchConfiguration("runtime"),
                "codebook": LaunchConfiguration("codebook"),
                "image_splitting": LaunchConfiguration("image_splitting"),
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
