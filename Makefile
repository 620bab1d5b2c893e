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

.PHONY: setup lint test test-core test-nodes test-e2e test-bringup demo bench clean help

help:
	@echo "make setup   - create .venv with ROS 2 (rclpy, Fast DDS), torch, onnxruntime; build prosem_msgs; install packages"
	@echo "make test    - ruff, then the whole test suite (random ROS_DOMAIN_ID, discovery kept on localhost, offline)"
	@echo "make lint    - ruff only (pinned in constraints.txt; config in ruff.toml)"
	@echo "make test-core | test-nodes | test-e2e | test-bringup - one tier, for fast loops"
	@echo "make demo    - edge + cloud as processes, bundled camera sequence, scripted questions, table + plot"
	@echo "make bench   - run the benchmarks (codec, vqa, vlm, stream, link) and regenerate README results"

setup:
	bash scripts/setup.sh

lint:
	$(VENV)/bin/ruff check .

# A random domain id per run keeps parallel runs (and other users on this host) apart.
RUN_TESTS = ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( (RANDOM % 100) + 1 ))} $(PY) -m pytest -q

test: lint
	$(RUN_TESTS) tests

test-core:
	$(RUN_TESTS) tests/core

test-nodes:
	$(RUN_TESTS) tests/nodes

test-e2e:
	$(RUN_TESTS) tests/e2e

test-bringup:
	$(RUN_TESTS) tests/bringup

demo:
	$(PY) scripts/demo.py

bench:
	bash scripts/bench.sh

clean:
	rm -rf build out
