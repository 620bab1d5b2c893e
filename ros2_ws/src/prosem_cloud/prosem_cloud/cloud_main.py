"""Console script `cloud_node`: limit numpy's BLAS pool, then import and run the cloud node; a Ctrl-C
during the import is a clean exit (prosem_ros.console). Nothing is imported at the top: the console
script imports this module unguarded, so every import happens inside main, where a Ctrl-C is caught.

numpy's thread count is fixed when the library loads, so it is set before the node module (and with
it numpy) is imported: see prosem_ros.cpu_threads."""
from __future__ import annotations


def main(args: list[str] | None = None) -> int:
    try:
        from prosem_ros.console import guarded_main
        from prosem_ros.cpu_threads import CLOUD_THREAD_VARS, limit_blas_threads
    except KeyboardInterrupt:
        return 0
    limit_blas_threads(variables=CLOUD_THREAD_VARS)
    return guarded_main("prosem_cloud.cloud_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
