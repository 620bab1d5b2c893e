"""The cloud side: cloud_node (layer assembly, decoding, the prosem/query service and action).

    ros2 launch prosem_bringup cloud.launch.py namespaces:="['robot1', 'robot2']"

Serves one robot per entry of `namespaces` (its NS/prosem/layers, NS/prosem/feedback, ...);
the query service and action are <namespace>/prosem/query of this node.
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

ARGUMENTS = [
    ("namespace", "", "ROS namespace of the cloud node (its prosem/query service lives there)", None),
    ("params_file", str(CONFIG / "cloud.yaml"),
     "YAML file with the cloud_node parameters not set by the arguments below", None),
    ("namespaces", "['']", "robot namespaces to serve, as a YAML list (e.g. \"['robot1', 'robot2']\"); "
                           "'' = the cloud node's own namespace", None),
    ("mode", "progressive", "what the robots send (must match their edge mode)", MODES),
    ("model", "default", "model family (the robots' edges must run the same): default, or a VLM of model_dir", MODELS),
    ("model_dir", "", "folder of the saved VLM (its language half answers here)", None),
    ("codebook", "", "codebook calibrated for the model (the edges use the same); '' = the default model's shipped one", None),
    ("max_new_tokens", "24", "generative models: answer length budget per query (a query may ask for another)", None),
    ("runtime", "torch", "full_cloud mode: runtime of the vision half that then runs in the cloud", RUNTIMES),
    ("auth_key_file", "", "file with the HMAC key shared with the robots; with a key, untagged layers are rejected", None),
    ("log_level", "info", "log level of the node (debug, info, warn, error)", None),
]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text, choices=choices)
            for name, default, text, choices in ARGUMENTS]
    cloud = Node(
        package="prosem_cloud",
        executable="cloud_node",
        name="prosem_cloud",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "namespaces": LaunchConfiguration("namespaces"),
                "mode": LaunchConfiguration("mode"),
                "model": LaunchConfiguration("model"),
                "model_dir": LaunchConfiguration("model_dir"),
                "codebook": LaunchConfiguration("codebook"),
                "max_new_tokens": LaunchConfiguration("max_new_tokens"),
                "runtime": LaunchConfiguration("runtime"),
                "auth_key_file": LaunchConfiguration("auth_key_file"),
            },
        ],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
    )
    return LaunchDescription([*args, cloud])
