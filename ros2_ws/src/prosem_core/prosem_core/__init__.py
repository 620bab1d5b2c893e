"""ProSem core: everything that is not ROS.

This package must never import rclpy (a test checks it): the codec, models, link control and
benchmarks run the same in a ROS node, a notebook or a CI job.
"""

__version__ = "0.1.0"
