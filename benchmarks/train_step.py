"""Train-step throughput of the pix2pix GAN at 256x256, vs a plain GradientTape loop.

``python -m benchmarks.train_step [--image-size 256] [--batch-sizes 1 8] [--steps 5] [--output ...]``

Side by side in one process, on the paper's networks (U-Net ngf 64, 70x70
PatchGAN ndf 64, batch norm): the project's step (``Pix2PixGAN.train_step``,
one ``tf.function``) and a plain eager GradientTape step doing the same maths.
Images/s, and the achieved FLOP rate as a fraction of the machine's measured
float32 matmul peak (FLOPs per step counted by TensorFlow's profiler on the
step's graph). Writes a table with the date and machine to ``--output``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "train_step.md")
WARMUP_STEPS = 2


def step_flops(concrete_function) -> float:
    """Floating point operations of one call, from the graph (forward + backward + Adam)."""
    from tensorflow.python.profiler import model_analyzer, option_builder

    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(concrete_function.graph, options=options).total_float_ops)


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
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--output", default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from benchmarks.machine import machine_description, matmul_peak_gflops
    from components.trainer.gan_trainer import Pix2PixGAN
    from pipeline.config import load_config

    settings = dataclasses.replace(load_config("pipeline_config.yaml").trainer, ngf=64, ndf=64, norm="batch",
                                   n_layers_d=3)
    peak = matmul_peak_gflops()
    rows = []
    for batch in args.batch_sizes:
        tf.keras.utils.set_random_seed(0)
        gan = Pix2PixGAN(settings, args.image_size, 3)
        shape = [batch, args.image_size, args.image_size, 3]
        inputs, targets = tf.random.uniform(shape, -1, 1), tf.random.uniform(shape, -1, 1)
        flops = step_flops(gan.train_step.get_concrete_function(inputs, targets))
        ours = time_steps(gan.train_step, inputs, targets, args.steps)
        plain = time_steps(lambda a, b: plain_step(gan, a, b), inputs, targets, args.steps)
        rows.append((batch, ours, plain, flops))
        print(f"batch {batch}: project {batch / ours:.2f} img/s, plain {batch / plain:.2f} img/s", flush=True)

    lines = [
        f"# Train step at {args.image_size}x{args.image_size} (U-Net ngf 64 + 70x70 PatchGAN ndf 64, batch norm)",
        "",
        f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"- machine: {machine_description()}; TensorFlow {tf.__version__}; float32 matmul peak measured "
        f"{peak:.0f} GFLOP/s",
        f"- {args.steps} timed steps after {WARMUP_STEPS} warm-up steps each; command: "
        f"`python -m benchmarks.train_step`",
        "- GFLOP/step is TensorFlow's profiler count (static, per op type) over the whole step graph: "
        "a fraction of peak above 100 % means that count overstates the work done; the project vs "
        "plain speed-up is measured directly and does not depend on it.",
        "",
        "| batch | project step (tf.function) | plain eager GradientTape | speed-up | GFLOP/step | "
        "project GFLOP/s | fraction of peak |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for batch, ours, plain, flops in rows:
        lines.append(f"| {batch} | {batch / ours:.2f} img/s ({ours:.2f} s/step) | {batch / plain:.2f} img/s "
                     f"({plain:.2f} s/step) | {plain / ours:.2f}x | {flops / 1e9:.1f} | {flops / ours / 1e9:.0f} | "
                     f"{flops / ours / 1e9 / peak:.0%} |")
    table = "\n".join(lines) + "\n"
    print(table)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
