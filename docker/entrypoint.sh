#!/usr/bin/env bash
# Container entry point: put ROS 2 and the ProSem workspace on the environment, then run the command.
set -euo pipefail
# setup.bash reads unset variables; relax -u while sourcing it.
set +u
# shellcheck disable=SC1090
source "/opt/ros/${ROS_DISTRO}/setup.bash"
# shellcheck disable=SC1091
source "${PROSEM_WS:-/opt/prosem/ws}/install/setup.bash"
set -u
exec "$@"
