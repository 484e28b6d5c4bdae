"""The Trainer's two GAN update orders, side by side: speed per step and held-out quality after the same training.

``python -m benchmarks.update_order [--config pipeline_config.yaml] [--epochs N] [--timed-steps 50]
[--output benchmarks/results/update_order.md]``

Builds the embedded dataset in memory (``data.synthetic_facades.render_pair``, the
pairs ``data.synthetic`` describes, exactly as its generator writes them), put
through Transform's own per-image function (``preprocessing.decode_and_normalize``:
resize to ``transform.image_size``, scale to [-1, 1]), and splits it by pair index:
the first 80 % train, the last 20 % are held out. For each ``trainer.update_order``
(``alternate``: D's step, then G's against the updated D, as in the paper;
``simultaneous``: both from one forward pass) it trains a fresh ``Pix2PixGAN`` with
the config's trainer settings, the same seed and so the same initial weights and
batches, with ``gan_trainer.fit`` on ``input_pipeline.TrainBatches`` (what
``run_fn`` runs, without validation, samples or export) for ``epochs + epochs_decay``
epochs and the config's learning-rate schedule (``--epochs N``: N epochs, the
schedule's two phases scaled to them). Then it scores each generator in inference
mode (``training=False``) on the held-out pairs: L1, PSNR and SSIM means
(``metrics.score_batch``), beside the mean training target image as a trivial baseline.

Speed is timed after training, on both trained GANs at once: ``--timed-steps``
further ``train_step`` calls of each order, interleaved in blocks of 10 (A, B, A, B ...)
after a warm-up, so that both see the same machine state: these CPUs are shared, and
a load that came and went while one order trained would otherwise be read as a
difference between the orders. The median s/step is reported, and the fit's own
steady-state mean (its epochs after the first, which includes tracing) for reference.

Prints a table and writes it, with the date and the machine, to ``--output``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from typing import Dict, List

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks import report_file  # noqa: E402
from benchmarks.machine import machine_description  # noqa: E402
from benchmarks.serving_latency import accelerators  # noqa: E402

DEFAULT_CONFIG = "pipeline_config.yaml"
DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "update_order.md")
DEFAULT_TIMED_STEPS = 50
TRAIN_FRACTION = 0.8
BLOCK_STEPS = 10     # timed steps of one order before switching to the other
WARMUP_STEPS = 5     # untimed steps of each order before the timed blocks
MEAN_TARGET = "mean training target image"


def embedded_pairs(config):
    """(inputs, targets), float32 [N, size, size, channels] in [-1, 1]: the embedded dataset after Transform."""
    import tensorflow as tf

    from components.transform.preprocessing import decode_and_normalize
    from data.synthetic_facades import render_pair

    synthetic, size, channels = config.data.synthetic, config.transform.image_size, config.transform.channels
    inputs, targets = [], []
    # As synthetic_facades writes the dataset: pair i from the i-th child of the seed (PNG is lossless).
    for child in np.random.SeedSequence(synthetic.seed).spawn(synthetic.num_pairs):
        label, photo = render_pair(np.random.default_rng(child), synthetic.image_size)
        inputs.append(decode_and_normalize(tf.io.encode_png(label), size, channels))
        targets.append(decode_and_normalize(tf.io.encode_png(photo), size, channels))
    return tf.stack(inputs), tf.stack(targets)


def scaled_schedule(settings, epochs: int):
    """The settings with ``epochs`` epochs in all, constant and decay phases in the config's proportion."""
    total = settings.epochs + settings.epochs_decay
    decay = round(epochs * settings.epochs_decay / total) if total else 0
    return dataclasses.replace(settings, epochs=epochs - decay, epochs_decay=decay)


def held_out_scores(predict, inputs, targets, batch_size: int) -> Dict[str, float]:
    """L1, PSNR and SSIM means of ``predict(inputs)`` against ``targets``, in pixel space."""
    from components.evaluator import metrics

    accumulator = metrics.MetricAccumulator()
    for start in range(0, int(inputs.shape[0]), batch_size):
        metrics.score_batch(accumulator, metrics.to_pixels(predict(inputs[start:start + batch_size])),
                            metrics.to_pixels(targets[start:start + batch_size]))
    stats = accumulator.result()
    return {name: stats[name][metrics.MEAN] for name in (metrics.L1, metrics.PSNR, metrics.SSIM)}


