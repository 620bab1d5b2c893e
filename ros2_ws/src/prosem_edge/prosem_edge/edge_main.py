"""Console script `edge_node`: limit BLAS threads, then import and run the node (a Ctrl-C during the
import is a clean exit: prosem_ros.console).

The thread-count variables size numpy's BLAS pool when the library loads, and the node module imports
numpy (rclpy's messages do too), so they must be set before that import: see prosem_ros.cpu_threads.
This module imports nothing at its top: the console script imports it unguarded, so every import
that can take time happens inside main, where a Ctrl-C is caught.
"""
from __future__ import annotations


def main(args: list[str] | None = None) -> int:
    try:
        from prosem_ros.console import guarded_main
        from prosem_ros.cpu_threads import limit_blas_threads
    except KeyboardInterrupt:
        return 0
    limit_blas_threads()
    return guarded_main("prosem_edge.edge_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
