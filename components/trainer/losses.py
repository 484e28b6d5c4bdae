"""The pix2pix objective (Isola et al. 2017, eq. 4 and section 3.3).

G* = arg min_G max_D L_cGAN(G, D) + lambda * L_L1(G), with lambda = 100.

* ``vanilla``: the paper's cGAN loss, sigmoid cross-entropy on the
  discriminator's logits. G uses the non-saturating form (maximise log D(x, G(x))
  by labelling its fakes as real), as recommended by the paper and Goodfellow
  et al. 2014.
* ``lsgan``: least squares (Mao et al. 2017), mean squared error of the raw
  logits against 1 (real) / 0 (fake), an option of the reference implementation.
* ``wgangp``: Wasserstein GAN with gradient penalty (Gulrajani et al. 2017), as
  in the reference implementation's GANLoss: D is a critic whose raw outputs
  are scores, G minimises -mean(D(fake)), D minimises mean(D(fake)) -
  mean(D(real)) plus ``gradient_penalty``. Use D without batch norm with it
  (the penalty is per sample, batch norm couples the samples).

D's loss is halved "to slow down the rate at which D learns relative to G"
(paper, section 3.3), in every mode: the PyTorch pix2pix model halves
``loss_D_fake + loss_D_real`` for wgangp too. A gradient penalty, when given,
is halved with them, so its weight relative to the Wasserstein term is the
WGAN-GP paper's ``lambda_gp`` (10). Every term is a mean over all elements,
i.e. over the batch and the PatchGAN's patches, so values do not depend on
image or batch size. Under a distribution strategy, scale by the replica count
yourself.
"""
from typing import Callable, Optional

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads

import tensorflow as tf  # noqa: E402

GAN_MODE_VANILLA = "vanilla"
GAN_MODE_LSGAN = "lsgan"
GAN_MODE_WGANGP = "wgangp"
GAN_MODES = (GAN_MODE_VANILLA, GAN_MODE_LSGAN, GAN_MODE_WGANGP)

DEFAULT_LAMBDA_L1 = 100.0
REAL_LABEL = 1.0
FAKE_LABEL = 0.0
# Paper 3.3: "we divide the objective by 2 while optimizing D".
DISCRIMINATOR_LOSS_WEIGHT = 0.5
# WGAN-GP paper: lambda = 10, target gradient norm 1 (1-Lipschitz critic).
DEFAULT_LAMBDA_GP = 10.0
DEFAULT_GP_CONSTANT = 1.0
# Keeps the norm's gradient finite where the critic's gradient is exactly 0
# (d sqrt(s) / ds is infinite at 0); the value PyTorch's cal_gradient_penalty
# names for this.
GRADIENT_NORM_EPSILON = 1e-12


def _check_gan_mode(gan_mode: str) -> None:
    if gan_mode not in GAN_MODES:
        raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")


def gan_loss(logits, target_is_real: bool, gan_mode: str = GAN_MODE_VANILLA) -> tf.Tensor:
    """Mean GAN loss of ``logits`` against an all-real or all-fake label.

    For wgangp there are no labels: -mean(scores) for "real", +mean for
    "fake". Logits are cast to float32 so the loss stays float32 under mixed
    precision.
    """
    _check_gan_mode(gan_mode)
    logits = tf.cast(logits, tf.float32)
    if gan_mode == GAN_MODE_WGANGP:
        mean = tf.reduce_mean(logits)
        return -mean if target_is_real else mean
    labels = tf.fill(tf.shape(logits), REAL_LABEL if target_is_real else FAKE_LABEL)
    if gan_mode == GAN_MODE_VANILLA:
        per_patch = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
    else:
        per_patch = tf.square(logits - labels)
    return tf.reduce_mean(per_patch)


def l1_loss(generated, target) -> tf.Tensor:
    """Mean absolute error; L1 rather than L2 because it blurs less (paper 3.1)."""
    return tf.reduce_mean(tf.abs(tf.cast(target, tf.float32) - tf.cast(generated, tf.float32)))


def generator_loss(disc_fake_logits,
                   generated,
                   target,
                   lambda_l1: float = DEFAULT_LAMBDA_L1,
                   gan_mode: str = GAN_MODE_VANILLA) -> dict:
    """G's loss: fool D on its fakes (non-saturating; wgangp: -mean D(fake))
    + lambda * L1 to the target.

    Returns:
      {"gan": ..., "l1": ..., "total": gan + lambda_l1 * l1}, float32 scalars.
    """
    _check_gan_mode(gan_mode)
    if lambda_l1 < 0:
        raise ValueError(f"lambda_l1 must be >= 0, got {lambda_l1!r}")
    gan = gan_loss(disc_fake_logits, target_is_real=True, gan_mode=gan_mode)
    l1 = l1_loss(generated, target)
    total = gan + tf.constant(lambda_l1, tf.float32) * l1
    return {"gan": gan, "l1": l1, "total": total}


