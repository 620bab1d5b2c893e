"""Console script `edge_node`: limit BLAS threads, then import and run the node (a Ctrl-C during the
import is a clean exit: prosem_ros.console).

The thread-count variables size numpy's BLAS pool when the library loads, and the node module imports
numpy (rclpy's messages do too), so they must be set before that import: see cpu_threads.
"""
from __future__ import annotations

from prosem_edge.cpu_threads import limit_blas_threads
from prosem_ros.console import guarded_main

limit_blas_threads()


def main(args: list[str] | None = None) -> int:
    return guarded_main("prosem_edge.edge_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