def interleaved_seconds(gans: Dict[str, object], batches: List, steps: int) -> Dict[str, List[float]]:
    """Seconds of each further train step, the orders taking turns in blocks of BLOCK_STEPS."""
    seconds: Dict[str, List[float]] = {order: [] for order in gans}
    for order, gan in gans.items():
        for i in range(WARMUP_STEPS):
            float(gan.train_step(*batches[i % len(batches)])["g_total"])
    for block in range(-(-steps // BLOCK_STEPS)):
        for order, gan in gans.items():
            for i in range(min(BLOCK_STEPS, steps - block * BLOCK_STEPS)):
                batch = batches[(block * BLOCK_STEPS + i) % len(batches)]
                start = time.perf_counter()
                float(gan.train_step(*batch)["g_total"])  # the step's result, so it has finished
                seconds[order].append(time.perf_counter() - start)
    return seconds


def run(config_path: str, epochs: int, timed_steps: int) -> Dict[str, object]:
    import tensorflow as tf

    from components.trainer import gan_trainer, input_pipeline
    from pipeline.config import load_config

    config = load_config(config_path)
    size, channels = config.transform.image_size, config.transform.channels
    base = config.trainer
    if epochs is not None:
        base = scaled_schedule(base, epochs)
    total_epochs = base.epochs + base.epochs_decay

    inputs, targets = embedded_pairs(config)
    num_train = int(round(TRAIN_FRACTION * int(inputs.shape[0])))
    train_pairs = tf.data.Dataset.from_tensor_slices((inputs[:num_train], targets[:num_train]))
    held_inputs, held_targets = inputs[num_train:], targets[num_train:]
    steps_per_epoch = num_train // base.batch_size
    # As run_fn's make_train_dataset (the pairs are already in memory: no cache needed).
    batches = input_pipeline.TrainBatches(train_pairs, batch_size=base.batch_size, jitter=base.jitter,
                                          jitter_scale=base.jitter_scale, shuffle_buffer=base.shuffle_buffer,
                                          seed=base.seed)

    gans, histories, scores, fit_s, initial = {}, {}, {}, {}, {}
    for order in gan_trainer.UPDATE_ORDERS:
        settings = dataclasses.replace(base, update_order=order)
        tf.keras.utils.set_random_seed(settings.seed)
        gan = gan_trainer.Pix2PixGAN(settings, size, channels)
        initial[order] = [v.numpy() for v in gan.generator.variables + gan.discriminator.variables]
        print(f"{order}: training {total_epochs} epochs x {steps_per_epoch} steps", flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as scratch:
            histories[order] = gan_trainer.fit(
                gan, batches, steps_per_epoch=steps_per_epoch, total_epochs=total_epochs,
                checkpoint_manager=tf.train.CheckpointManager(gan.checkpoint(), scratch, max_to_keep=1),
                checkpoint_every_steps=0, collapse_watch=gan_trainer.collapse_watch(settings))
        fit_s[order] = time.perf_counter() - started
        scores[order] = held_out_scores(lambda x, g=gan.generator: g(x, training=False), held_inputs, held_targets,
                                        config.evaluator.batch_size)
        print(f"{order}: {fit_s[order]:.0f} s, held-out {scores[order]}", flush=True)
        gans[order] = gan
    first, *others = initial.values()
    same_start = all(len(w) == len(first) and all(np.array_equal(a, b) for a, b in zip(first, w)) for w in others)

    mean_target = tf.reduce_mean(targets[:num_train], axis=0)
    scores[MEAN_TARGET] = held_out_scores(lambda x: tf.broadcast_to(mean_target, tf.shape(x)), held_inputs,
                                          held_targets, config.evaluator.batch_size)
    timing_batches = list(batches(total_epochs).take(min(steps_per_epoch, timed_steps)))
    seconds = interleaved_seconds(gans, timing_batches, timed_steps)
    return {
        "config": config, "settings": base, "total_epochs": total_epochs, "steps_per_epoch": steps_per_epoch,
        "num_train": num_train, "num_held_out": int(held_inputs.shape[0]), "same_start": same_start,
        "histories": histories, "scores": scores, "fit_s": fit_s, "timed_steps": timed_steps,
        "median_s": {order: statistics.median(values) for order, values in seconds.items()},
    }


def steady_seconds_per_step(history) -> float:
    """The fit's mean s/step over its epochs after the first (all of them when there is only one)."""
    steady = history[1:] or history
    return sum(r.seconds for r in steady) / sum(r.steps for r in steady)


def report(result: Dict[str, object], args: argparse.Namespace) -> str:
    import tensorflow as tf

    from components.trainer import gan_trainer

    config, settings, median = result["config"], result["settings"], result["median_s"]
    alternate, simultaneous = gan_trainer.UPDATE_ALTERNATE, gan_trainer.UPDATE_SIMULTANEOUS

    def row(name: str, speed: str, fit_speed: str, steps: str) -> str:
        s = result["scores"][name]
        return f"| {name} | {speed} | {fit_speed} | {steps} | {s['l1']:.2f} | {s['psnr']:.2f} | {s['ssim']:.3f} |"

    rows = [row(order, f"{median[order]:.3f}", f"{steady_seconds_per_step(history):.3f}",
                f"{sum(r.steps for r in history)}") for order, history in result["histories"].items()]
    synthetic = config.data.synthetic
    lines = [
        "# GAN update order: alternate vs simultaneous (speed and held-out quality)",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine_description()}; accelerator: {accelerators()}",
        f"- software: Python {platform.python_version()}, TensorFlow {tf.__version__}",
        f"- data: the embedded dataset in memory ({synthetic.num_pairs} pairs, {synthetic.image_size}px, seed "
        f"{synthetic.seed}) through Transform's resize to {config.transform.image_size}x{config.transform.image_size}; "
        f"pairs 0-{result['num_train'] - 1} train ({result['steps_per_epoch']} steps/epoch at batch "
        f"{settings.batch_size}), the last {result['num_held_out']} held out",
        f"- training: the config's trainer settings except `update_order` ({settings.generator} ngf {settings.ngf}, "
        f"{settings.discriminator} ndf {settings.ndf}, norm {settings.norm}, {settings.gan_mode}, lambda_l1 "
        f"{settings.lambda_l1:g}, {settings.mixed_precision}), `gan_trainer.fit` for {settings.epochs} + "
        f"{settings.epochs_decay} epochs (constant, then linearly decaying learning rate), seed {settings.seed}; "
        f"identical initial weights: {'yes' if result['same_start'] else 'NO'}; fit wall time "
        + ", ".join(f"{order} {seconds:.0f} s" for order, seconds in result["fit_s"].items()),
        f"- speed: after training, {result['timed_steps']} further `train_step` calls of each order, interleaved "
        f"in blocks of {BLOCK_STEPS} after {WARMUP_STEPS} warm-up steps each; median s/step. The fit column is "
        "the training's own mean s/step over its epochs after the first (not interleaved: the machine's load "
        "may differ between the two trainings)",
        "- quality: each generator with `training=False` on the held-out pairs, means of per-image L1 (0-255 "
        "pixels, lower is better), PSNR (dB) and SSIM; the baseline predicts the mean training target image",
        f"- command: `{' '.join(['python -m benchmarks.update_order', *args.argv])}`",
        "",
        "| order | s/step (interleaved median) | s/step (fit, epochs 2+) | steps trained | held-out L1 | "
        "PSNR | SSIM |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        row(MEAN_TARGET, "", "", ""),
        "",
        f"simultaneous / alternate s/step (interleaved medians): {median[simultaneous] / median[alternate]:.2f}x",
        "",
        "One seed and one training per order: seed-to-seed variation is not measured here, so a small quality "
        "difference between the orders is no evidence for either; the speed ratio holds for this machine only.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.update_order", description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG, help="settings (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs in all, instead of the config's epochs + epochs_decay (the schedule's phases "
                             "scaled to them)")
    parser.add_argument("--timed-steps", type=int, default=DEFAULT_TIMED_STEPS,
                        help="interleaved timed steps per order (default: %(default)s)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be >= 1")
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # fit's per-epoch progress lines
    started = time.perf_counter()
    report_file.publish(report(run(args.config, args.epochs, args.timed_steps), args), args.output, started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
