"""Validation while training, and the best epoch kept beside the latest checkpoints.

Every ``validate_every_epochs`` epochs (and after the last) the generator runs in
inference mode, as it is served, on the validation split ("eval") and is scored
with the Evaluator's own metric code (``metrics.score_batch``). The epoch with the
best ``select_metric``/``select_statistic`` is saved in ``<work>/best/``; with
``export: best`` it is the one exported. Selection on "eval" is honest only when
the Evaluator gates on other examples ("test"): otherwise the last epoch is
exported and the summary says why.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from typing import Dict, Optional, Tuple

import tensorflow as tf

from components import output_files
from components.evaluator import metrics

log = logging.getLogger(__name__)

EXPORT_BEST = "best"
EXPORT_LAST = "last"
EXPORT_CHOICES = (EXPORT_BEST, EXPORT_LAST)
# Metrics the Trainer can select on: those defined at every image size (MS-SSIM is not; FID needs weights).
SELECT_METRICS = (metrics.L1, metrics.PSNR, metrics.SSIM)
# The statistics shown per validation (log line, TensorBoard, history): the mean of each selectable metric.
SHOWN_STATISTIC = metrics.MEAN
BEST_DIR = "best"
BEST_PREFIX = "generator"
EPOCH_VARIABLE, VALUE_VARIABLE = "epoch", "value"


def flat_key(metric: str, statistic: str) -> str:
    """``l1_mean``: how a validation statistic is named in the history, TensorBoard and the log."""
    return f"{metric}_{statistic}"


@dataclasses.dataclass
class BestEpoch:
    epoch: int
    value: float


class Selection:
    """The validation step of ``gan_trainer.fit``: scores G when due and keeps the best epoch's generator.

    The best generator is a checkpoint of G alone with its epoch and score, written by a
    tf.train.CheckpointManager (an index written last, so a checkpoint cut short is never listed);
    a re-run reads the epoch and score back without touching the networks being trained.
    """

    def __init__(self, pairs: tf.data.Dataset, generator: tf.keras.Model, work_dir: str, *, batch_size: int,
                 every_epochs: int, metric: str, statistic: str):
        self.pairs, self.batch_size, self.every_epochs = pairs, batch_size, every_epochs
        self.metric, self.statistic = metric, statistic
        self.higher_is_better = metrics.HIGHER_IS_BETTER[metric]
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._value = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self._checkpoint = tf.train.Checkpoint(generator=generator,
                                               **{EPOCH_VARIABLE: self._epoch, VALUE_VARIABLE: self._value})
        self.directory = os.path.join(work_dir, BEST_DIR)
        self._manager = tf.train.CheckpointManager(self._checkpoint, self.directory, max_to_keep=1,
                                                   checkpoint_name=BEST_PREFIX)
        self.best = self._read_best()
        self.validations = 0

    def _read_best(self) -> Optional[BestEpoch]:
        """The best epoch a previous attempt of this training saved, or None (also when it is unreadable)."""
        path = self._manager.latest_checkpoint
        if not path:
            return None
        try:
            reader = tf.train.load_checkpoint(path)
            epoch = int(reader.get_tensor(f"{EPOCH_VARIABLE}/.ATTRIBUTES/VARIABLE_VALUE"))
            value = float(reader.get_tensor(f"{VALUE_VARIABLE}/.ATTRIBUTES/VARIABLE_VALUE"))
        except (tf.errors.OpError, ValueError, KeyError) as error:
            log.warning("best-epoch checkpoint %s is unusable (%s: %s): the best epoch is chosen among the "
                        "epochs still to run", path, type(error).__name__, str(error).strip())
            return None
        log.info("best epoch so far: %d (%s %s %.4g on eval)", epoch, self.metric, self.statistic, value)
        return BestEpoch(epoch, value)

    def due(self, epoch: int, total_epochs: int) -> bool:
        return epoch % self.every_epochs == 0 or epoch == total_epochs

    def score(self, generator: tf.keras.Model) -> Dict[str, dict]:
        """Every metric's statistics on the validation split, G in inference mode (as served)."""
        accumulator = metrics.MetricAccumulator()
        for inputs, targets in self.pairs.batch(self.batch_size):
            generated = generator(inputs, training=False)
            metrics.score_batch(accumulator, metrics.to_pixels(generated), metrics.to_pixels(targets))
        stats = accumulator.result()
        if not stats:
            raise ValueError("the validation split (eval) has no pairs to validate on")
        return stats

    def after_epoch(self, generator: tf.keras.Model, epoch: int, total_epochs: int) -> Tuple[Dict[str, float], bool]:
        """The validation statistics of this epoch ({} when not due) and whether it is the new best."""
        if not self.due(epoch, total_epochs):
            return {}, False
        stats = self.score(generator)
        self.validations += 1
        shown = {flat_key(name, SHOWN_STATISTIC): stats[name][SHOWN_STATISTIC] for name in SELECT_METRICS}
        value = stats[self.metric][self.statistic]
        shown[flat_key(self.metric, self.statistic)] = value
        if not math.isfinite(value) or not self._better(value):
            return shown, False
        self._epoch.assign(epoch)
        self._value.assign(value)
        self._manager.save(checkpoint_number=epoch)
        self.best = BestEpoch(epoch, value)
        return shown, True

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value > self.best.value if self.higher_is_better else value < self.best.value

    def describe(self, shown: Dict[str, float], improved: bool) -> str:
        """The log line's validation part: ``  val L1 12.3 PSNR 21.0 SSIM 0.612 (best)``."""
        parts = " ".join(f"{name.upper()} {shown[flat_key(name, SHOWN_STATISTIC)]:.4g}" for name in SELECT_METRICS)
        return f"  val {parts}" + ("  (best)" if improved else "")

    def restore_best(self) -> None:
        """Loads the best epoch's weights into the generator this Selection was built with."""
        self._checkpoint.restore(self._manager.latest_checkpoint).assert_existing_objects_matched()


