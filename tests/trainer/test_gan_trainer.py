"""Tests of the pix2pix training loop (components/trainer/gan_trainer.py).

Pins: the learning-rate schedule is the PyTorch implementation's "linear"
policy; the ETA ignores the tracing epoch; one train step updates both networks
and reports consistent losses; ``fit`` runs the epochs, reports each one, sets
the decayed learning rate, checkpoints on schedule and at the end, resumes after
the last checkpoint, stops on a non-finite loss keeping the last good
checkpoint, and refuses a dataset without a full batch; every strategy, precision
and XLA option trains a few steps (their exact behaviour: test_distribution,
test_mixed_precision, test_xla).

Networks are tiny (16x16 images, ngf = ndf = 4) so the file runs in seconds;
each Pix2PixGAN traces its train step once, so the tests build as few as they can.
"""
import os

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import gan_trainer
from components.trainer.gan_trainer import CollapseWatch, NonFiniteLossError, Pix2PixGAN, fit, linear_decay_factor
from tests.support.training import (CHANNELS, LOSS_KEYS, assert_weights_equal, checkpoint_and_manager,
                                     checkpoint_numbers, in_memory_dataset, random_images, saved_epoch, tiny_settings,
                                     weights_of)
from tests.support.transform_graph import TINY_IMAGE_SIZE

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test


def pytorch_linear_rule(epoch, n_epochs, n_epochs_decay):
    """lambda_rule of junyanz/pytorch-CycleGAN-and-pix2pix (epoch_count = 1), 0-based epoch."""
    return 1.0 - max(0, epoch + 1 - n_epochs) / float(n_epochs_decay + 1)


# --------------------------------------------------------------------------- #
# Schedule and ETA
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("epochs, epochs_decay", [(3, 2), (1, 4), (25, 5), (0, 3), (2, 1)])
def test_linear_decay_factor_matches_the_pytorch_linear_policy(epochs, epochs_decay):
    total = epochs + epochs_decay
    factors = [linear_decay_factor(e, epochs, epochs_decay) for e in range(total)]
    assert factors == pytest.approx([pytorch_linear_rule(e, epochs, epochs_decay) for e in range(total)])
    assert factors[:epochs] == [1.0] * epochs
    decaying = factors[epochs:]
    assert all(later < earlier for earlier, later in zip([1.0] + decaying, decaying))
    assert factors[-1] > 0.0
    assert factors[-1] == pytest.approx(1.0 / (epochs_decay + 1))


@pytest.mark.parametrize("epochs", [1, 5])
def test_linear_decay_factor_is_constant_without_decay_epochs(epochs):
    assert [linear_decay_factor(e, epochs, 0) for e in range(epochs)] == [1.0] * epochs


def test_estimate_remaining_seconds_leaves_out_the_tracing_epoch():
    assert gan_trainer.estimate_remaining_seconds([100.0, 2.0, 4.0], remaining_epochs=3) == pytest.approx(9.0)
    assert gan_trainer.estimate_remaining_seconds([100.0, 2.0], remaining_epochs=5) == pytest.approx(10.0)


def test_estimate_remaining_seconds_uses_the_only_epoch_when_there_is_one():
    assert gan_trainer.estimate_remaining_seconds([7.0], remaining_epochs=2) == pytest.approx(14.0)
    assert gan_trainer.estimate_remaining_seconds([7.0, 1.0], remaining_epochs=0) == 0.0


def test_format_duration():
    assert gan_trainer.format_duration(59.6) == "1m00s"
    assert gan_trainer.format_duration(3725) == "1h02m05s"


# --------------------------------------------------------------------------- #
# One train step
# --------------------------------------------------------------------------- #
def test_train_step_updates_both_networks_and_returns_consistent_finite_losses():
    tf.keras.utils.set_random_seed(0)
    settings = tiny_settings()
    gan = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    networks = (gan.generator, gan.discriminator)
    before = {net.name: [v.numpy() for v in net.trainable_variables] for net in networks}

    step_losses = gan.train_step(tf.constant(random_images(2, seed=1)), tf.constant(random_images(2, seed=2)))

    assert set(step_losses) == LOSS_KEYS
    values = {name: float(value) for name, value in step_losses.items()}
    assert all(np.isfinite(value) for value in values.values()), values
    assert values["g_total"] == pytest.approx(values["g_gan"] + settings.lambda_l1 * values["g_l1"], rel=1e-5)
    assert values["d_total"] == pytest.approx(0.5 * (values["d_real"] + values["d_fake"]), rel=1e-5)
    for net in networks:
        unchanged = [v.name for v, old in zip(net.trainable_variables, before[net.name])
                     if np.array_equal(v.numpy(), old)]
        assert not unchanged, f"{net.name}: variables not updated by the step: {unchanged}"
    assert int(gan.g_optimizer.iterations) == 1
    assert int(gan.d_optimizer.iterations) == 1