def discriminator_loss(disc_real_logits,
                       disc_fake_logits,
                       gan_mode: str = GAN_MODE_VANILLA,
                       gradient_penalty: Optional[tf.Tensor] = None) -> dict:
    """D's loss: real pairs labelled 1, generated pairs 0, halved.

    With wgangp, "real" is -mean D(real) and "fake" mean D(fake), so "total"
    is half the negated Wasserstein estimate. ``gradient_penalty`` (from
    ``gradient_penalty()``, meant for wgangp) is halved along with them.

    Returns:
      {"real": ..., "fake": ..., "total": 0.5 * (real + fake [+ gp])} and,
      when a penalty is given, "gp": the penalty; float32 scalars.
    """
    _check_gan_mode(gan_mode)
    real = gan_loss(disc_real_logits, target_is_real=True, gan_mode=gan_mode)
    fake = gan_loss(disc_fake_logits, target_is_real=False, gan_mode=gan_mode)
    if gradient_penalty is None:
        total = DISCRIMINATOR_LOSS_WEIGHT * (real + fake)
        return {"real": real, "fake": fake, "total": total}
    gp = tf.cast(gradient_penalty, tf.float32)
    total = DISCRIMINATOR_LOSS_WEIGHT * (real + fake + gp)
    return {"real": real, "fake": fake, "gp": gp, "total": total}


def interpolate(real, fake, alpha=None) -> tf.Tensor:
    """Points on the segments between real and fake samples, one per sample.

    ``alpha`` [B] weights ``real`` (drawn from U(0, 1) when None); every
    element of sample i uses the same alpha_i, as in WGAN-GP. Float32.
    """
    real = tf.cast(real, tf.float32)
    fake = tf.cast(fake, tf.float32)
    if alpha is None:
        alpha = tf.random.uniform(tf.shape(real)[:1], dtype=tf.float32)
    alpha = tf.reshape(tf.cast(alpha, tf.float32), [-1] + [1] * (real.shape.rank - 1))
    return alpha * real + (1.0 - alpha) * fake


def gradient_penalty(discriminator: Callable,
                     input_image,
                     real,
                     fake,
                     lambda_gp: float = DEFAULT_LAMBDA_GP,
                     constant: float = DEFAULT_GP_CONSTANT,
                     alpha=None) -> tf.Tensor:
    """WGAN-GP's penalty, lambda * mean_i (||grad_x D(input_i, x_i)|| - c)^2.

    As PyTorch's ``cal_gradient_penalty(type="mixed")``: x_i is a random point
    between the real and the generated target of sample i, the gradient is of
    the sum of D's outputs (every patch score counts) and its L2 norm runs over
    all of H, W and C. The conditioning input is held fixed: it is the same in
    the real and the fake pair, so the penalty constrains D as a function of
    the candidate image (PyTorch, fed the concatenated pair, would also count
    the gradient with respect to the input).

    Call it inside the tape that differentiates D's loss: the gradient is
    taken with a nested tape, so the penalty itself is differentiable in D's
    weights. No gradient flows to G (``fake`` is detached, as PyTorch's
    backward_D detaches fake_B). D runs with ``training=True``, so batch-norm
    statistics are those of the interpolated batch (prefer norm "instance" or
    "none" in D).

    Args:
      discriminator: called as ``discriminator([input_image, x], training=True)``.
      input_image: the conditioning images [B, H, W, C].
      real: the real targets, same shape.
      fake: the generated images, same shape.
      lambda_gp: weight; 0 returns 0 without running D.
      constant: the target norm (1 for a 1-Lipschitz critic).
      alpha: interpolation weights [B]; U(0, 1) when None.

    Returns:
      A float32 scalar.
    """
    if lambda_gp < 0:
        raise ValueError(f"lambda_gp must be >= 0, got {lambda_gp!r}")
    if constant < 0:
        raise ValueError(f"constant must be >= 0, got {constant!r}")
    if lambda_gp == 0:
        return tf.constant(0.0, tf.float32)
    x = interpolate(tf.stop_gradient(real), tf.stop_gradient(fake), alpha)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = tf.cast(discriminator([input_image, x], training=True), tf.float32)
        total_score = tf.reduce_sum(scores)
    gradients = tape.gradient(total_score, x)
    norms = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=tf.range(1, tf.rank(gradients)))
                    + GRADIENT_NORM_EPSILON)
    return tf.constant(lambda_gp, tf.float32) * tf.reduce_mean(tf.square(norms - constant))
