"""What a training run leaves in its ModelRun besides the checkpoint: TensorBoard logs, per-epoch
sample grids, loss curves and the loss history.

The loss history is also written after every epoch beside the checkpoints, where a re-run reads
the rows of the epochs its checkpoint holds (``read_history``). It is written so that it is never
half-written, and a damaged one is reported, never a reason to stop.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from components import features, output_files, visuals
from components.model_run_files import LATEST_SAMPLES, LOSS_CURVES, LOSS_HISTORY, SAMPLES_DIR, TENSORBOARD_DIR
from components.trainer.export import to_uint8
from components.trainer.gan_trainer import EpochResult

log = logging.getLogger(__name__)

# A history row is an EpochResult: these fields, all of them numbers.
HISTORY_FIELDS = frozenset(field.name for field in dataclasses.fields(EpochResult))
# Per-epoch counters, not losses: left out of TensorBoard's scalars.
NOT_SCALARS = ("epoch", "steps")
# The row's validation metrics ({"l1_mean": ...}; {} on epochs that do not validate), under "validation/" in TensorBoard.
VALIDATION = "validation"
SAMPLE_COLUMNS = ("input", "generated", "target")


class RunOutputs:
    """The epoch callback of ``gan_trainer.fit``: losses to TensorBoard and to the history (in the
    work folder after every epoch, for a resume), and every ``samples_every_epochs`` and at the last
    epoch the generator's translations of ``samples`` with the history and loss curves in ``run_dir``.
    """

    def __init__(self, run_dir: str, work_dir: str, generator: tf.keras.Model, samples: Dict[str, tf.Tensor],
                 history: List[dict], *, samples_every_epochs: int, total_epochs: int):
        self.run_dir, self.work_dir, self.generator, self.samples = run_dir, work_dir, generator, samples
        self.history = history  # the rows of the epochs a resumed checkpoint holds, then this run's
        self.samples_every_epochs, self.total_epochs = samples_every_epochs, total_epochs
        self.writer = tf.summary.create_file_writer(os.path.join(run_dir, TENSORBOARD_DIR))

    def on_epoch_end(self, result: EpochResult) -> None:
        self.history.append(result.as_dict())
        with self.writer.as_default(step=result.epoch):
            for name, value in result.as_dict().items():
                if name not in NOT_SCALARS and name != VALIDATION:
                    tf.summary.scalar(name, value)
            for name, value in result.validation.items():
                tf.summary.scalar(f"{VALIDATION}/{name}", value)
        write_history(self.work_dir, self.history, curves=False)
        if result.epoch % self.samples_every_epochs == 0 or result.epoch == self.total_epochs:
            grid = _sample_grid(self.generator, self.samples)
            path = visuals.save_image_grid(os.path.join(self.run_dir, SAMPLES_DIR, f"epoch_{result.epoch:04d}.png"),
                                           grid, SAMPLE_COLUMNS)
            tf.io.gfile.copy(str(path), os.path.join(self.run_dir, LATEST_SAMPLES), overwrite=True)
            with self.writer.as_default(step=result.epoch):
                tf.summary.image("samples", tf.stack([tf.concat(images, axis=1) for _, images in grid]),
                                 max_outputs=len(grid))
            write_history(self.run_dir, self.history)

    def close(self, exported_epoch: Optional[int] = None) -> None:
        """After the last epoch: TensorBoard's events on disk, the final history and curves (the exported
        epoch marked on the validation panels)."""
        self.writer.flush()
        write_history(self.run_dir, self.history, exported_epoch=exported_epoch)


def _sample_grid(generator: tf.keras.Model, samples):
    generated = to_uint8(generator(samples[features.INPUT_XF], training=False)).numpy()
    inputs = to_uint8(samples[features.INPUT_XF]).numpy()
    targets = to_uint8(samples[features.TARGET_XF]).numpy()
    return [(f"eval #{i}", [inputs[i], generated[i], targets[i]]) for i in range(len(generated))]


def read_history(directory: str, up_to_epoch: int) -> Tuple[List[dict], bool]:
    """The loss history of the epochs a restored checkpoint already holds, and whether the file is
    damaged.

    A damaged file (cut short, not JSON, not a list of epoch rows) must not stop the resume: the
    whole rows are kept and the rest is named in a warning; the caller sets the file aside, and
    the next epoch writes a new one.
    """
    path = os.path.join(directory, LOSS_HISTORY)
    if not tf.io.gfile.exists(path):
        return [], False
    problem = None
    try:
        with tf.io.gfile.GFile(path, "rb") as handle:
            rows = json.loads(handle.read().decode("utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"expected a list of epoch rows, got a JSON {type(rows).__name__}")
    except (tf.errors.OpError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        rows, problem = [], f"{type(error).__name__}: {error}"
    kept, bad, last_epoch = [], 0, 0
    for row in rows:
        if not _is_history_row(row) or row["epoch"] <= last_epoch:
            bad += 1
            continue
        last_epoch = row["epoch"]
        if row["epoch"] <= up_to_epoch:
            kept.append(row)
    if bad:
        problem = (f"{bad} of {len(rows)} rows are not epoch rows (the fields {sorted(HISTORY_FIELDS)}, "
                   "finite numbers, epochs in increasing order)")
    if problem:
        log.warning("loss history %s is damaged (%s): kept the %d whole rows up to epoch %d; the "
                    "history goes on from there", path, problem, len(kept), up_to_epoch)
    return kept, problem is not None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_history_row(row) -> bool:
    """One epoch's EpochResult.as_dict(): exactly its fields, every one a finite number (validation: a
    mapping of names to finite numbers)."""
    return (isinstance(row, dict) and set(row) == HISTORY_FIELDS
            and all(_is_number(value) for name, value in row.items() if name != VALIDATION)
            and isinstance(row[VALIDATION], dict)
            and all(isinstance(name, str) and _is_number(value) for name, value in row[VALIDATION].items())
            and isinstance(row["epoch"], int) and row["epoch"] >= 1)


def write_history(directory: str, history, curves: bool = True, exported_epoch: Optional[int] = None) -> None:
    if not history:
        return
    output_files.write_text(output_files.join(directory, LOSS_HISTORY), json.dumps(history, indent=1))
    if curves:
        visuals.save_loss_curves(output_files.join(directory, LOSS_CURVES), history, validation_key=VALIDATION,
                                 best_epoch=exported_epoch)