# --------------------------------------------------------------------------- #
# fit
# --------------------------------------------------------------------------- #
def test_fit_runs_every_epoch_decays_the_learning_rate_and_checkpoints_on_schedule(tmp_path):
    tf.keras.utils.set_random_seed(0)
    settings = tiny_settings(epochs=2, epochs_decay=3, checkpoint_every_steps=4)
    total_epochs = settings.epochs + settings.epochs_decay
    gan = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    _, manager = checkpoint_and_manager(gan, tmp_path / "checkpoints", max_to_keep=None)
    reported = []

    history = fit(gan, in_memory_dataset(6, batch_size=2), steps_per_epoch=2, total_epochs=total_epochs,
                  checkpoint_manager=manager, checkpoint_every_steps=settings.checkpoint_every_steps,
                  on_epoch_end=reported.append)

    assert [r.epoch for r in history] == [1, 2, 3, 4, 5]
    assert reported == history  # once per epoch, in order
    assert all(r.steps == 2 for r in history)
    for result in history:
        losses = {key: value for key, value in result.as_dict().items() if key in LOSS_KEYS}
        assert set(losses) == LOSS_KEYS and all(np.isfinite(v) for v in losses.values())
    expected_rates = [settings.learning_rate * f for f in (1.0, 1.0, 0.75, 0.5, 0.25)]
    assert [r.learning_rate for r in history] == pytest.approx(expected_rates)
    assert float(gan.g_optimizer.learning_rate) == pytest.approx(expected_rates[-1])
    assert float(gan.d_optimizer.learning_rate) == pytest.approx(expected_rates[-1])
    assert int(gan.epoch) == total_epochs
    # Numbered by global step: every checkpoint_every_steps steps, plus the last step.
    assert checkpoint_numbers(manager) == [4, 8, 10]
    assert [saved_epoch(path) for path in manager.checkpoints] == [2, 4, 5]


def test_fit_resumes_after_the_last_checkpoint_with_the_saved_weights(tmp_path):
    tf.keras.utils.set_random_seed(0)
    settings = tiny_settings(epochs=2, epochs_decay=2, checkpoint_every_steps=2)
    dataset = in_memory_dataset(4, batch_size=2)
    checkpoint_dir = tmp_path / "checkpoints"

    # An "interrupted" run: 2 of the 4 epochs.
    first = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    _, first_manager = checkpoint_and_manager(first, checkpoint_dir)
    first_history = fit(first, dataset, steps_per_epoch=2, total_epochs=2,
                        checkpoint_manager=first_manager, checkpoint_every_steps=2)
    assert [r.epoch for r in first_history] == [1, 2]
    saved_weights = weights_of(first)
    saved_iterations = int(first.g_optimizer.iterations)

    # A new process would build everything again and restore the way run_fn does.
    resumed = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    assert any(not np.array_equal(a, b) for a, b in zip(weights_of(resumed), saved_weights))
    checkpoint, manager = checkpoint_and_manager(resumed, checkpoint_dir)
    assert manager.latest_checkpoint.endswith("ckpt-4")
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    assert int(resumed.epoch) == 2
    assert_weights_equal(weights_of(resumed), saved_weights)
    assert int(resumed.g_optimizer.iterations) == saved_iterations

    reported = []
    history = fit(resumed, dataset, steps_per_epoch=2, total_epochs=4, checkpoint_manager=manager,
                  checkpoint_every_steps=2, on_epoch_end=reported.append)

    assert [r.epoch for r in history] == [3, 4]
    assert [r.epoch for r in reported] == [3, 4]
    assert [r.learning_rate for r in history] == pytest.approx(
        [settings.learning_rate * 2 / 3, settings.learning_rate * 1 / 3])
    assert int(resumed.epoch) == 4
    assert int(resumed.g_optimizer.iterations) == saved_iterations + 4
    assert checkpoint_numbers(manager) == [6, 8]

    # A finished run has nothing left to do.
    assert fit(resumed, dataset, steps_per_epoch=2, total_epochs=4, checkpoint_manager=manager,
               checkpoint_every_steps=2) == []
    assert checkpoint_numbers(manager) == [6, 8]


def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    tf.keras.utils.set_random_seed(0)
    settings = tiny_settings(epochs=3, epochs_decay=0, checkpoint_every_steps=2)
    gan = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    checkpoint_dir = tmp_path / "checkpoints"
    checkpoint, manager = checkpoint_and_manager(gan, checkpoint_dir)
    fit(gan, in_memory_dataset(2, batch_size=2), steps_per_epoch=1, total_epochs=1,
        checkpoint_manager=manager, checkpoint_every_steps=2)
    good_weights = weights_of(gan)

    nan_inputs = np.full((2, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, CHANNELS), np.nan, np.float32)
    nan_dataset = tf.data.Dataset.from_tensor_slices((nan_inputs, random_images(2, seed=5))).batch(
        2, drop_remainder=True)  # same batch shape: no retrace
    reported = []
    with pytest.raises(NonFiniteLossError) as raised:
        fit(gan, nan_dataset, steps_per_epoch=1, total_epochs=3, checkpoint_manager=manager,
            checkpoint_every_steps=2, on_epoch_end=reported.append)

    message = str(raised.value)
    assert str(checkpoint_dir) in message
    assert "epoch 2" in message
    assert reported == []
    assert int(gan.epoch) == 1
    assert checkpoint_numbers(manager) == [1]
    assert os.path.exists(manager.latest_checkpoint + ".index")
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    assert int(gan.epoch) == 1
    assert_weights_equal(weights_of(gan), good_weights)
    assert all(np.isfinite(w).all() for w in weights_of(gan))


