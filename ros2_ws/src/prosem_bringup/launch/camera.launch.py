"""A replayed camera (camera_replay) for machines without one: bundled demo sequence, a folder of
images, a video file or a bag, published as sensor_msgs/Image on <namespace>/camera/image_raw.

    ros2 launch prosem_bringup camera.launch.py source:=/data/frames rate_hz:=10.0
"""
from pathlib import Path

from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

# share/prosem_bringup/config after colcon, ros2_ws/src/prosem_bringup/config in a checkout.
CONFIG = Path(__file__).parent.parent / "config"
# name, default, description: one launch argument per knob worth changing at launch time; the rest
# lives in the params file.
ARGUMENTS = [
    ("namespace", "", "ROS namespace of the robot (e.g. robot1): the camera publishes <namespace>/camera/image_raw"),
    ("params_file", str(CONFIG / "camera_replay.yaml"),
     "YAML file with the camera_replay parameters not set by the arguments below"),
    ("source", "demo", "what to replay: 'demo' (bundled sequence), 'demo:cat,shapes', a folder of images, "
                       "a video file, or a rosbag2 bag folder"),
    ("rate_hz", "5.0", "frames published per second"),
    ("loop", "true", "start again at the end of the source"),
    ("width", "0", "output width in pixels (0 = as the source)"),
    ("height", "0", "output height in pixels (0 = as the source)"),
    ("image_topic", "camera/image_raw", "topic the images are published on (relative names go under the namespace)"),
    ("log_level", "info", "log level of the node (debug, info, warn, error)"),
]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in ARGUMENTS]
    camera = Node(
        package="prosem_edge",
        executable="camera_replay",
        name="camera_replay",
        namespace=LaunchConfiguration("namespace"),
        parameters=[
            LaunchConfiguration("params_file"),
            {
                "source": LaunchConfiguration("source"),
                "rate_hz": LaunchConfiguration("rate_hz"),
                "loop": LaunchConfiguration("loop"),
                "width": LaunchConfiguration("width"),
                "height": LaunchConfiguration("height"),
            },
        ],
        remappings=[("camera/image_raw", LaunchConfiguration("image_topic"))],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
    )
    return LaunchDescription([*args, camera])
