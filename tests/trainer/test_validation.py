"""Validation while training: scored as the Evaluator scores, the best epoch kept, exported and explained."""
import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from components.evaluator import metrics
from components.trainer import validation
from components.trainer.gan_trainer import Pix2PixGAN, fit
from tests.support.training import CHANNELS, checkpoint_and_manager, random_images, tiny_settings
from tests.support.transform_graph import TINY_IMAGE_SIZE

PAIRS, BATCH, EPOCHS = 4, 2, 4


def _pairs(count=PAIRS, seed=10):
    return tf.data.Dataset.from_tensor_slices((random_images(count, seed), random_images(count, seed + 1)))


def _gan(**changes):
    settings = tiny_settings(epochs=EPOCHS, epochs_decay=0, **changes)
    tf.keras.utils.set_random_seed(settings.seed)
    return Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)


def _selection(gan, work_dir, every=1, metric=metrics.L1, statistic=metrics.MEAN, pairs=None):
    return validation.Selection(pairs if pairs is not None else _pairs(), gan.generator, str(work_dir),
                                batch_size=BATCH, every_epochs=every, metric=metric, statistic=statistic)


def _fit(gan, selection, work_dir, epochs=EPOCHS):
    _, manager = checkpoint_and_manager(gan, work_dir / "checkpoints")
    train = tf.data.Dataset.from_tensor_slices((random_images(PAIRS, 0), random_images(PAIRS, 1))).batch(BATCH)
    return fit(gan, train, steps_per_epoch=PAIRS // BATCH, total_epochs=epochs, checkpoint_manager=manager,
               checkpoint_every_steps=0, validation=selection)


def test_validation_scores_g_in_inference_mode_with_the_evaluator_s_metric_code(tmp_path):
    gan = _gan(dropout_rate=0.5)
    selection = _selection(gan, tmp_path)
    stats = selection.score(gan.generator)
    accumulator = metrics.MetricAccumulator()
    for inputs, targets in _pairs().batch(BATCH):
        metrics.score_batch(accumulator, metrics.to_pixels(gan.generator(inputs, training=False)),
                            metrics.to_pixels(targets))
    want = accumulator.result()
    for name in validation.SELECT_METRICS:
        assert stats[name][metrics.MEAN] == pytest.approx(want[name][metrics.MEAN], rel=1e-6)
    again = selection.score(gan.generator)   # dropout off: the same generator scores the same twice
    assert again[metrics.L1][metrics.MEAN] == stats[metrics.L1][metrics.MEAN]


def test_each_due_epoch_is_validated_and_the_best_one_is_kept_and_restorable(tmp_path, caplog):
    gan = _gan()
    selection = _selection(gan, tmp_path, every=2)
    with caplog.at_level(logging.INFO, logger="components.trainer.gan_trainer"):
        history = _fit(gan, selection, tmp_path, epochs=5)

    validated = {row.epoch: row.validation for row in history if row.validation}
    assert sorted(validated) == [2, 4, 5]                       # every 2 epochs, and the last
    key = validation.flat_key(metrics.L1, metrics.MEAN)
    best_epoch = min(validated, key=lambda epoch: validated[epoch][key])
    assert selection.best.epoch == best_epoch
    assert selection.best.value == pytest.approx(validated[best_epoch][key])
    assert sum(" val L1 " in record.getMessage() for record in caplog.records) == 3
    for row in validated.values():
        assert set(row) >= {validation.flat_key(name, metrics.MEAN) for name in validation.SELECT_METRICS}

    selection.restore_best()
    assert selection.score(gan.generator)[metrics.L1][metrics.MEAN] == pytest.approx(selection.best.value,
                                                                                     rel=1e-5)


def test_higher_is_better_metrics_keep_the_highest(tmp_path):
    gan = _gan()
    selection = _selection(gan, tmp_path, metric=metrics.PSNR)
    history = _fit(gan, selection, tmp_path, epochs=3)
    key = validation.flat_key(metrics.PSNR, metrics.MEAN)
    assert selection.best.value == pytest.approx(max(row.validation[key] for row in history))