def choose_export(selection: Optional[Selection], export: str, *, selection_allowed: bool,
                  gate_split: str, last_epoch: int) -> Tuple[str, int, str]:
    """What to export and why: (``best``/``last``, its epoch, the reason in words)."""
    if export == EXPORT_LAST:
        return EXPORT_LAST, last_epoch, "trainer.export: last"
    if not selection_allowed:
        return EXPORT_LAST, last_epoch, (
            f"trainer.export: best, but the Evaluator gates on the '{gate_split}' split, the one the Trainer "
            "validates on: selecting on it would fool the gate, so the last epoch is exported. Give the data a "
            "test split (a test/ folder, or a test bucket in data.split_ratios) to select the best epoch")
    if selection is None or selection.best is None:
        return EXPORT_LAST, last_epoch, "trainer.export: best, but no epoch was validated: the last epoch"
    return EXPORT_BEST, selection.best.epoch, (
        f"trainer.export: best: the epoch with the {'highest' if selection.higher_is_better else 'lowest'} "
        f"{selection.metric} {selection.statistic} on the validation split ({selection.best.value:.4g})")


def write_summary(path: str, *, exported: str, exported_epoch: int, reason: str, total_epochs: int,
                  selection: Optional[Selection], validation_split: str, gate_split: str,
                  warm_started_from: Optional[str] = None, train_pairs: Optional[int] = None) -> dict:
    """``training.json`` in the ModelRun: which epoch was exported and why (the report and run summary show it)."""
    summary = {"export": exported, "exported_epoch": exported_epoch, "total_epochs": total_epochs,
               "reason": reason, "validation_split": validation_split, "gate_split": gate_split,
               "select_metric": selection.metric if selection else None,
               "select_statistic": selection.statistic if selection else None,
               "best_epoch": selection.best.epoch if selection and selection.best else None,
               "best_value": selection.best.value if selection and selection.best else None,
               # continuous training: the last blessed model the generator started from (None: from scratch)
               "warm_started_from": warm_started_from, "train_pairs": train_pairs}
    output_files.write_text(path, json.dumps(summary, indent=1))
    return summary
