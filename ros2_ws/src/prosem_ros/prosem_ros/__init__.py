"""ROS-side glue shared by the edge and the cloud: message conversions, parameter specs, the QoS
mapping, spin/shutdown and the rclpy half of `prosem bag`. Depends on prosem_msgs and prosem_core
only; prosem_edge and prosem_cloud depend on it (never on each other)."""
