"""Test-wide settings: offline models, a private ROS domain per run, discovery on localhost."""
import os
import random
import sys
from pathlib import Path

# Nothing in the tests may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Keep DDS discovery on this host, and give the run its own domain so parallel runs don't mix.
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
os.environ.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(1, 100)))

# Shared test helpers (tests/rosutil.py) importable from every tier.
sys.path.insert(0, str(Path(__file__).resolve().parent))
