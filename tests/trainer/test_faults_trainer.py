"""Fault injection for the trainer's resume (issue #12 item 7): damaged checkpoints and history.

A crash or a full disk while saving can leave any file of the work folder cut short: a
checkpoint's index or data shard, the ``checkpoint`` state file, ``loss_history.json``. Each test
damages one of them in a copy of a real, interrupted training run (2 of 3 epochs, checkpoints at
steps 2 and 4), resumes it the way run_fn does (``checkpoints.resume``, then ``fit`` writing the
history after every epoch) and checks that training completes from the newest usable checkpoint,
that the warning names the damaged file, and that the history matches the restored epoch.

Networks are tiny (16x16 images, ngf = ndf = 4): each test builds one GAN and traces it once.
"""
import dataclasses
import json
import logging
import os
import re
import resource
import shutil
import signal

import numpy as np
import pytest
import tensorflow as tf

from tfx.components.trainer.fn_args_utils import FnArgs

from components import model_run_files
from components.trainer import checkpoints, run_fn, run_outputs
from components.trainer.gan_trainer import Pix2PixGAN, fit
from components.typed_settings import pack
from pipeline.config import load_config
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.training import (CHANNELS, CONFIG_PATH, assert_weights_equal, checkpoint_numbers,
                                    in_memory_dataset, saved_epoch, tiny_settings, weights_of,
                                    write_tiny_examples)

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

STEPS_PER_EPOCH = 2
TOTAL_EPOCHS = 3
INTERRUPTED_AFTER_EPOCHS = 2  # checkpoints ckpt-2 (epoch 1) and ckpt-4 (epoch 2); history rows 1 and 2
NEWEST, PREVIOUS = "ckpt-4", "ckpt-2"
DATA_SHARD = ".data-00000-of-00001"
SETTINGS = tiny_settings(epochs=TOTAL_EPOCHS, epochs_decay=0, checkpoint_every_steps=STEPS_PER_EPOCH)


def dataset():
    return in_memory_dataset(STEPS_PER_EPOCH * SETTINGS.batch_size, batch_size=SETTINGS.batch_size)


def build_gan():
    return Pix2PixGAN(SETTINGS, TINY_IMAGE_SIZE, CHANNELS)


def train(gan, work_dir, history, total_epochs, after_epoch=lambda result: None):
    """run_fn's loop: CheckpointManager keeping 2, the history rewritten after every epoch."""
    manager = tf.train.CheckpointManager(gan.checkpoint(), str(work_dir), max_to_keep=2)

    def on_epoch_end(result):
        after_epoch(result)
        history.append(result.as_dict())
        run_outputs.write_history(str(work_dir), history, curves=False)

    fit(gan, dataset(), steps_per_epoch=STEPS_PER_EPOCH, total_epochs=total_epochs, checkpoint_manager=manager,
        checkpoint_every_steps=SETTINGS.checkpoint_every_steps, on_epoch_end=on_epoch_end)
    return manager


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A real run stopped after 2 of its 3 epochs, and the weights each checkpoint holds."""
    tf.keras.utils.set_random_seed(0)
    work_dir = tmp_path_factory.mktemp("interrupted") / "work"
    gan = build_gan()
    weights = {}  # checkpoint name -> the weights it holds
    manager = train(gan, work_dir, [], INTERRUPTED_AFTER_EPOCHS, after_epoch=lambda result: weights.update(
        {f"ckpt-{result.epoch * STEPS_PER_EPOCH}": weights_of(gan)}))
    assert checkpoint_numbers(manager) == [2, 4]
    return work_dir, weights


@pytest.fixture
def work_dir(interrupted_run, tmp_path):
    """A fresh copy of the interrupted run's work folder, to damage."""
    copy = tmp_path / "work"
    shutil.copytree(interrupted_run[0], copy)
    return copy


