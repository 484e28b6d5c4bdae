"""Which machine a benchmark ran on, and how fast it multiplies matrices.

Timings are only comparable on the same machine, so every results file names it.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time

PEAK_MATRIX_SIZE = 2048
PEAK_REPEATS = 10
PEAK_ROUNDS = 3


def machine_description() -> str:
    """CPU model and core count (lscpu), or what Python knows where lscpu is missing."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
        model = fields.get("Model name", platform.processor() or "unknown CPU").strip()
        return f"{model}, {fields.get('CPU(s)', str(os.cpu_count())).strip()} CPU(s)"
    except (OSError, subprocess.CalledProcessError):
        return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s)"


def matmul_peak_gflops(dtype: str = "float32") -> float:
    """Best matmul rate TensorFlow reaches here in ``dtype``: the yardstick for 'fraction of peak'."""
    import tensorflow as tf

    a = tf.cast(tf.random.normal([PEAK_MATRIX_SIZE, PEAK_MATRIX_SIZE]), dtype)
    _ = tf.matmul(a, a).numpy()
    best = 0.0
    for _ in range(PEAK_ROUNDS):
        start = time.perf_counter()
        for _ in range(PEAK_REPEATS):
            out = tf.matmul(a, a)
        _ = out.numpy()
        best = max(best, 2 * PEAK_MATRIX_SIZE ** 3 * PEAK_REPEATS / (time.perf_counter() - start) / 1e9)
    return best
