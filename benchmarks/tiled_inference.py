"""What tiled serving costs on top of the generator: tiling and blending vs the bare generator on the same tiles.

``python -m benchmarks.tiled_inference [--side 2048] [--tile 64] [--ngf 32] [--overlap 0.25] [--runs 3]
[--output benchmarks/results/tiled.md]``

Builds the project's U-Net at the training size (untrained weights: speed does
not depend on them) and times, interleaved so that both see the same machine
state, on one ``side x side`` image at native scale:

* tiled: ``inference.translate_tiled`` (cut into overlapping tiles, the
  generator on each batch of tiles, sin^2-weighted overlap-add), compiled;
* bare: the same generator on the same tiles in the same batches, in one
  compiled loop, with the tiles cut beforehand and nothing blended.

Reports megapixels per second of the tiled path and the overhead
(tiled - bare) / bare; the goal is at most 15 %. Prints a table and writes it,
with the date and the machine, to ``--output``.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from benchmarks.machine import machine_description  # noqa: E402

DEFAULT_OUTPUT = os.path.join("benchmarks", "results", "tiled.md")
OVERHEAD_GOAL_PERCENT = 15.0
SEED = 0


def run(side: int, tile: int, ngf: int, overlap: float, runs: int, batch: int) -> dict:
    import tensorflow as tf

    from components.trainer import inference, networks

    tf.keras.utils.set_random_seed(SEED)
    generator = networks.build_unet_generator(tile, ngf=ngf)
    image = tf.random.uniform([side, side, 3], -1.0, 1.0, seed=SEED)
    generate = lambda tiles: generator(tiles, training=False)  # noqa: E731

    tiled = tf.function(lambda x: inference.translate_tiled(generate, x, tile, overlap=overlap, batch=batch))
    stride = max(1, tile - int(round(tile * overlap)))
    starts = inference.tile_starts(tf.constant(side), tile, stride)
    corners = tf.reshape(tf.stack(tf.meshgrid(starts, starts, indexing="ij"), -1), [-1, 2]).numpy()
    tiles = tf.stack([image[y:y + tile, x:x + tile] for y, x in corners])

    @tf.function
    def generate_all(cut):
        """The generator on every tile, ``batch`` at a time, in one compiled loop (the strongest plain baseline)."""
        def body(first, checksum):
            return first + batch, checksum + tf.reduce_sum(generate(cut[first:first + batch]))
        return tf.while_loop(lambda first, _: first < tf.shape(cut)[0], body, (tf.constant(0), tf.constant(0.0)))

    def bare():
        generate_all(tiles)[1].numpy()

    def tiled_once():
        tiled(image).numpy()

    tiled_once(), bare()  # trace and warm both
    times = {"tiled": [], "bare": []}
    for _ in range(runs):
        for name, call in (("tiled", tiled_once), ("bare", bare)):
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return {"side": side, "tile": tile, "ngf": ngf, "overlap": overlap, "tiles": len(corners), "batch": batch,
            "tiled_s": float(np.median(times["tiled"])), "bare_s": float(np.median(times["bare"]))}


def report(result: dict) -> str:
    overhead = 100.0 * (result["tiled_s"] - result["bare_s"]) / result["bare_s"]
    megapixels = result["side"] ** 2 / 1e6
    verdict = "meets" if overhead <= OVERHEAD_GOAL_PERCENT else "misses"
    return "\n".join([
        "# Tiled serving: tiling and blending vs the bare generator",
        "",
        f"Measured {datetime.date.today().isoformat()} on {machine_description()}.",
        f"One {result['side']}x{result['side']} image at native scale; U-Net at {result['tile']}x{result['tile']}, "
        f"ngf {result['ngf']}; overlap {result['overlap']}; {result['tiles']} tiles, {result['batch']} per call; "
        "median of interleaved runs.",
        "",
        "| path | seconds | megapixels/s |",
        "| --- | --- | --- |",
        f"| tiled (cut, generate, blend) | {result['tiled_s']:.2f} | {megapixels / result['tiled_s']:.2f} |",
        f"| bare generator, same tiles | {result['bare_s']:.2f} | {megapixels / result['bare_s']:.2f} |",
        "",
        f"Overhead of tiling and blending: {overhead:+.1f} % (goal <= {OVERHEAD_GOAL_PERCENT:.0f} %: {verdict} it).",
        "",
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tiled_inference", description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=64, help="the training size (default: %(default)s)")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--overlap", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=8, help="tiles per generator call (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default=DEFAULT_OUTPUT, help="markdown report (default: %(default)s)")
    args = parser.parse_args(argv)
    text = report(run(args.side, args.tile, args.ngf, args.overlap, args.runs, args.batch))
    print(text)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
