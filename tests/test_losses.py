"""Tests of the pix2pix losses against hand-computed values, and of gradient flow."""
import math

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import losses, networks

LOG2 = math.log(2.0)


def _assert_scalar_float32(value):
    assert isinstance(value, tf.Tensor)
    assert value.dtype == tf.float32
    assert value.shape == ()


# --- generator loss ---------------------------------------------------------------

def test_generator_vanilla_zero_logits_is_log2():
    out = losses.generator_loss(tf.zeros([2, 3, 3, 1]), tf.zeros([2, 4, 4, 3]),
                                tf.zeros([2, 4, 4, 3]))
    assert set(out) == {"gan", "l1", "total"}
    for value in out.values():
        _assert_scalar_float32(value)
    assert out["gan"].numpy() == pytest.approx(LOG2)
    assert out["l1"].numpy() == pytest.approx(0.0)
    assert out["total"].numpy() == pytest.approx(LOG2)


def test_generator_vanilla_is_non_saturating():
    # Fakes are labelled real: -log(sigmoid(x)) = softplus(-x).
    logits = tf.constant([[-2.0, 0.0], [1.0, 3.0]])
    expected = np.mean([math.log1p(math.exp(-x)) for x in (-2.0, 0.0, 1.0, 3.0)])
    out = losses.generator_loss(logits, tf.zeros([1, 2]), tf.zeros([1, 2]))
    assert out["gan"].numpy() == pytest.approx(expected, rel=1e-6)


def test_generator_l1_weighting():
    generated = tf.constant([[0.0, 0.5], [-1.0, 1.0]])
    target = tf.constant([[1.0, 0.5], [0.0, 0.0]])
    # |diff| = 1, 0, 1, 1 -> mean 0.75
    out = losses.generator_loss(tf.zeros([1, 2, 2, 1]), generated, target, lambda_l1=10.0)
    assert out["l1"].numpy() == pytest.approx(0.75)
    assert out["total"].numpy() == pytest.approx(LOG2 + 7.5)
    default = losses.generator_loss(tf.zeros([1, 2, 2, 1]), generated, target)
    assert default["total"].numpy() == pytest.approx(LOG2 + 75.0)
    no_l1 = losses.generator_loss(tf.zeros([1, 2, 2, 1]), generated, target, lambda_l1=0.0)
    assert no_l1["total"].numpy() == pytest.approx(LOG2)


def test_generator_lsgan():
    logits = tf.constant([0.0, 1.0, 3.0, -1.0])
    # (x - 1)^2 = 1, 0, 4, 4 -> mean 2.25
    out = losses.generator_loss(logits, tf.zeros([4]), tf.ones([4]), lambda_l1=2.0,
                                gan_mode="lsgan")
    assert out["gan"].numpy() == pytest.approx(2.25)
    assert out["l1"].numpy() == pytest.approx(1.0)
    assert out["total"].numpy() == pytest.approx(4.25)


def test_losses_are_float32_for_float16_inputs():
    out = losses.generator_loss(tf.zeros([1, 2, 2, 1], tf.float16),
                                tf.zeros([1, 2], tf.float16), tf.ones([1, 2]))
    for value in out.values():
        _assert_scalar_float32(value)


# --- discriminator loss -------------------------------------------------------------

def test_discriminator_vanilla_zero_logits_is_log2_and_halved():
    out = losses.discriminator_loss(tf.zeros([2, 3, 3, 1]), tf.zeros([2, 3, 3, 1]))
    assert set(out) == {"real", "fake", "total"}
    for value in out.values():
        _assert_scalar_float32(value)
    assert out["real"].numpy() == pytest.approx(LOG2)
    assert out["fake"].numpy() == pytest.approx(LOG2)
    assert out["total"].numpy() == pytest.approx(LOG2)  # 0.5 * (log2 + log2)


def test_discriminator_vanilla_hand_values():
    real = tf.constant([2.0, -1.0])
    fake = tf.constant([0.5, -3.0])
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    exp_real = np.mean([softplus(-2.0), softplus(1.0)])  # -log sigmoid(x)
    exp_fake = np.mean([softplus(0.5), softplus(-3.0)])  # -log(1 - sigmoid(x))
    out = losses.discriminator_loss(real, fake)
    assert out["real"].numpy() == pytest.approx(exp_real, rel=1e-6)
    assert out["fake"].numpy() == pytest.approx(exp_fake, rel=1e-6)
    assert out["total"].numpy() == pytest.approx(0.5 * (exp_real + exp_fake), rel=1e-6)


