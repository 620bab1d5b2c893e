"""Several cloud nodes on one server, each serving its own robots (disjoint namespaces).

    ros2 launch prosem_bringup multi_cloud.launch.py groups:="robot0,robot1,robot2;robot3,robot4,robot5"

One cloud_node per `;`-separated group, in namespace cloud0, cloud1, ... It serves the robots of its
group by absolute namespace (/robot0/prosem/layers, /robot0/prosem/feedback, ...), answers each
robot's /robotN/prosem/query, and all of its robots on /cloudK/prosem/query. Why: one cloud process
shares one GIL between its ingest thread and its questions (`prosem bench link --only scale`: query
p95 3.3x one robot's at 32 robots on 2 cores); separate processes spread the robots over the server's
cores. Every group gets the same parameters file and model arguments; raise max_streams in it past 16
robots per group.
"""
from pathlib import Path

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch_ros.actions import Node

from launch import LaunchDescription
from prosem_core.models.registry import family_names
from prosem_core.modes import MODE_NAMES

# share/prosem_bringup/config after colcon, ros2_ws/src/prosem_bringup/config in a checkout.
CONFIG = Path(__file__).parent.parent / "config"

ARGUMENTS = [
    ("groups", "robot0,robot1;robot2,robot3",
     "robot namespaces per cloud node: groups separated by ';', robots in a group by ','", None),
    ("params_file", str(CONFIG / "cloud.yaml"), "YAML file with the cloud_node parameters (every group)", None),
    ("mode", "progressive", "what the robots send (must match their edge mode)", list(MODE_NAMES)),
    ("model", "default", "model family (the robots' edges must run the same): default, or a VLM of model_dir",
     list(family_names())),
    ("model_dir", "", "folder of the saved VLM (its language half answers here)", None),
    ("codebook", "", "codebook calibrated for the model; '' = the default model's shipped one", None),
    ("log_level", "info", "log level of the nodes (debug, info, warn, error)", None),
]


def parse_groups(text: str) -> list[list[str]]:
    """'a,b;c' -> [['/a', '/b'], ['/c']]; a robot in two groups, or an empty group, is an error."""
    groups = [[f"/{r.strip().strip('/')}" for r in g.split(",") if r.strip().strip("/")] for g in text.split(";") if g.strip()]
    robots = [r for g in groups for r in g]
    if not groups or any(not g for g in groups):
        raise ValueError(f"groups:={text!r}: give robot namespaces, e.g. 'robot0,robot1;robot2'")
    if len(set(robots)) != len(robots):
        raise ValueError(f"groups:={text!r}: a robot is served by one cloud node only (disjoint namespaces)")
    return groups


def _cloud_nodes(context) -> list[Node]:
    config = context.launch_configurations
    return [
        Node(
            package="prosem_cloud",
            executable="cloud_node",
            name="prosem_cloud",
            namespace=f"cloud{k}",
            parameters=[
                config["params_file"],
                {"namespaces": group, "mode": config["mode"], "model": config["model"],
                 "model_dir": config["model_dir"], "codebook": config["codebook"]},
            ],
            arguments=["--ros-args", "--log-level", config["log_level"]],
            output="screen",
        )
        for k, group in enumerate(parse_groups(config["groups"]))
    ]


def generate_launch_description() -> LaunchDescription:
    args = [DeclareLaunchArgument(name, default_value=default, description=text, choices=choices)
            for name, default, text, choices in ARGUMENTS]
    return LaunchDescription([*args, OpaqueFunction(function=_cloud_nodes)])
