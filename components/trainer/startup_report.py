"""The trainer's start-up report: what is about to be trained, on what, and at what cost per step."""
from __future__ import annotations

import logging

import tensorflow as tf

from components.trainer import flops, networks
from components.trainer.gan_trainer import Pix2PixGAN

log = logging.getLogger(__name__)

GIGA = 1e9


def log_startup(gan: Pix2PixGAN, *, num_train: int, steps_per_epoch: int, is_chief: bool) -> None:
    """Data and schedule, strategy and numerics, network sizes, and the train step's FLOPs."""
    settings = gan.settings
    log.info("%d training pairs, batch %d, %d steps/epoch, %d epochs (%d + %d decay)",
             num_train, settings.batch_size, steps_per_epoch,
             settings.epochs + settings.epochs_decay, settings.epochs, settings.epochs_decay)
    log.info("%s strategy, %d replica(s)%s; precision %s; XLA %s",
             settings.distribution_strategy, gan.strategy.num_replicas_in_sync,
             "" if is_chief else " (this worker is not the chief: its outputs go to a temporary folder)",
             settings.mixed_precision, "on" if settings.jit_compile else "off")
    log.info("generator %s: %s parameters; discriminator %s: %s parameters",
             gan.generator.name, _thousands(gan.generator), gan.discriminator.name, _thousands(gan.discriminator))
    step_flops = flops.train_step_flops(gan.generator, gan.discriminator, settings.batch_size, settings.gan_mode)
    log.info("train step: %.1f GFLOP per batch of %d (convolutions, counted analytically)",
             step_flops.total / GIGA, settings.batch_size)


def _thousands(model: tf.keras.Model) -> str:
    return f"{networks.count_parameters(model):,}"
