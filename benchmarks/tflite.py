"""What the TFLite copies cost and give: file size and interpreter latency per variant vs the TensorFlow generator.

``python -m benchmarks.tflite [--config pipeline_config.yaml] [--variants float32 float16 dynamic_range]
[--runs 50] [--threads N] [--output benchmarks/results/tflite.md]``

Builds the generator the config describes (``trainer.generator``, ``ngf``,
``norm``, ``dropout_rate`` at ``transform.image_size``, under
``trainer.mixed_precision``), untrained: size and speed do not depend on the
weights' values. Converts it with ``tflite_export.write_tflite_models`` (what
every export does for ``serving.tflite``), one variant at a time, and times,
interleaved so that all see the same machine state, one image (batch 1):

* each variant in ``tf.lite.Interpreter`` (``--threads`` threads, its default
  XNNPACK delegate), called through its signature;
* the same generator saved and loaded as a SavedModel (what TF Serving runs,
  without the pre/post-processing), on TensorFlow's own thread pools.

Prints a table and writes it, with the date and the machine, to ``--output``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from typing import Dict, List

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import report_file  # noqa: E402
from benchmarks.machine import machine_description  # noqa: E402
from benchmarks.serving_latency import (BARE_OUTPUT, BARE_SIGNATURE, WARMUP_RUNS, accelerators,  # noqa: E402
                                        save_bare_generator, time_calls)

DEFAULT_CONFIG = "pipeline_config.yaml"
DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "tflite.md")
DEFAULT_RUNS = 50
TENSORFLOW = "tensorflow"   # the timings' key of the SavedModel path
P95 = 95
MS_PER_S = 1e3
SEED = 0


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder) for name in names)


def run(config_path: str, variants: List[str], runs: int, threads: int) -> Dict[str, object]:
    import tensorflow as tf

    from components.trainer import gan_trainer, networks, precision, tflite_export
    from pipeline.config import load_config

    config = load_config(config_path)
    size, channels = config.transform.image_size, config.transform.channels
    tf.keras.utils.set_random_seed(SEED)
    with precision.policy_scope(config.trainer.mixed_precision):
        generator, _ = gan_trainer.build_networks(config.trainer, size, channels)
    image = tf.random.uniform([tflite_export.BATCH, size, size, channels], -1.0, 1.0, seed=SEED)

    calls, sizes, convert_s = {}, {}, {}
    with tempfile.TemporaryDirectory() as scratch:
        for variant in variants:
            started = time.perf_counter()
            path = tflite_export.write_tflite_models(generator, os.path.join(scratch, variant), [variant])[variant]
            convert_s[variant] = time.perf_counter() - started
            sizes[variant] = os.path.getsize(path)
            runner = tf.lite.Interpreter(model_path=path, num_threads=threads).get_signature_runner(
                tflite_export.SIGNATURE)
            feed = {tflite_export.INPUT_NAME: image.numpy()}
            calls[variant] = lambda runner=runner, feed=feed: runner(**feed)[tflite_export.OUTPUT_NAME]
        bare_dir = save_bare_generator(generator, size, os.path.join(scratch, TENSORFLOW))
        sizes[TENSORFLOW] = folder_bytes(bare_dir)
        bare = tf.saved_model.load(bare_dir).signatures[BARE_SIGNATURE]
        calls[TENSORFLOW] = lambda: bare(images=image)[BARE_OUTPUT].numpy()
        seconds = time_calls(calls, runs)
    return {
        "image_size": size, "channels": channels, "trainer": config.trainer, "threads": threads, "runs": runs,
        "parameters": networks.count_parameters(generator), "sizes": sizes, "convert_s": convert_s,
        "latency_ms": {name: (np.percentile(values, 50) * MS_PER_S, np.percentile(values, P95) * MS_PER_S)
                       for name, values in seconds.items()},
    }


def report(result: Dict[str, object], args: argparse.Namespace) -> str:
    import tensorflow as tf

    from components.trainer import tflite_export

    sizes, latency, trainer = result["sizes"], result["latency_ms"], result["trainer"]
    reference = sizes.get(tflite_export.VARIANT_FLOAT32)
    tf_p50 = latency[TENSORFLOW][0]

    def row(label: str, name: str, converted: str) -> str:
        p50, p95 = latency[name]
        relative = f"{sizes[name] / reference:.2f}x" if reference else ""
        return (f"| {label} | {sizes[name] / tflite_export.BYTES_PER_MB:.2f} | {relative} | {converted} | "
                f"{p50:.2f} | {p95:.2f} | {MS_PER_S / p50:.0f} | {tf_p50 / p50:.2f}x |")

    lines = [
        "# TFLite copies of the generator: size and interpreter latency",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine_description()}; accelerator: {accelerators()}",
        f"- software: Python {platform.python_version()}, TensorFlow {tf.__version__} (tf.lite.Interpreter)",
        f"- model: the config's generator ({trainer.generator}, {result['image_size']}x{result['image_size']}x"
        f"{result['channels']}, ngf {trainer.ngf}, norm {trainer.norm}, {trainer.mixed_precision}; "
        f"{result['parameters']:,} parameters), **untrained**: size and speed do not depend on the weights' values",
        f"- timing: one image (batch 1), {result['runs']} runs of each path, interleaved, after {WARMUP_RUNS} warm-up "
        f"runs; TFLite with num_threads={result['threads']} (XNNPACK delegate, its default), TensorFlow on its own "
        "thread pools (all cores)",
        f"- command: `{' '.join(['python -m benchmarks.tflite', *args.argv])}`",
        "",
        "| path | size MB | vs float32 | convert s | p50 ms | p95 ms | images/s | speed vs TensorFlow |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[row(f"TFLite `{variant}`", variant, f"{result['convert_s'][variant]:.1f}") for variant in args.variants],
        row("TensorFlow SavedModel (bare generator)", TENSORFLOW, ""),
        "",
        "The generator is untrained (random weights): a size and speed measurement, not a quality one. Sizes are "
        "the `.tflite` files in `assets.extra/tflite/` (MB = 10^6 bytes); the SavedModel row is the bare "
        "generator's folder (the served export adds the Transform graph and its signatures). The SavedModel row "
        "times the generator alone, without the served model's decode, checks and PNG encoding. Conversion time "
        "is what an export spends per variant in `serving.tflite`; the first conversion in a process also pays "
        "the converter's start-up. Timings are noisy: compare the rows of one run.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from components.trainer import tflite_export

    parser = argparse.ArgumentParser(prog="python -m benchmarks.tflite", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="model settings (default: %(default)s)")
    parser.add_argument("--variants", nargs="+", default=list(tflite_export.VARIANTS),
                        choices=tflite_export.VARIANTS)
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed runs per path (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="TFLite interpreter threads (default: the CPU count, %(default)s)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    report_file.publish(report(run(args.config, args.variants, args.runs, args.threads), args), args.output, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
