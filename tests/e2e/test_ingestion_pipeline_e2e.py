"""One run of `python -m pipeline run --set data.layout=aligned` on the classic layout (train/ val/), with bad files.

The summary's counts and the quarantine report must match what the test put in
the folder. Tiny model and one epoch: this checks ingestion wiring, not quality.
"""
import os
import re
import subprocess
import sys

import pytest

from components.example_gen import quarantine
from data import convert_layout
from data.synthetic_facades import generate_dataset
from tests.support import images
from tests.support import paths

pytestmark = pytest.mark.e2e  # runs the whole pipeline (or its compiled tasks) end to end

ROOT = paths.ROOT
TRAIN_PAIRS, VAL_PAIRS = 12, 4


def _classic_aligned_dataset(workdir):
    """Synthetic facades cut into train/ and val/, converted to A|B files, plus four bad files."""
    two_folder = workdir / "two_folder"
    generate_dataset(two_folder / "train", num_pairs=TRAIN_PAIRS, image_size=48, seed=1)
    generate_dataset(two_folder / "val", num_pairs=VAL_PAIRS, image_size=48, seed=2)
    dataset = workdir / "facades"
    conversion = convert_layout.convert("two_folder", "aligned", str(two_folder), str(dataset))
    assert sum(conversion.written.values()) == TRAIN_PAIRS + VAL_PAIRS and not conversion.skipped
    bad = {"train/odd.png": (images.encode(images.smooth_pixels(48, 95)), quarantine.ODD_WIDTH),
           "train/page.jpg": (b"<html>404</html>", quarantine.NOT_AN_IMAGE),
           "val/empty.png": (b"", quarantine.EMPTY_FILE),
           "val/small.png": (images.encode(images.smooth_pixels(16, 32)), quarantine.TOO_SMALL)}
    for relative, (data, _) in bad.items():
        images.write(dataset / relative, data)
    return dataset, {relative: reason for relative, (_, reason) in bad.items()}


def test_aligned_dataset_with_split_folders_runs_end_to_end(tmp_path):
    dataset, expected = _classic_aligned_dataset(tmp_path)
    settings = [
        "data.layout=aligned", "data.direction=AtoB", f"data.dataset_dir={dataset}",
        f"pipeline.root={tmp_path}/tfx_root", f"pipeline.metadata_path={tmp_path}/metadata.sqlite",
        f"pipeline.report_dir={tmp_path}/report", f"pipeline.log_dir={tmp_path}/logs",
        f"pusher.serving_dir={tmp_path}/serving_model",
        "transform.image_size=32", "trainer.ngf=8", "trainer.ndf=8", "trainer.epochs=1", "trainer.epochs_decay=0", "trainer.min_steps=0",
        "trainer.batch_size=4", "evaluator.sample_images=2",
        "evaluator.thresholds={l1: {statistic: mean, max: 255}}"]
    command = [sys.executable, "-m", "pipeline", "run", "--config", os.path.join(ROOT, "pipeline_config.yaml")]
    for setting in settings:
        command += ["--set", setting]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}"

    line = re.search(r"^data: (.+)$", result.stdout, re.M).group(1)
    pairs = TRAIN_PAIRS + VAL_PAIRS
    assert line.startswith(f"{pairs} pairs (eval {VAL_PAIRS}, train {TRAIN_PAIRS}) from {pairs} of "
                           f"{pairs + len(expected)} files"), line
    assert "quarantined 4: empty_file 1, not_an_image 1, odd_width 1, too_small 1" in line
    report = re.search(r"quarantine report: (\S+)$", line).group(1)
    with open(report, encoding="utf-8") as handle:
        rows = quarantine.read_report(handle.read())
    assert {os.path.relpath(row["file"], dataset): row["reason"] for row in rows} == expected
