"""What serving costs on top of the generator: ``serving_default`` (bytes in, PNG bytes out) vs the bare forward.

``python -m benchmarks.serving_latency [--image-size 256] [--ngf 64] [--runs 25] [--batch-size 8]
[--batch-runs 6] [--output benchmarks/results/serving.md]``

Builds the paper's generator (U-Net, ngf 64; untrained weights: speed does not
depend on them) and a real Transform graph at the image size, exports them as
the pipeline does, then times, interleaved so that both see the same machine
state:

* single-image latency (p50, p95): ``serving_default`` on one encoded PNG vs
  the generator alone (saved and loaded the same way) on one float32
  [1, H, W, 3] tensor;
* batch throughput (images/s): the same on a batch.

The pre/post-processing overhead is (serving - bare) / bare; the goal is at
most 15 %. Inputs are facade label maps from the embedded dataset, encoded as
PNG (what a client sends). Prints a table and writes it, with the date and the
machine, to ``--output``.
"""
from __future__ import annotations

import argparse
import datetime
import functools
import io
import os
import platform
import sys
import tempfile
import time
from typing import Callable, Dict, List

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.machine import machine_description  # noqa: E402

DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "serving.md")
OVERHEAD_GOAL_PERCENT = 15.0
WARMUP_RUNS = 3
BARE_SIGNATURE, BARE_OUTPUT = "generator", "generated"
SEED = 0


def accelerators() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return ", ".join(gpu.name for gpu in gpus) if gpus else "none (CPU only)"


