"""A killed and resumed training ends with the weights of an uninterrupted one; update_order switches the step.

Exactness comes from three things (gan_trainer, input_pipeline.TrainBatches): each epoch's data order and
jitter are a function of the epoch, the dropout masks and WGAN-GP draws come from a tf.random.Generator saved
in the checkpoint, and the learning rate follows the epoch. The "kill" is a crash in the middle of an epoch,
after a checkpoint: the resumed run is built from scratch, as a new process would, and restores as run_fn does.
"""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_config

from components.trainer import gan_trainer, input_pipeline
from components.trainer.gan_trainer import Pix2PixGAN, fit
from tests.support.training import (CHANNELS, checkpoint_and_manager, random_images, tiny_settings,
                                     weights_of)
from tests.support.transform_graph import TINY_IMAGE_SIZE

pytestmark = pytest.mark.slow  # trains: seconds per test

PAIRS, BATCH, EPOCHS = 8, 2, 3
STEPS_PER_EPOCH = PAIRS // BATCH
KILL_AT_STEP = STEPS_PER_EPOCH + 3          # in the middle of the second epoch
CHECKPOINT_EVERY = STEPS_PER_EPOCH + 2      # the last checkpoint before the kill: mid-epoch too


class Killed(RuntimeError):
    """The process dies here."""


class KillAt:
    """Stands in for fit's per-step watch: dies when the step counter reaches ``step``."""

    def __init__(self, step):
        self.step = step

    def update(self, d_total, step):
        if step == self.step:
            raise Killed(step)


@pytest.fixture
def deterministic_ops():
    tf_config.enable_op_determinism()
    yield
    tf_config.disable_op_determinism()


def _batches(seed):
    pairs = tf.data.Dataset.from_tensor_slices((random_images(PAIRS, 0), random_images(PAIRS, 1))).cache()
    return input_pipeline.TrainBatches(pairs, batch_size=BATCH, jitter=True, jitter_scale=1.25,
                                       shuffle_buffer=PAIRS, seed=seed)


def _gan(settings):
    tf.keras.utils.set_random_seed(settings.seed)   # run_fn's first step: the same initial weights
    return Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)


def _fit(gan, manager, settings, watch=None):
    return fit(gan, _batches(settings.seed), steps_per_epoch=STEPS_PER_EPOCH, total_epochs=EPOCHS,
               checkpoint_manager=manager, checkpoint_every_steps=CHECKPOINT_EVERY, collapse_watch=watch)


def _uninterrupted_and_killed(settings, tmp_path):
    """The uninterrupted run, and the folder of one killed at KILL_AT_STEP (its last checkpoint mid-epoch)."""
    uninterrupted = _gan(settings)
    _, manager = checkpoint_and_manager(uninterrupted, tmp_path / "uninterrupted")
    _fit(uninterrupted, manager, settings)
    killed = _gan(settings)
    _, manager = checkpoint_and_manager(killed, tmp_path / "killed")
    with pytest.raises(Killed):
        _fit(killed, manager, settings, watch=KillAt(KILL_AT_STEP))
    return uninterrupted, tmp_path / "killed"


@pytest.mark.parametrize("changes", [
    dict(update_order="alternate", dropout_rate=0.5),
    dict(update_order="simultaneous", dropout_rate=0.5, epochs=2, epochs_decay=1),   # the decay is resumed too
    dict(update_order="alternate", gan_mode="wgangp", dropout_rate=0.5),             # random interpolation
], ids=["alternate-dropout", "simultaneous-decay", "wgangp"])
def test_a_run_killed_mid_epoch_and_resumed_ends_with_the_uninterrupted_weights(tmp_path, deterministic_ops,
                                                                                changes):
    settings = tiny_settings(**{"epochs": EPOCHS, "epochs_decay": 0, **changes})

    uninterrupted, killed_dir = _uninterrupted_and_killed(settings, tmp_path)
    resumed = _gan(settings)
    checkpoint, manager = checkpoint_and_manager(resumed, killed_dir)
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    assert int(resumed.step) == CHECKPOINT_EVERY   # mid-epoch: the resumed epoch starts after its done batches
    history = _fit(resumed, manager, settings)

    assert [row.epoch for row in history] == [2, 3]
    assert history[0].steps == STEPS_PER_EPOCH - (CHECKPOINT_EVERY - STEPS_PER_EPOCH)
    for got, want in zip(weights_of(resumed), weights_of(uninterrupted)):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_without_the_saved_random_state_the_resumed_run_would_differ(tmp_path, deterministic_ops):
    """The test above can fail: restoring everything but the generator of the step's draws breaks it."""
    settings = tiny_settings(epochs=EPOCHS, epochs_decay=0, dropout_rate=0.5)
    uninterrupted, killed_dir = _uninterrupted_and_killed(settings, tmp_path)
    resumed = _gan(settings)
    partial = tf.train.Checkpoint(generator=resumed.generator, discriminator=resumed.discriminator,
                                  g_optimizer=resumed.g_optimizer, d_optimizer=resumed.d_optimizer,
                                  epoch=resumed.epoch, step=resumed.step)
    partial.restore(tf.train.latest_checkpoint(str(killed_dir))).expect_partial()
    _fit(resumed, tf.train.CheckpointManager(partial, str(tmp_path / "partial"), max_to_keep=1), settings)

    assert any(not np.allclose(got, want, atol=1e-6)
               for got, want in zip(weights_of(resumed), weights_of(uninterrupted)))


def test_the_update_orders_update_d_alike_and_g_against_a_different_d():
    """alternate: D's step, then G's against the updated D; simultaneous: both against the old D.

    From the same weights and batch, D's first update is the same in both orders (its gradient comes from the
    same G(x)), and G's gradient differs (alternate's G sees the updated D). Compared on Adam's first moments,
    which are proportional to the gradients (Adam's first update, about lr * sign(gradient), would hide it).
    """
    inputs, targets = tf.constant(random_images(BATCH, 3)), tf.constant(random_images(BATCH, 4))
    gans = {}
    for order in gan_trainer.UPDATE_ORDERS:
        gans[order] = _gan(tiny_settings(update_order=order, dropout_rate=0.0, lambda_l1=0.0))  # G learns from D only
        gans[order].train_step(inputs, targets)
    alternate, simultaneous = gans[gan_trainer.UPDATE_ALTERNATE], gans[gan_trainer.UPDATE_SIMULTANEOUS]
    for got, want in zip(alternate.discriminator.get_weights(), simultaneous.discriminator.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-6)
    moments = {order: [v.numpy() for v in gan.g_optimizer.variables if v.shape.rank] for order, gan in gans.items()}
    assert any(not np.allclose(got, want, rtol=1e-3, atol=1e-9)
               for got, want in zip(moments[gan_trainer.UPDATE_ALTERNATE], moments[gan_trainer.UPDATE_SIMULTANEOUS]))


def test_the_paper_s_order_is_the_default():
    assert tiny_settings().update_order == gan_trainer.UPDATE_ALTERNATE
