"""Benchmark harness that runs the real nodes as processes (`prosem bench link`): the camera, replay
and query-probe processes and the orchestration around them. It sits above every other package:
nothing depends on it, and the core's own benchmarks (codec, vqa, ...) never need it."""
