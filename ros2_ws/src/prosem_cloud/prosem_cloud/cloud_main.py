"""Console script `cloud_node`: import and run the cloud node; a Ctrl-C during the import is a clean
exit (prosem_ros.console). Nothing is imported at the top: the console script imports this module
unguarded, so every import happens inside main, where a Ctrl-C is caught."""
from __future__ import annotations


def main(args: list[str] | None = None) -> int:
    try:
        from prosem_ros.console import guarded_main
    except KeyboardInterrupt:
        return 0
    return guarded_main("prosem_cloud.cloud_node", args)


if __name__ == "__main__":
    raise SystemExit(main())
