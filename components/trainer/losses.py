"""The pix2pix objective (Isola et al. 2017, eq. 4 and section 3.3).

G* = arg min_G max_D L_cGAN(G, D) + lambda * L_L1(G), with lambda = 100.

* ``vanilla``: the paper's cGAN loss, sigmoid cross-entropy on the
  discriminator's logits. G uses the non-saturating form (maximise log D(x, G(x))
  by labelling its fakes as real), as recommended by the paper and Goodfellow
  et al. 2014.
* ``lsgan``: least squares (Mao et al. 2017), mean squared error of the raw
  logits against 1 (real) / 0 (fake), an option of the reference implementation.

D's loss is halved "to slow down the rate at which D learns relative to G"
(paper, section 3.3). Every term is a mean over all elements, i.e. over the
batch and the PatchGAN's patches, so values do not depend on image or batch
size. Under a distribution strategy, scale by the replica count yourself.
"""
import os

# Normally set by ``components/__init__.py``; repeated for when TFX loads this
# file by path. Must precede the first TensorFlow import.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import tensorflow as tf  # noqa: E402

GAN_MODE_VANILLA = "vanilla"
GAN_MODE_LSGAN = "lsgan"
GAN_MODES = (GAN_MODE_VANILLA, GAN_MODE_LSGAN)

DEFAULT_LAMBDA_L1 = 100.0
REAL_LABEL = 1.0
FAKE_LABEL = 0.0
# Paper 3.3: "we divide the objective by 2 while optimizing D".
DISCRIMINATOR_LOSS_WEIGHT = 0.5


def _check_gan_mode(gan_mode: str) -> None:
    if gan_mode not in GAN_MODES:
        raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}")


def gan_loss(logits, target_is_real: bool, gan_mode: str = GAN_MODE_VANILLA) -> tf.Tensor:
    """Mean GAN loss of ``logits`` against an all-real or all-fake label.

    Logits are cast to float32 so the loss stays float32 under mixed precision.
    """
    _check_gan_mode(gan_mode)
    logits = tf.cast(logits, tf.float32)
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
    """G's loss: fool D on its fakes (non-saturating) + lambda * L1 to the target.

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
                       gan_mode: str = GAN_MODE_VANILLA) -> dict:
    """D's loss: real pairs labelled 1, generated pairs 0, halved.

    Returns:
      {"real": ..., "fake": ..., "total": 0.5 * (real + fake)}, float32 scalars.
    """
    _check_gan_mode(gan_mode)
    real = gan_loss(disc_real_logits, target_is_real=True, gan_mode=gan_mode)
    fake = gan_loss(disc_fake_logits, target_is_real=False, gan_mode=gan_mode)
    total = DISCRIMINATOR_LOSS_WEIGHT * (real + fake)
    return {"real": real, "fake": fake, "total": total}
