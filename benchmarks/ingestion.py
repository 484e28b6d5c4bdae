"""Ingestion throughput of the ExampleGen, in pairs/s, on Beam's DirectRunner: one process vs several.

    python -m benchmarks.ingestion [--pairs 2000] [--workers 2] [--layouts two_folder aligned]

Why a benchmark and not a test: the numbers depend on the machine. It
generates 256x256 JPEG pairs (two_folder; and, for comparison, the same pairs
as 512x256 aligned files), then runs the ExampleGen executor's ``Do`` -- exactly
what TFX runs: list, route, read, fully decode and check every image, hash-split,
write GZIP TFRecords and the quarantine report -- once per runner mode. The
wall time includes Beam's start-up (with multi_processing: starting the worker
processes, each importing TensorFlow), as a pipeline run pays it, but not TFX's
packaging of the project for Beam workers (a few seconds per component launch,
whatever the data). Writes a table to benchmarks/results/ingestion.md with the
date and the machine.
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import tempfile
import time
from typing import Dict, List

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks.machine import machine_description  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results", "ingestion.md")
IMAGE_SIZE = 256
JPEG_QUALITY = 90
MODES = ("in_memory", "multi_processing")


def _photo_like(rng: np.random.Generator) -> np.ndarray:
    """Smooth colour fields plus noise: JPEG sizes like photos (~15-25 kB at 256x256)."""
    y, x = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE] / IMAGE_SIZE
    phases = rng.random((3, 3)) * 6
    planes = [np.sin(x * 6 * phases[c, 0] + y * 4 * phases[c, 1] + phases[c, 2]) for c in range(3)]
    image = (np.stack(planes, axis=-1) + 1) / 2 * 0.85 + rng.random((IMAGE_SIZE, IMAGE_SIZE, 3)) * 0.15
    return (image * 255).astype(np.uint8)


def _jpeg(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def make_datasets(root: str, pairs: int, layouts: List[str]) -> Dict[str, str]:
    """The same pairs as two_folder (two 256x256 JPEGs) and aligned (one 512x256 JPEG)."""
    rng = np.random.default_rng(0)
    folders = {layout: os.path.join(root, layout) for layout in layouts}
    for sub in ("input", "target"):
        os.makedirs(os.path.join(folders.get("two_folder", root), sub), exist_ok=True)
    os.makedirs(folders.get("aligned", root), exist_ok=True)
    for index in range(pairs):
        a, b = _photo_like(rng), _photo_like(rng)
        name = f"{index:06d}.jpg"
        if "two_folder" in folders:
            for sub, pixels in (("input", a), ("target", b)):
                with open(os.path.join(folders["two_folder"], sub, name), "wb") as handle:
                    handle.write(_jpeg(pixels))
        if "aligned" in folders:
            with open(os.path.join(folders["aligned"], name), "wb") as handle:
                handle.write(_jpeg(np.concatenate([a, b], axis=1)))
    return folders


def run_once(dataset_dir: str, layout: str, mode: str, workers: int, work_dir: str) -> dict:
    """One ExampleGen Do; returns its wall time and counts."""
    from google.protobuf import json_format
    from tfx.dsl.components.base import base_beam_executor
    from tfx.types import standard_artifacts

    from components.example_gen import component, executor
    from components.typed_settings import pack
    from pipeline import dataset
    from pipeline.config import load_config

    config = load_config(os.path.join(ROOT, "pipeline_config.yaml"),
                         [f"data.layout={layout}", f"data.dataset_dir={dataset_dir}"])
    data = dataset.resolved_split_mode(config.data, dataset_dir).example_gen_settings()
    gen = component.create_paired_image_example_gen(pack(data=data))
    properties = {key: json_format.MessageToJson(value) if hasattr(value, "DESCRIPTOR") else value
                  for key, value in gen.exec_properties.items() if value is not None}
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(work_dir, f"{layout}-{mode}", "examples", "1")
    args = [f"--direct_running_mode={mode}", f"--direct_num_workers={1 if mode == 'in_memory' else workers}"]
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=args, tmp_dir=work_dir)
    example_gen = executor.Executor(context)  # TFX packages the project for Beam workers here: not timed
    started = time.perf_counter()
    example_gen.Do({}, {"examples": [examples]}, properties)
    seconds = time.perf_counter() - started
    audit = executor.read_audit(os.path.join(examples.uri, "quarantine"))
    return {"layout": layout, "mode": mode, "workers": 1 if mode == "in_memory" else workers,
            "pairs": audit.pairs, "quarantined": audit.quarantined_items, "seconds": seconds,
            "pairs_per_s": audit.pairs / seconds}


def table(results: List[dict]) -> List[str]:
    lines = ["| layout | DirectRunner mode | workers | pairs | wall time (s) | pairs/s |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['layout']} | {r['mode']} | {r['workers']} | {r['pairs']} | {r['seconds']:.1f} | "
              f"{r['pairs_per_s']:.0f} |" for r in results]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ingestion", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="multi_processing workers (default: %(default)s)")
    parser.add_argument("--layouts", nargs="+", default=["two_folder", "aligned"],
                        choices=["two_folder", "aligned"])
    parser.add_argument("--output", default=RESULTS)
    args = parser.parse_args(argv)

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="ingestion-bench-") as scratch:
        print(f"generating {args.pairs} pairs of {IMAGE_SIZE}x{IMAGE_SIZE} JPEGs ...", flush=True)
        datasets = make_datasets(scratch, args.pairs, args.layouts)
        results = []
        for layout in args.layouts:
            for mode in MODES:
                result = run_once(datasets[layout], layout, mode, args.workers, os.path.join(scratch, "out"))
                if result["pairs"] != args.pairs or result["quarantined"]:
                    raise RuntimeError(f"benchmark run lost data: {result}")
                results.append(result)
                print(f"{layout:10s} {mode:16s} {result['pairs_per_s']:8.0f} pairs/s", flush=True)

    lines = ["# ExampleGen ingestion throughput", "",
             f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine_description()}; "
             f"Python {platform.python_version()}; 1-minute load average {load_before:.1f} before and "
             f"{os.getloadavg()[0]:.1f} after (other work on the machine slows every row).",
             f"{args.pairs} pairs of {IMAGE_SIZE}x{IMAGE_SIZE} JPEG (quality {JPEG_QUALITY}); two_folder = two files "
             f"per pair (bytes stored as they are), aligned = one {2 * IMAGE_SIZE}x{IMAGE_SIZE} JPEG per pair (halves "
             "re-encoded as PNG). Every image is fully decoded and checked; output is GZIP TFRecords, hash split 9:1. "
             "Wall time of the ExampleGen executor's Do, including Beam start-up, excluding TFX's packaging of the "
             "project for Beam workers (`python -m benchmarks.ingestion`).", "",
             *table(results), ""]
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    print("\n".join(table(results)) + f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
