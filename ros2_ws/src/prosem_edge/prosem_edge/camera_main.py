"""Console script `camera_replay`: import and run the camera replay node; a Ctrl-C during the import
is a clean exit (prosem_ros.console)."""
from __future__ import annotations

from prosem_ros.console import guarded_main


def main(args: list[str] | None = None) -> int:
    return guarded_main("prosem_edge.camera_replay", args)


if __name__ == "__main__":
    raise SystemExit(main())