def test_discriminator_lsgan():
    real = tf.constant([1.0, 0.0, 3.0])   # (x-1)^2 = 0, 1, 4 -> 5/3
    fake = tf.constant([0.0, 2.0, -1.0])  # x^2 = 0, 4, 1 -> 5/3
    out = losses.discriminator_loss(real, fake, gan_mode="lsgan")
    assert out["real"].numpy() == pytest.approx(5 / 3)
    assert out["fake"].numpy() == pytest.approx(5 / 3)
    assert out["total"].numpy() == pytest.approx(5 / 3)


def test_loss_is_mean_over_patches():
    # One confident patch among zeros: mean over all elements, not sum/max.
    fake = np.zeros([1, 2, 2, 1], np.float32)
    fake[0, 0, 0, 0] = 100.0
    out = losses.discriminator_loss(tf.fill([1, 2, 2, 1], 100.0), fake)
    assert out["real"].numpy() == pytest.approx(0.0, abs=1e-6)
    assert out["fake"].numpy() == pytest.approx((100.0 + 3 * LOG2) / 4, rel=1e-5)


@pytest.mark.parametrize("fn,args", [
    (losses.generator_loss, (tf.zeros([1]), tf.zeros([1]), tf.zeros([1]))),
    (losses.discriminator_loss, (tf.zeros([1]), tf.zeros([1]))),
])
@pytest.mark.parametrize("mode", ["wgan", "LSGAN", ""])
def test_bad_gan_mode(fn, args, mode):
    with pytest.raises(ValueError, match=r"gan_mode.*vanilla.*lsgan"):
        fn(*args, gan_mode=mode)


def test_negative_lambda_rejected():
    with pytest.raises(ValueError, match="lambda_l1"):
        losses.generator_loss(tf.zeros([1]), tf.zeros([1]), tf.zeros([1]), lambda_l1=-1.0)


# --- gradient flow through the networks -----------------------------------------------

@pytest.mark.parametrize("gan_mode", losses.GAN_MODES)
def test_gradients_flow_to_all_generator_and_discriminator_variables(gan_mode):
    size = 32
    gen = networks.build_unet_generator(size, ngf=8)
    disc = networks.build_patchgan_discriminator(size, ndf=8)
    rng = np.random.default_rng(0)
    source = tf.constant(rng.uniform(-1, 1, (2, size, size, 3)), tf.float32)
    target = tf.constant(rng.uniform(-1, 1, (2, size, size, 3)), tf.float32)

    with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
        fake = gen(source, training=True)
        real_logits = disc([source, target], training=True)
        fake_logits = disc([source, fake], training=True)
        g_loss = losses.generator_loss(fake_logits, fake, target, gan_mode=gan_mode)
        d_loss = losses.discriminator_loss(real_logits, fake_logits, gan_mode=gan_mode)

    g_grads = g_tape.gradient(g_loss["total"], gen.trainable_variables)
    d_grads = d_tape.gradient(d_loss["total"], disc.trainable_variables)
    for var, grad in zip(gen.trainable_variables, g_grads):
        assert grad is not None, var.name
        assert np.isfinite(grad.numpy()).all(), var.name
    for var, grad in zip(disc.trainable_variables, d_grads):
        assert grad is not None, var.name
        assert np.isfinite(grad.numpy()).all(), var.name
    # The non-trainable BN moving statistics are not trained.
    assert len(gen.non_trainable_variables) > 0

    # One Adam step (paper: lr 2e-4, beta1 0.5) changes both networks.
    before_g = gen(source, training=False).numpy()
    before_d = disc([source, target], training=False).numpy()
    g_opt = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    g_opt.apply_gradients(zip(g_grads, gen.trainable_variables))
    d_opt.apply_gradients(zip(d_grads, disc.trainable_variables))
    assert not np.allclose(gen(source, training=False).numpy(), before_g)
    assert not np.allclose(disc([source, target], training=False).numpy(), before_d)