def cut(path, keep_fraction):
    """What a crash or a full disk leaves: the first part of the file."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(int(size * keep_fraction))


def warnings_in(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]


def history_epochs(work_dir):
    with open(work_dir / run_outputs.LOSS_HISTORY) as handle:
        return [row["epoch"] for row in json.load(handle)]


def resume_and_finish(work_dir, caplog):
    """run_fn's resume, then the remaining epochs; returns the restored checkpoint, the step
    training resumed from and the CheckpointManager at the end."""
    with caplog.at_level(logging.INFO):
        gan, restored, history = checkpoints.resume(build_gan, str(work_dir), repair=True)
        resumed_step = int(gan.step)
        manager = train(gan, work_dir, history, TOTAL_EPOCHS)
    assert int(gan.epoch) == TOTAL_EPOCHS
    assert checkpoint_numbers(manager) == [4, 6]
    return gan, restored, resumed_step, manager


# --------------------------------------------------------------------------- #
# Checkpoint files
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("suffix, keep_fraction", [
    (".index", 0.5),           # cut mid-file: "not an sstable"
    (".index", 0.0),           # created, nothing written (disk full)
    (DATA_SHARD, 0.5),         # "Read less bytes than requested"
    (DATA_SHARD, 0.99),
], ids=["index-half", "index-empty", "data-half", "data-tail"])
def test_a_cut_checkpoint_falls_back_to_the_previous_one(work_dir, interrupted_run, caplog, suffix, keep_fraction):
    damaged = work_dir / f"{NEWEST}{suffix}"
    cut(damaged, keep_fraction)

    gan, restored, resumed_step, manager = resume_and_finish(work_dir, caplog)

    assert restored == str(work_dir / PREVIOUS)
    assert resumed_step == 2
    assert any(f"resuming from checkpoint at step 2 (epoch 1/{TOTAL_EPOCHS})" in m for m in caplog.messages)
    warning = next(m for m in warnings_in(caplog) if "is unusable" in m)
    assert str(damaged) in warning and str(work_dir / NEWEST) in warning
    assert any("Error" in m for m in warnings_in(caplog) if str(damaged) in m)  # the error is named
    # The history was cut to the restored epoch: epoch 2 is the re-run one, not the lost one.
    assert history_epochs(work_dir) == [1, 2, 3]
    # The damaged checkpoint is set aside, and the state names only usable checkpoints.
    unusable = work_dir / checkpoints.UNUSABLE_DIR
    assert sorted(os.listdir(unusable)) == sorted([f"{NEWEST}.index", f"{NEWEST}{DATA_SHARD}"])
    for path in manager.checkpoints:
        tf.train.load_checkpoint(path)
        assert saved_epoch(path) in (2, 3)
    assert tf.train.latest_checkpoint(str(work_dir)).endswith("ckpt-6")
    # Kept in the ModelRun when the run is archived.
    archive = work_dir.parent / "model_run" / model_run_files.CHECKPOINT_DIR
    checkpoints.archive(str(work_dir), str(archive))
    assert (archive / checkpoints.UNUSABLE_DIR / f"{NEWEST}{suffix}").exists()
    assert (archive / "ckpt-6.index").exists() and not work_dir.exists()


def test_the_fallback_restores_the_previous_checkpoints_exact_state(work_dir, interrupted_run, caplog):
    cut(work_dir / f"{NEWEST}{DATA_SHARD}", 0.5)
    with caplog.at_level(logging.INFO):
        gan, restored, history = checkpoints.resume(build_gan, str(work_dir), repair=True)
    assert restored.endswith(PREVIOUS)
    assert (int(gan.step), int(gan.epoch)) == (2, 1)
    assert_weights_equal(weights_of(gan), interrupted_run[1][PREVIOUS])
    assert [row["epoch"] for row in history] == [1]


def test_both_checkpoints_unusable_starts_from_scratch_with_a_warning(work_dir, interrupted_run, caplog):
    for name in (NEWEST, PREVIOUS):
        cut(work_dir / f"{name}.index", 0.5)

    with caplog.at_level(logging.INFO):
        gan, restored, history = checkpoints.resume(build_gan, str(work_dir), repair=True)
        assert restored is None and history == []
        assert (int(gan.step), int(gan.epoch)) == (0, 0)
        manager = train(gan, work_dir, history, TOTAL_EPOCHS)

    assert any("no usable checkpoint" in m and "from scratch" in m for m in warnings_in(caplog))
    assert not any("resuming from checkpoint" in m for m in caplog.messages)
    assert history_epochs(work_dir) == [1, 2, 3]  # the old run's rows are not mixed in
    assert checkpoint_numbers(manager) == [4, 6]
    assert {f"{PREVIOUS}.index", f"{NEWEST}.index", checkpoints.CHECKPOINT_STATE, run_outputs.LOSS_HISTORY} <= set(
        os.listdir(work_dir / checkpoints.UNUSABLE_DIR))


def test_a_checkpoint_of_other_networks_is_set_aside_and_training_starts_fresh(work_dir, caplog):
    """A checkpoint that does not match fails part way through its restore (here at a wider
    generator, after the discriminator that does match): the networks must be built again, not
    trained from that half-restored state."""
    other = Pix2PixGAN(tiny_settings(ngf=8), TINY_IMAGE_SIZE, CHANNELS)
    for name in os.listdir(work_dir):
        if name.startswith("ckpt-"):
            os.remove(work_dir / name)
    tf.train.CheckpointManager(other.checkpoint(), str(work_dir), max_to_keep=2).save(checkpoint_number=40)

    with caplog.at_level(logging.INFO):
        gan, restored, history = checkpoints.resume(build_gan, str(work_dir), repair=True)

    assert restored is None and history == []
    assert (int(gan.step), int(gan.epoch)) == (0, 0)
    assert any("ckpt-40 is unusable" in m and "incompatible" in m for m in warnings_in(caplog))
    assert not any(np.array_equal(mine.numpy(), theirs.numpy()) for mine, theirs in zip(
        gan.discriminator.trainable_variables, other.discriminator.trainable_variables) if "kernel" in mine.name)
    assert tf.train.latest_checkpoint(str(work_dir)) is None


# --------------------------------------------------------------------------- #
# The checkpoint state file
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("damage", ["empty", "cut", "garbage", "missing"])
def test_a_damaged_state_file_still_resumes_from_the_newest_checkpoint(work_dir, caplog, damage):
    state = work_dir / checkpoints.CHECKPOINT_STATE
    if damage == "empty":        # get_checkpoint_state raised ValueError
        cut(state, 0.0)
    elif damage == "cut":        # a parse error: TensorFlow ignored it and training restarted silently
        text = state.read_text()
        state.write_text(text[:text.index(f'"{PREVIOUS}"') + 4])
    elif damage == "garbage":    # UnicodeDecodeError
        state.write_bytes(b"\xff\xfe\x00\x93 not a state file")
    else:                        # the checkpoints were orphaned and training restarted silently
        state.unlink()

    gan, restored, resumed_step, _ = resume_and_finish(work_dir, caplog)

    assert restored == str(work_dir / NEWEST)
    assert resumed_step == 4
    assert any(str(state) in m and "unusable" in m for m in warnings_in(caplog))
    assert history_epochs(work_dir) == [1, 2, 3]
    assert tf.train.latest_checkpoint(str(work_dir)).endswith("ckpt-6")


# --------------------------------------------------------------------------- #
# The loss history
# --------------------------------------------------------------------------- #
def _drop_a_field(rows):
    del rows[1]["g_l1"]
    return rows


@pytest.mark.parametrize("damage, kept_epochs", [
    (lambda text: "", []),                                       # created, nothing written
    (lambda text: text[:len(text) * 2 // 3], []),                # cut mid-row
    (lambda text: json.dumps({"epoch": 1}), []),                 # not a list
    (lambda text: json.dumps(["epoch 1", 2]), []),               # not rows
    (lambda text: json.dumps(_drop_a_field(json.loads(text))), [1]),
    (lambda text: re.sub(r'"g_total": [^,\n]+', '"g_total": NaN', text, count=1), [2]),
    (lambda text: b"\xff\xfe\x00" + text.encode(), []),           # not text
], ids=["empty", "cut", "object", "strings", "missing-field", "nan-row", "binary"])
def test_a_damaged_history_is_set_aside_and_training_completes(work_dir, caplog, damage, kept_epochs, tmp_path):
    history_file = work_dir / run_outputs.LOSS_HISTORY
    damaged = damage(history_file.read_text())
    damaged = damaged if isinstance(damaged, bytes) else damaged.encode()
    history_file.write_bytes(damaged)

    with caplog.at_level(logging.INFO):
        gan, restored, history = checkpoints.resume(build_gan, str(work_dir), repair=True)
        assert restored == str(work_dir / NEWEST) and int(gan.step) == 4
        assert [row["epoch"] for row in history] == kept_epochs
        train(gan, work_dir, history, TOTAL_EPOCHS)

    warning = next(m for m in warnings_in(caplog) if str(history_file) in m)
    assert "damaged" in warning
    assert history_epochs(work_dir) == kept_epochs + [3]
    (tmp_path / "model_run").mkdir()
    run_outputs.write_history(str(tmp_path / "model_run"), history)  # the curves plot the rows kept
    assert (tmp_path / "model_run" / run_outputs.LOSS_CURVES).exists()
    assert (work_dir / checkpoints.UNUSABLE_DIR / run_outputs.LOSS_HISTORY).read_bytes() == damaged


def test_the_history_survives_a_write_that_runs_out_of_space(work_dir):
    """RLIMIT_FSIZE makes the write fail part way, as a full disk does (EFBIG instead of ENOSPC)."""
    history_file = work_dir / run_outputs.LOSS_HISTORY
    before = history_file.read_bytes()
    rows = json.loads(before)
    longer = rows * 200  # well past the limit
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a killed process
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) * 4, hard))
    try:
        with pytest.raises((OSError, tf.errors.OpError)):  # EFBIG, from Python or from tf.io.gfile
            run_outputs.write_history(str(work_dir), longer, curves=False)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    assert history_file.read_bytes() == before
    assert sorted(os.listdir(work_dir)) == sorted(["checkpoint", run_outputs.LOSS_HISTORY, f"{NEWEST}.index",
                                                   f"{NEWEST}{DATA_SHARD}", f"{PREVIOUS}.index",
                                                   f"{PREVIOUS}{DATA_SHARD}"])  # no partial file left
    assert [row["epoch"] for row in json.loads(history_file.read_text())] == [1, 2]


# --------------------------------------------------------------------------- #
# run_fn, end to end
# --------------------------------------------------------------------------- #
def test_run_fn_resumes_past_a_garbage_state_file_and_a_cut_checkpoint(interrupted_run, transform_output_dir,
                                                                        tmp_path, caplog):
    """The TFX entry point itself: it used to fail on every re-run (UnicodeDecodeError)."""
    config = load_config(str(CONFIG_PATH))
    transform_settings = dataclasses.replace(config.transform, image_size=TINY_IMAGE_SIZE, channels=CHANNELS)
    trainer_settings = dataclasses.replace(SETTINGS, sample_images=1)
    fn_args = FnArgs(
        train_files=[write_tiny_examples(tmp_path / "train.gz", STEPS_PER_EPOCH * SETTINGS.batch_size)],
        eval_files=[write_tiny_examples(tmp_path / "eval.gz", 1)], transform_output=transform_output_dir,
        serving_model_dir=str(tmp_path / "serving"), model_run_dir=str(tmp_path / "model_run"),
        custom_config=pack(trainer=trainer_settings, transform=transform_settings, serving=config.serving,
                           checkpoint_root=str(tmp_path / "checkpoints")))
    work_dir = tmp_path / "checkpoints" / run_fn.training_fingerprint(fn_args)
    shutil.copytree(interrupted_run[0], work_dir)  # the same networks, interrupted after epoch 2
    (work_dir / checkpoints.CHECKPOINT_STATE).write_bytes(b"\x89garbage")
    cut(work_dir / f"{NEWEST}.index", 0.5)

    with caplog.at_level(logging.INFO):
        run_fn.run_fn(fn_args)

    assert any(f"resuming from checkpoint at step 2 (epoch 1/{TOTAL_EPOCHS})" in m for m in caplog.messages)
    assert any(str(work_dir / checkpoints.CHECKPOINT_STATE) in m for m in warnings_in(caplog))
    assert any(str(work_dir / f"{NEWEST}.index") in m for m in warnings_in(caplog))
    model_run = tmp_path / "model_run"
    assert history_epochs(model_run) == [1, 2, 3]
    archived = model_run / model_run_files.CHECKPOINT_DIR
    assert tf.train.latest_checkpoint(str(archived)).endswith("ckpt-6")
    assert (archived / checkpoints.UNUSABLE_DIR / f"{NEWEST}.index").exists()
    assert (tmp_path / "serving" / "saved_model.pb").exists()
    assert not work_dir.exists()