def test_fit_rejects_a_dataset_without_a_full_batch(tmp_path):
    settings = tiny_settings(batch_size=4)
    gan = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    _, manager = checkpoint_and_manager(gan, tmp_path / "checkpoints")
    with pytest.raises(ValueError, match="no full batch.*batch_size"):
        fit(gan, in_memory_dataset(3, batch_size=4), steps_per_epoch=1, total_epochs=2,
            checkpoint_manager=manager, checkpoint_every_steps=2)
    assert manager.latest_checkpoint is None
    assert int(gan.epoch) == 0


def test_an_interrupted_epoch_resumes_at_the_next_step_not_the_next_epoch(tmp_path):
    tf.keras.utils.set_random_seed(0)
    settings = tiny_settings(epochs=2, epochs_decay=0, checkpoint_every_steps=1)
    dataset = in_memory_dataset(6, batch_size=2)              # 3 steps per epoch
    first = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    _, manager = checkpoint_and_manager(first, tmp_path / "ckpt", max_to_keep=None)
    fit(first, dataset.take(2), steps_per_epoch=3, total_epochs=1,   # "killed" after step 2
        checkpoint_manager=manager, checkpoint_every_steps=1)
    assert checkpoint_numbers(manager) == [1, 2]

    resumed = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    checkpoint, manager = checkpoint_and_manager(resumed, tmp_path / "ckpt", max_to_keep=None)
    checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    assert int(resumed.step) == 2 and int(resumed.epoch) == 0
    history = fit(resumed, dataset, steps_per_epoch=3, total_epochs=2,
                  checkpoint_manager=manager, checkpoint_every_steps=1)
    assert [(r.epoch, r.steps) for r in history] == [(1, 1), (2, 3)]   # epoch 1 finishes its last step
    assert int(resumed.step) == 6 and int(resumed.epoch) == 2
    assert checkpoint_numbers(manager) == [1, 2, 3, 4, 5, 6]


def test_a_collapsing_discriminator_is_warned_about_once(caplog):
    watch = CollapseWatch(threshold=0.05, patience_steps=3)
    with caplog.at_level("WARNING"):
        for step, d_loss in enumerate([0.01, 0.02, 0.6, 0.01, 0.01, 0.01, 0.0, 0.0], start=1):
            watch.update(d_loss, step)
    warnings = [r.getMessage() for r in caplog.records if "collapsing" in r.getMessage()]
    assert len(warnings) == 1 and "step 6" in warnings[0]


@pytest.mark.parametrize("generator, discriminator, gan_mode", [
    ("resnet_6blocks", "pixelgan", "lsgan"),
    ("unet", "patchgan", "wgangp"),
])
def test_every_network_and_objective_option_trains_a_step(generator, discriminator, gan_mode):
    tf.keras.utils.set_random_seed(0)
    settings = tiny_settings(generator=generator, discriminator=discriminator, gan_mode=gan_mode)
    gan = Pix2PixGAN(settings, TINY_IMAGE_SIZE, CHANNELS)
    out = gan.train_step(*[tf.constant(x) for x in (random_images(2, 1), random_images(2, 2))])
    assert all(np.isfinite(float(v)) for v in out.values())
    assert (float(out["d_gp"]) > 0.0) == (gan_mode == "wgangp")


@pytest.mark.parametrize("option", [
    {"distribution_strategy": "default"},
    {"distribution_strategy": "mirrored"},  # the local devices: one CPU here (two: test_distribution)
    {"mixed_precision": "float32"},
    {"mixed_precision": "mixed_float16"},
    {"mixed_precision": "mixed_bfloat16"},
    {"jit_compile": True},
    {"distribution_strategy": "mirrored", "mixed_precision": "mixed_bfloat16", "jit_compile": True},
], ids=lambda option: ",".join(f"{key}={value}" for key, value in option.items()))
def test_every_strategy_precision_and_xla_option_trains_a_few_steps(option, tmp_path):
    """multi_worker_mirrored needs TF_CONFIG before TensorFlow starts: tests/trainer/test_distribution.py
    trains it in fresh processes."""
    tf.keras.utils.set_random_seed(0)
    gan = Pix2PixGAN(tiny_settings(**option), TINY_IMAGE_SIZE, CHANNELS)
    _, manager = checkpoint_and_manager(gan, tmp_path / "checkpoints")
    history = fit(gan, in_memory_dataset(6, batch_size=2), steps_per_epoch=3, total_epochs=1,
                  checkpoint_manager=manager, checkpoint_every_steps=2)
    losses = history[0].as_dict()
    assert history[0].steps == 3 and all(np.isfinite(losses[name]) for name in LOSS_KEYS), losses
    assert checkpoint_numbers(manager) == [2, 3]
