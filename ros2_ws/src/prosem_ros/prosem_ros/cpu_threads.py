"""One BLAS thread for the edge and cloud processes, set before numpy (or anything that loads it) is
imported.

The edge does its heavy work on one worker thread: the vision encoder (ONNX Runtime, its own
`encoder_threads` pool) and the codec's small matrix products in numpy. numpy's OpenBLAS otherwise
starts one thread per core and hands each product to that pool; on a small, shared CPU those threads
sleep between frames, wake late and fight the encoder for the same cores. Measured here (2 shared
cores, 640x480 camera frames, a frame every 0.2 s): codec.encode median 21-24 ms / p90 100-122 ms
with the default pools against 4.3 ms / 5-8 ms with one thread, and the encoder 18-19 -> 11 ms median.
OMP_NUM_THREADS is the one that matters here (numpy's OpenBLAS honours it too); OPENBLAS_NUM_THREADS
alone left the encoder at 19 ms. A variable already set in the environment wins.

The cloud (measured with `prosem bench link --only scale`, random ImageNet-head answers on the
built-in model): numpy's default pool of one OpenBLAS thread per core spins after every decode, so one
robot at 5 fps plus four questions a second cost 0.50 CPU s/s against 0.10 s/s with one thread, and
query p95 fell from 0.019 to 0.014 s. The cloud sets only OPENBLAS_NUM_THREADS: a VLM's language
half runs in torch, whose OpenMP pool needs every core (CLOUD_THREAD_VARS). Where torch's own BLAS
is OpenBLAS (aarch64 wheels; x86 wheels use MKL/oneDNN), the variable pins it too: on such a server,
set OPENBLAS_NUM_THREADS to the core count for the cloud yourself (a value already set wins).

Only when numpy is not loaded yet: then this is the node's own process (the console script). In a
process that already has numpy (a test run hosting the node in-process) the variables could no longer
size numpy's pool and would only make a later torch import single-threaded, so they are left alone.
"""
from __future__ import annotations

import os
import sys

BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")  # the edge: numpy and ONNX Runtime's OpenMP
CLOUD_THREAD_VARS = ("OPENBLAS_NUM_THREADS",)  # the cloud: numpy only; torch keeps its OpenMP pool


def limit_blas_threads(threads: int = 1, variables: tuple[str, ...] = BLAS_THREAD_VARS) -> dict[str, str]:
    """Default the thread-count `variables` to `threads` if numpy is not loaded yet (its pool is
    sized when the library loads). Returns the values now set ({} when it did nothing)."""
    if "numpy" in sys.modules:
        return {}
    for var in variables:
        os.environ.setdefault(var, str(threads))
    return {var: os.environ[var] for var in variables}
