"""XLA from trainer.jit_compile: each replica's forward and backward passes are compiled.

Pins, on CPU: the compiled step trains, and with deterministic settings (no dropout, no jitter,
the same weights and batch) one XLA step gives the plain step's losses and updates within
float32 rounding (XLA fuses and reorders the arithmetic, so not to the bit).
"""
import numpy as np
import pytest
import tensorflow as tf

from components.trainer.gan_trainer import Pix2PixGAN
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.training import CHANNELS, LOSS_KEYS, random_images, tiny_settings

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test


def test_one_xla_step_matches_the_plain_step():
    tf.keras.utils.set_random_seed(0)
    # Batch norm (training statistics) is deterministic too, and exercises variable updates in XLA.
    deterministic = {"dropout_rate": 0.0, "jitter": False, "norm": "batch"}
    plain = Pix2PixGAN(tiny_settings(**deterministic), TINY_IMAGE_SIZE, CHANNELS)
    compiled = Pix2PixGAN(tiny_settings(jit_compile=True, **deterministic), TINY_IMAGE_SIZE, CHANNELS)
    compiled.generator.set_weights(plain.generator.get_weights())
    compiled.discriminator.set_weights(plain.discriminator.get_weights())
    batch = (tf.constant(random_images(2, 1)), tf.constant(random_images(2, 2)))

    expected = {name: float(value) for name, value in plain.train_step(*batch).items()}
    got = {name: float(value) for name, value in compiled.train_step(*batch).items()}

    assert set(got) == LOSS_KEYS
    for name in LOSS_KEYS:
        assert got[name] == pytest.approx(expected[name], rel=1e-4, abs=1e-6), name
    after = compiled.generator.get_weights() + compiled.discriminator.get_weights()
    reference = plain.generator.get_weights() + plain.discriminator.get_weights()
    for got_weights, want in zip(after, reference):
        np.testing.assert_allclose(got_weights, want, rtol=1e-4, atol=1e-5 * max(np.abs(want).max(), 1e-3))
    for optimizer, reference_optimizer in ((compiled.g_optimizer, plain.g_optimizer),
                                           (compiled.d_optimizer, plain.d_optimizer)):
        for moment, want in zip(optimizer.variables, reference_optimizer.variables):
            want = want.numpy()  # Adam's moments: the gradients themselves, unlike its first update
            np.testing.assert_allclose(moment.numpy(), want, rtol=1e-2, atol=1e-3 * np.abs(want).max())
