"""The edge process pins numpy's BLAS/OpenMP pools to one thread before numpy loads, and only then; the
cloud pins numpy's pool only (torch's OpenMP pool serves a VLM's language half)."""
import os
import subprocess
import sys

CODE = "import prosem_ros.cpu_threads as c; {pre}print(sorted(c.limit_blas_threads({args}).items()))"


def _run(pre: str, args: str = "", **env_extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-c", CODE.format(pre=pre, args=args)], env=env, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


def test_sets_one_thread_before_numpy_loads():
    assert _run("") == "[('OMP_NUM_THREADS', '1'), ('OPENBLAS_NUM_THREADS', '1')]"


def test_an_explicit_setting_wins():
    assert _run("", OMP_NUM_THREADS="2") == "[('OMP_NUM_THREADS', '2'), ('OPENBLAS_NUM_THREADS', '1')]"


def test_leaves_a_process_that_already_has_numpy_alone():
    assert _run("import numpy; ") == "[]"


def test_the_cloud_leaves_openmp_to_torch():
    assert _run("", args="variables=c.CLOUD_THREAD_VARS") == "[('OPENBLAS_NUM_THREADS', '1')]"
