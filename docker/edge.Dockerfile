# syntax=docker/dockerfile:1.7
# ProSem edge image: ROS 2 Jazzy ros-base + ONNX Runtime, for the robot's computer (NXP i.MX95,
# 6x Cortex-A55, linux/arm64). No torch: the vision encoder runs from an ONNX file exported in a
# build stage. Build from the repository root:
#
#   docker buildx build --platform linux/arm64 -f docker/edge.Dockerfile -t prosem-edge:arm64 .
#
# (docker/compose.yaml does the same; the ros:jazzy-ros-base image is multi-arch, so the same file
# builds linux/amd64 for a desktop test too.)

ARG ROS_DISTRO=jazzy

# ---- stage 1: export the encoder to ONNX (fp32 + int8) on the build host's own architecture ----
# torch is needed only here; the ONNX files are architecture-independent.
FROM --platform=$BUILDPLATFORM python:3.12-slim AS export
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PROSEM_MODEL_DIR=/models
WORKDIR /src
COPY docker/requirements-export.txt /tmp/requirements-export.txt
RUN pip install --index-url https://download.pytorch.org/whl/cpu --extra-index-url https://pypi.org/simple \
        -r /tmp/requirements-export.txt
COPY ros2_ws/src/prosem_core /src/prosem_core
RUN pip install --no-deps /src/prosem_core \
    && prosem export-onnx \
    && ls -l /models

# ---- stage 2: the edge runtime ------------------------------------------------------------------
FROM ros:${ROS_DISTRO}-ros-base AS edge
ARG ROS_DISTRO
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    PROSEM_MODEL_DIR=/opt/prosem/models PROSEM_WS=/opt/prosem/ws

# rmw_zenoh for the WAN profile of compose.yaml; pip for the Python packages below.
# The ROS apt repository keeps only the newest build of each package: pinned versions would
# stop resolving within weeks, so apt packages follow the base image's distro instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3-pip \
        "ros-${ROS_DISTRO}-rmw-zenoh-cpp" \
    && rm -rf /var/lib/apt/lists/*

COPY docker/requirements-edge.txt /tmp/requirements-edge.txt
RUN pip install -r /tmp/requirements-edge.txt

# The workspace: interfaces, the ROS-free core, the shared ROS glue, the edge node and the launch
# files (prosem_bringup installs them; no cloud package on the robot).
WORKDIR /opt/prosem/ws
COPY ros2_ws/src/prosem_msgs ros2_ws/src/prosem_msgs
COPY ros2_ws/src/prosem_core ros2_ws/src/prosem_core
COPY ros2_ws/src/prosem_ros ros2_ws/src/prosem_ros
COPY ros2_ws/src/prosem_edge ros2_ws/src/prosem_edge
COPY ros2_ws/src/prosem_bringup ros2_ws/src/prosem_bringup
RUN . "/opt/ros/${ROS_DISTRO}/setup.bash" \
    && colcon --log-base /tmp/colcon-log build --base-paths ros2_ws/src \
        --packages-select prosem_msgs prosem_core prosem_ros prosem_edge prosem_bringup \
        --build-base /tmp/colcon-build --install-base /opt/prosem/ws/install \
        --cmake-args -DBUILD_TESTING=OFF \
    && rm -rf /tmp/colcon-build /tmp/colcon-log

COPY --from=export /models /opt/prosem/models
COPY docker/entrypoint.sh /opt/prosem/entrypoint.sh
# Raw 640x480 camera frames (921,600 B) overflow Fast DDS's default 512 KB shared-memory segment and
# fall back to lossy UDP fragments; this profile enlarges the segment (camera and edge on one host).
COPY ros2_ws/src/prosem_core/prosem_core/data/fastdds_large_frames.xml /opt/prosem/fastdds_large_frames.xml
ENV FASTDDS_DEFAULT_PROFILES_FILE=/opt/prosem/fastdds_large_frames.xml

# The edge needs no inbound port with DDS on a LAN; with zenoh it dials out to the cloud router.
ENTRYPOINT ["/opt/prosem/entrypoint.sh"]
CMD ["ros2", "launch", "prosem_bringup", "edge.launch.py"]
