"""ProSem cloud nodes (rclpy). All algorithms live in prosem_core."""