def build_transform_graph(image_size: int, out_dir: str) -> str:
    """The project's preprocessing_fn, analysed by tft_beam into a transform graph (no analyzers: fast)."""
    import apache_beam as beam  # noqa: F401  (registers the runner)
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from components import features
    from components.transform import preprocessing

    raw_spec = {key: tf.io.FixedLenFeature([1], tf.string)
                for key in (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY, features.PAIR_ID_KEY)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    sample = encode_png(np.zeros((8, 8, 3), np.uint8))
    raw = [{features.INPUT_IMAGE_KEY: [sample], features.TARGET_IMAGE_KEY: [sample], features.PAIR_ID_KEY: [b"x"]}]
    fn = functools.partial(preprocessing.preprocessing_fn,
                           custom_config={"transform": {"image_size": image_size, "channels": 3}})
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=os.path.join(out_dir, "tmp")):
        transform_fn = (pipeline | beam.Create(raw), metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        _ = metadata | "RawMetadata" >> tft_beam.WriteMetadata(
            os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline)
    return out_dir


def encode_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def facade_label_maps(count: int, image_size: int) -> List[np.ndarray]:
    from data import synthetic_facades

    rng = np.random.default_rng(SEED)
    return [synthetic_facades.render_pair(rng, image_size)[0] for _ in range(count)]


def save_bare_generator(generator, image_size: int, export_dir: str) -> str:
    """The generator alone (float32 in [-1, 1] -> float32), saved and loaded like the served model.

    Timing both through tf.saved_model.load gives them the same graph optimisations,
    so the difference is the pre/post-processing and nothing else.
    """
    import tensorflow as tf

    module = tf.Module()
    module.generator = generator
    module.forward = tf.function(lambda images: {BARE_OUTPUT: generator(images, training=False)},
                                 input_signature=[tf.TensorSpec([None, image_size, image_size, 3], tf.float32,
                                                                name="images")])
    tf.saved_model.save(module, export_dir, signatures={BARE_SIGNATURE: module.forward.get_concrete_function()})
    return export_dir


def pre_and_post_processing(tft_output):
    """serving_default without the generator: checks, Transform (decode, resize, scale), uint8, PNG encode.

    It encodes the preprocessed input where the signature encodes the generated
    image (same size; a generated image may compress differently).
    """
    import tensorflow as tf

    from components import features
    from components.trainer import export

    transform_layer = tft_output.transform_features_layer()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def run(image_bytes):
        sizes = export.checked_input_sizes(image_bytes, export.DEFAULT_MAX_INPUT_PIXELS)
        with tf.control_dependencies([sizes]):
            image_bytes = tf.identity(image_bytes)
        pixels = transform_layer({features.INPUT_IMAGE_KEY: tf.reshape(image_bytes, [-1, 1])})[features.INPUT_XF]
        return tf.map_fn(tf.io.encode_png, export.to_uint8(pixels), fn_output_signature=tf.TensorSpec([], tf.string))

    return run


def time_calls(functions: Dict[str, Callable[[], object]], runs: int) -> Dict[str, np.ndarray]:
    """Seconds per call of each function, the functions interleaved run by run (fair under drift)."""
    for _ in range(WARMUP_RUNS):
        for function in functions.values():
            function()
    seconds: Dict[str, List[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            seconds[name].append(time.perf_counter() - started)
    return {name: np.array(values) for name, values in seconds.items()}


def run(image_size: int, ngf: int, runs: int, batch_size: int, batch_runs: int) -> Dict[str, object]:
    import tensorflow as tf
    import tensorflow_transform as tft

    from components import features
    from components.trainer import export, networks

    tf.keras.utils.set_random_seed(SEED)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        tft_output = tft.TFTransformOutput(build_transform_graph(image_size, os.path.join(scratch, "transform")))
        generator = networks.build_unet_generator(image_size, ngf=ngf)
        export_dir = export.export_generator(generator, tft_output, os.path.join(scratch, "model"))
        serving = tf.saved_model.load(export_dir).signatures[features.SERVING_DEFAULT]
        bare = tf.saved_model.load(save_bare_generator(generator, image_size, os.path.join(scratch, "bare")))
        bare = bare.signatures[BARE_SIGNATURE]
        pre_post = pre_and_post_processing(tft_output)
        setup_s = time.perf_counter() - started

    label_maps = facade_label_maps(batch_size, image_size)
    encoded = tf.constant([encode_png(pixels) for pixels in label_maps])
    floats = tf.constant(np.stack(label_maps).astype(np.float32) / 127.5 - 1.0)

    def serve(count):  # bytes in, PNG bytes out, fetched to the host as a client would get them
        return serving(**{features.SERVING_INPUT_BYTES: encoded[:count]})[features.SERVING_OUTPUT_BYTES].numpy()

    def forward(count):
        return bare(images=floats[:count])[BARE_OUTPUT].numpy()

    def pre_post_only(count):
        return pre_post(encoded[:count]).numpy()

    single = time_calls({"serving": lambda: serve(1), "bare": lambda: forward(1),
                         "pre_post": lambda: pre_post_only(1)}, runs)
    batch = time_calls({"serving": lambda: serve(batch_size), "bare": lambda: forward(batch_size),
                        "pre_post": lambda: pre_post_only(batch_size)}, batch_runs)
    return {
        "parameters": networks.count_parameters(generator), "setup_s": setup_s,
        "png_bytes": int(np.mean([len(data) for data in encoded.numpy()])),
        "single": {name: (np.percentile(values, 50) * 1e3, np.percentile(values, 95) * 1e3)
                   for name, values in single.items()},
        "throughput": {name: batch_size / np.median(values) for name, values in batch.items()},
    }


def overhead_percent(serving: float, bare: float) -> float:
    return (serving - bare) / bare * 100.0


def report(result: Dict[str, object], args: argparse.Namespace) -> str:
    single, throughput = result["single"], result["throughput"]
    p50 = overhead_percent(single["serving"][0], single["bare"][0])
    p95 = overhead_percent(single["serving"][1], single["bare"][1])
    batch = overhead_percent(throughput["bare"], throughput["serving"])  # time per image, relative
    alone_p50 = single["pre_post"][0] / single["bare"][0] * 100.0
    alone_batch = throughput["bare"] / throughput["pre_post"] * 100.0
    worst = max(p50, batch)
    verdict = "met" if worst <= OVERHEAD_GOAL_PERCENT else "NOT met"
    import tensorflow as tf

    lines = [
        "# Serving latency: `serving_default` vs the bare generator",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine_description()}; accelerator: {accelerators()}",
        f"- software: Python {platform.python_version()}, TensorFlow {tf.__version__}",
        f"- model: U-Net generator, {args.image_size}x{args.image_size}, ngf {args.ngf} "
        f"({result['parameters']:,} parameters, untrained), exported with the project's Transform graph",
        f"- inputs: facade label maps encoded as PNG (mean {result['png_bytes']:,} bytes); "
        f"{args.runs} single-image runs, {args.batch_runs} runs of a batch of {args.batch_size}, "
        f"interleaved, after {WARMUP_RUNS} warm-up runs",
        f"- command: `{' '.join(['python -m benchmarks.serving_latency', *args.argv])}`",
        "",
        "| | single image p50 | single image p95 | batch throughput |",
        "| --- | ---: | ---: | ---: |",
        f"| `serving_default` (PNG bytes -> PNG bytes) | {single['serving'][0]:.1f} ms | {single['serving'][1]:.1f} ms "
        f"| {throughput['serving']:.2f} img/s |",
        f"| bare generator (float32 tensor -> tensor) | {single['bare'][0]:.1f} ms | {single['bare'][1]:.1f} ms "
        f"| {throughput['bare']:.2f} img/s |",
        f"| pre/post-processing overhead (serving vs bare) | {p50:+.1f} % | {p95:+.1f} % | {batch:+.1f} % per image |",
        f"| pre/post-processing alone, no generator | {single['pre_post'][0]:.1f} ms | {single['pre_post'][1]:.1f} ms "
        f"| {throughput['pre_post']:.0f} img/s |",
        f"| pre/post alone relative to the bare generator | {alone_p50:+.1f} % | | {alone_batch:+.1f} % per image |",
        "",
        f"Goal: overhead at most {OVERHEAD_GOAL_PERCENT:.0f} % (p50 and batch): **{verdict}** "
        f"(worst {worst:+.1f} %). The overhead is PNG decode, resize and scaling to [-1, 1] on the way in, "
        "rounding to uint8 and PNG encoding on the way out, plus the request checks (header sizes, pixel limit). "
        "The serving-vs-bare difference is the difference of two noisy timings of ~the same size; the "
        "\"alone\" rows time that extra work by itself.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--runs", type=int, default=25, help="single-image runs (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batch-runs", type=int, default=6, help="batch runs (default: %(default)s)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    result = run(args.image_size, args.ngf, args.runs, args.batch_size, args.batch_runs)
    text = report(result, args)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write(text)
    print(text)
    print(f"(setup {result['setup_s']:.0f} s, total {time.perf_counter() - started:.0f} s; written to {args.output})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
