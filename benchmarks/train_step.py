"""Train-step throughput of the pix2pix GAN at 256x256, vs a plain GradientTape loop.

``python -m benchmarks.train_step [--image-size 256] [--batch-sizes 1 8] [--steps 5]
[--variants mixed_bfloat16 xla] [--output ...]``

Side by side in one process, on the paper's networks (U-Net ngf 64, 70x70
PatchGAN ndf 64, batch norm): the project's step (``Pix2PixGAN.train_step``,
one ``tf.function``) and a plain eager GradientTape step doing the same maths,
then the project's step under each ``--variants`` setting (trainer.mixed_precision
mixed_bfloat16, trainer.jit_compile) on the same batch. Images/s, and the
achieved FLOP rate as a fraction of the machine's measured matmul peak, the FLOPs
per step counted analytically from the networks' convolutions
(``components/trainer/flops.py``; TensorFlow's profiler count overstated them).
Writes a table with the date and machine to ``--output``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import time

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "train_step.md")
WARMUP_STEPS = 2
# TensorFlow's profiler counted 117.0 GFLOP for the batch-1 step of the 2026-11-25 table, the
# analytic count 80.5 (its forward counts of G and D agree with the analytic ones to 0.01 %).
PROFILER_OVERCOUNT = 117.0 / 80.5


# Measured once with this script's networks (3 timed steps after 2 warm-up steps) on the 2-core AMD EPYC.
FLOAT16_ON_CPU = ("on the 2-core AMD EPYC of 2026-11-25 (no float16 arithmetic: oneDNN falls back to Eigen) a "
                  "batch-1 step took 44 s, 56x the float32 step.")
# Variants of the project's step: the trainer settings each one changes.
VARIANTS = {
    "mixed_bfloat16": {"mixed_precision": "mixed_bfloat16"},
    "mixed_float16": {"mixed_precision": "mixed_float16"},   # GPUs: not a default here (see FLOAT16_ON_CPU)
    "xla": {"jit_compile": True},
}
DEFAULT_VARIANTS = ["mixed_bfloat16", "xla"]
# The matmul dtype each precision's fraction of peak is measured against.
PEAK_DTYPES = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}


def plain_step(gan, input_image, target_image):
    """The textbook eager loop: same networks, losses and optimizers, no tf.function."""
    import tensorflow as tf

    from components.trainer import losses

    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
        generated = gan.generator(input_image, training=True)
        real = gan.discriminator([input_image, target_image], training=True)
        fake = gan.discriminator([input_image, generated], training=True)
        g_loss = losses.generator_loss(fake, generated, target_image, lambda_l1=gan.settings.lambda_l1)
        d_loss = losses.discriminator_loss(real, fake)
    gan.g_optimizer.apply_gradients(zip(g_tape.gradient(g_loss["total"], gan.generator.trainable_variables),
                                        gan.generator.trainable_variables))
    gan.d_optimizer.apply_gradients(zip(d_tape.gradient(d_loss["total"], gan.discriminator.trainable_variables),
                                        gan.discriminator.trainable_variables))
    return g_loss["total"]


def time_steps(step, inputs, targets, steps: int) -> float:
    for _ in range(WARMUP_STEPS):
        _ = step(inputs, targets)
    start = time.perf_counter()
    for _ in range(steps):
        result = step(inputs, targets)
    _ = [float(v) for v in (result.values() if isinstance(result, dict) else [result])]
    return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.train_step", description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                        help="default: 1 and the config's trainer.batch_size")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=DEFAULT_VARIANTS,
                        help="project-step variants timed after the float32 step (none: --variants)")
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from benchmarks.machine import machine_description, matmul_peak_gflops
    from components.trainer import flops as step_flops
    from components.trainer.gan_trainer import Pix2PixGAN
    from pipeline.config import load_config

    settings = dataclasses.replace(load_config("pipeline_config.yaml").trainer, ngf=64, ndf=64, norm="batch",
                                   n_layers_d=3)
    batch_sizes = args.batch_sizes or sorted({1, settings.batch_size})
    peak = matmul_peak_gflops()
    precisions = {VARIANTS[name].get("mixed_precision") for name in args.variants} & set(PEAK_DTYPES)
    peaks = {"float32": peak, **{p: matmul_peak_gflops(PEAK_DTYPES[p]) for p in sorted(precisions)}}
    rows, variant_rows = [], []
    for batch in batch_sizes:
        tf.keras.utils.set_random_seed(0)
        gan = Pix2PixGAN(settings, args.image_size, 3)
        shape = [batch, args.image_size, args.image_size, 3]
        inputs, targets = tf.random.uniform(shape, -1, 1), tf.random.uniform(shape, -1, 1)
        flops = step_flops.train_step_flops(gan.generator, gan.discriminator, batch, settings.gan_mode).total
        ours = time_steps(gan.train_step, inputs, targets, args.steps)
        plain = time_steps(lambda a, b: plain_step(gan, a, b), inputs, targets, args.steps)
        rows.append((batch, ours, plain, flops))
        print(f"batch {batch}: project {batch / ours:.2f} img/s, plain {batch / plain:.2f} img/s", flush=True)
        del gan
        for name in args.variants:
            variant = dataclasses.replace(settings, **VARIANTS[name])
            tf.keras.utils.set_random_seed(0)
            seconds = time_steps(Pix2PixGAN(variant, args.image_size, 3).train_step, inputs, targets, args.steps)
            variant_rows.append((batch, name, seconds, ours, flops, peaks.get(variant.mixed_precision, peak)))
            print(f"batch {batch}: {name} {batch / seconds:.2f} img/s", flush=True)

    lines = [
        f"# Train step at {args.image_size}x{args.image_size} (U-Net ngf 64 + 70x70 PatchGAN ndf 64, batch norm)",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine_description()}; TensorFlow {tf.__version__}; matmul peak measured "
        f"{peak:.0f} GFLOP/s in float32"
        + "".join(f", {peaks[p]:.0f} GFLOP/s in {PEAK_DTYPES[p]}" for p in sorted(precisions)),
        f"- {args.steps} timed steps after {WARMUP_STEPS} warm-up steps each; command: "
        f"`python -m benchmarks.train_step`",
        "- GFLOP/step is counted analytically from the networks' convolutions (`components/trainer/flops.py`: "
        "G once and D twice forward, each backward pass twice its forward, no input gradient into the data; "
        "the element-wise rest, norms, activations, losses and Adam, a few per cent, left out). TensorFlow's "
        f"profiler counted {PROFILER_OVERCOUNT:.2f}x as many, which gave fractions of peak above 100 %; its "
        "forward counts of G and D agree with the analytic ones, so the excess is in how it counts the "
        "static graph's gradient ops. The project vs plain speed-up is measured directly and does not "
        "depend on either count.",
        "",
        "| batch | project step (tf.function) | plain eager GradientTape | speed-up | GFLOP/step | "
        "project GFLOP/s | fraction of peak |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch, ours, plain, flops in rows:
        lines.append(f"| {batch} | {batch / ours:.2f} img/s ({ours:.2f} s/step) | {batch / plain:.2f} img/s "
                     f"({plain:.2f} s/step) | {plain / ours:.2f}x | {flops / 1e9:.1f} | {flops / ours / 1e9:.0f} | "
                     f"{flops / ours / 1e9 / peak:.0%} |")
    if variant_rows:
        lines += [
            "",
            "The project step with 16-bit `trainer.mixed_precision` (fraction of that dtype's matmul peak) and "
            "with `trainer.jit_compile: true` (XLA), same batches, same process. mixed_float16 is timed only "
            f"when asked for (`--variants mixed_float16`): it is meant for GPUs; {FLOAT16_ON_CPU}",
            "",
            "| batch | variant | project step | vs float32 step | GFLOP/s | fraction of peak |",
            "| ---: | --- | ---: | ---: | ---: | ---: |",
        ]
        for batch, name, seconds, ours, flops, variant_peak in variant_rows:
            lines.append(f"| {batch} | {name} | {batch / seconds:.2f} img/s ({seconds:.2f} s/step) | "
                         f"{ours / seconds:.2f}x | {flops / seconds / 1e9:.0f} | "
                         f"{flops / seconds / 1e9 / variant_peak:.0%} |")
    table = "\n".join(lines) + "\n"
    print(table)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