def test_a_rerun_reads_the_best_epoch_back_and_only_a_better_one_replaces_it(tmp_path):
    gan = _gan()
    first = _selection(gan, tmp_path)
    _fit(gan, first, tmp_path, epochs=2)
    again = _selection(_gan(), tmp_path)
    assert again.best == first.best
    assert again._better(first.best.value - 1.0) and not again._better(first.best.value)


def test_a_damaged_best_checkpoint_is_named_and_the_best_is_chosen_again(tmp_path, caplog):
    gan = _gan()
    first = _selection(gan, tmp_path)
    _fit(gan, first, tmp_path, epochs=1)
    for index in (tmp_path / validation.BEST_DIR).glob("*.index"):
        index.write_bytes(b"not a checkpoint index")
    with caplog.at_level(logging.WARNING, logger="components.trainer.validation"):
        again = _selection(_gan(), tmp_path)
    assert again.best is None
    assert "unusable" in caplog.text and validation.BEST_DIR in caplog.text


def test_an_empty_validation_split_is_a_clear_error(tmp_path):
    gan = _gan()
    empty = _pairs().take(0)
    with pytest.raises(ValueError, match="validation split .* no pairs"):
        _selection(gan, tmp_path, pairs=empty).score(gan.generator)


def test_a_non_finite_score_never_becomes_the_best(tmp_path):
    gan = _gan()
    selection = _selection(gan, tmp_path)
    selection.score = lambda generator: {name: {metrics.MEAN: float("nan")} for name in validation.SELECT_METRICS}
    shown, improved = selection.after_epoch(gan.generator, 1, 1)
    assert not improved and selection.best is None and np.isnan(shown["l1_mean"])


class _Chosen:
    def __init__(self, epoch, value, metric=metrics.L1, higher=False):
        self.best, self.metric, self.statistic = validation.BestEpoch(epoch, value), metric, metrics.MEAN
        self.higher_is_better = higher


def test_export_best_exports_the_best_epoch_and_says_by_what():
    exported, epoch, reason = validation.choose_export(_Chosen(3, 12.5), validation.EXPORT_BEST,
                                                       selection_allowed=True, gate_split="test", last_epoch=10)
    assert (exported, epoch) == (validation.EXPORT_BEST, 3)
    assert "lowest l1 mean" in reason and "12.5" in reason


def test_selection_on_the_gate_s_own_examples_exports_the_last_epoch_and_says_why():
    exported, epoch, reason = validation.choose_export(_Chosen(3, 12.5), validation.EXPORT_BEST,
                                                       selection_allowed=False, gate_split="eval", last_epoch=10)
    assert (exported, epoch) == (validation.EXPORT_LAST, 10)
    assert "'eval'" in reason and "test split" in reason


def test_export_last_and_nothing_validated_export_the_last_epoch():
    assert validation.choose_export(_Chosen(3, 1.0), validation.EXPORT_LAST, selection_allowed=True,
                                    gate_split="test", last_epoch=7)[:2] == (validation.EXPORT_LAST, 7)
    assert validation.choose_export(None, validation.EXPORT_BEST, selection_allowed=True,
                                    gate_split="test", last_epoch=7)[:2] == (validation.EXPORT_LAST, 7)


def test_the_summary_names_the_exported_epoch_the_reason_and_both_splits(tmp_path):
    path = tmp_path / "training.json"
    validation.write_summary(str(path), exported=validation.EXPORT_BEST, exported_epoch=3, reason="why",
                             total_epochs=10, selection=_Chosen(3, 12.5), validation_split="eval",
                             gate_split="test")
    summary = json.loads(path.read_text())
    assert summary["exported_epoch"] == 3 and summary["best_value"] == 12.5 and summary["reason"] == "why"
    assert (summary["validation_split"], summary["gate_split"]) == ("eval", "test")
