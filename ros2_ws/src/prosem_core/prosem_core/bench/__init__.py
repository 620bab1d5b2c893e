"""Benchmark runners behind `prosem bench ...` (JSON out)."""
