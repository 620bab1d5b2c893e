# ProSem developer entry points. `make setup` then `make test` is all a newcomer needs.
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export AMENT_PREFIX_PATH := $(VENV)
export CMAKE_PREFIX_PATH := $(VENV)
# Nothing may wait on a model hub: everything ships with the repo or its pinned packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST

.PHONY: setup test test-core demo bench clean help

help:
	@echo "make setup   - create .venv with ROS 2 (rclpy, Fast DDS), torch, onnxruntime; build prosem_msgs; install packages"
	@echo "make test    - run the whole test suite (random ROS_DOMAIN_ID, discovery kept on localhost, offline)"
	@echo "make demo    - edge + cloud as processes, bundled camera sequence, scripted questions, table + plot"
	@echo "make bench   - run the benchmarks (codec, vqa, link) and regenerate README results"

setup:
	bash scripts/setup.sh

# A random domain id per run keeps parallel runs (and other users on this host) apart.
test:
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( (RANDOM % 100) + 1 ))} $(PY) -m pytest -q tests

test-core:
	$(PY) -m pytest -q tests/core

demo:
	$(PY) scripts/demo.py

bench:
	bash scripts/bench.sh

clean:
	rm -rf build out
