"""The pix2pix training loop.

G minimises  L_cGAN(G, D) + lambda * L1(G)   and D maximises  L_cGAN  (its loss
halved, as in the paper), both with Adam(lr, beta_1). ``update_order`` picks how
one step updates them: ``alternate`` (the paper and the PyTorch implementation:
D's step on G(x), then G's step against the updated D) or ``simultaneous`` (both
gradients from one forward pass; one D pass fewer per step). The learning rate is
constant for ``epochs`` and then decays linearly to zero over ``epochs_decay``
(the PyTorch implementation's "linear" policy). Progress is logged per epoch
with losses, step rate and ETA; the checkpoints it saves make an interrupted run resumable
(``checkpoints``).

Every random draw of a step (dropout masks, the WGAN-GP interpolation) comes
from one ``tf.random.Generator`` in the checkpoint, and the data of each epoch is
a function of the epoch (``input_pipeline.TrainBatches``), so a resumed run
continues exactly as an uninterrupted one.

The step runs under the configured tf.distribute strategy (``distribution``),
Keras mixed-precision policy (``precision``) and, with ``jit_compile``, XLA;
with the defaults (one device, float32, no XLA) it is the plain step.
"""
from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import time
from typing import Callable, Dict, List, Optional, Tuple

import tensorflow as tf

from components.trainer import distribution, losses, networks, precision

log = logging.getLogger(__name__)

UPDATE_ALTERNATE = "alternate"
UPDATE_SIMULTANEOUS = "simultaneous"
UPDATE_ORDERS = (UPDATE_ALTERNATE, UPDATE_SIMULTANEOUS)
# Per-step seeds: the replica's index moves its stream far from the others'; the last stream is the penalty's.
REPLICA_SEED_STRIDE = 1 << 20
PENALTY_STREAM = REPLICA_SEED_STRIDE - 1


@dataclasses.dataclass
class EpochResult:
    epoch: int
    steps: int
    seconds: float
    learning_rate: float
    g_total: float
    g_gan: float
    g_l1: float
    d_total: float
    d_real: float
    d_fake: float
    d_gp: float = 0.0  # gradient penalty (wgangp only)
    # Validation metrics of G in inference mode ("l1_mean", "psnr_mean", ...), on the epochs that validate.
    validation: Dict[str, float] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> Dict[str, float]:
        return dataclasses.asdict(self)


def linear_decay_factor(epoch: int, epochs: int, epochs_decay: int) -> float:
    """LR multiplier for a 0-based epoch: 1 for ``epochs``, then linearly towards 0."""
    if epoch < epochs:
        return 1.0
    return max(0.0, 1.0 - (epoch - epochs + 1) / float(epochs_decay + 1))


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def estimate_remaining_seconds(epoch_seconds: List[float], remaining_epochs: int) -> float:
    """ETA from the epochs run so far, leaving out the first (it includes tracing)."""
    steady = epoch_seconds[1:] or epoch_seconds
    return sum(steady) / len(steady) * remaining_epochs


def build_networks(settings, image_size: int, channels: int) -> Tuple[tf.keras.Model, tf.keras.Model]:
    """The generator and discriminator that the trainer settings describe (the one place that reads
    their architecture fields), for training and for ``python -m pipeline model-summary``."""
    generator = networks.build_generator(settings.generator, image_size, channels=channels, ngf=settings.ngf,
                                         norm=settings.norm, dropout_rate=settings.dropout_rate)
    discriminator = networks.build_discriminator(settings.discriminator, image_size, channels=channels,
                                                 ndf=settings.ndf, n_layers=settings.n_layers_d, norm=settings.norm)
    return generator, discriminator


class Pix2PixGAN(tf.Module):
    """Generator, discriminator, their optimizers and the train step, under one tf.distribute strategy.

    The strategy is ``strategy`` or, when None, the one ``settings.distribution_strategy`` names.
    Networks, optimizers and counters are created under its scope (mirrored variables); the
    networks are built under ``settings.mixed_precision``'s Keras policy. ``train_step`` takes a
    global batch (a distributed dataset's per-replica values, or plain tensors that every replica
    then shares) and returns the losses as means over the global batch.
    """

    def __init__(self, settings, image_size: int, channels: int,
                 strategy: Optional[tf.distribute.Strategy] = None):
        super().__init__(name="pix2pix")
        self.settings = settings
        self.strategy = strategy if strategy is not None else distribution.build_strategy(
            settings.distribution_strategy)
        distribution.check_global_batch(settings.batch_size, self.strategy)
        with self.strategy.scope():
            with precision.policy_scope(settings.mixed_precision):
                self.generator, self.discriminator = build_networks(settings, image_size, channels)
            self.g_optimizer = self._optimizer()
            self.d_optimizer = self._optimizer()
            # Slots exist before the first step: the step is traced once, and a
            # restored checkpoint fills the optimizer state immediately.
            self.g_optimizer.build(self.generator.trainable_variables)
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")  # completed epochs
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")     # completed steps
        # The step's random draws, saved with the checkpoint. Made outside the strategy's scope: one stream that
        # train_step reads in cross-replica context; each replica offsets the seed it is handed.
        self.rng = tf.random.Generator.from_seed(settings.seed)
        # XLA compiles the forward and backward passes of one replica, where the work is; the
        # optimizers' updates stay outside because their cross-replica gradient sum is a merge call
        # that XLA cannot compile on CPU devices.
        compile_ = ((lambda fn: tf.function(fn, jit_compile=True, autograph=False)) if settings.jit_compile
                    else (lambda fn: fn))
        self._gradients = compile_(self._replica_gradients)
        self._generate = compile_(self._generate_training)
        self._d_gradients = compile_(self._discriminator_gradients)
        self._g_losses = compile_(self._generator_losses)

    def _optimizer(self) -> tf.keras.optimizers.Optimizer:
        adam = tf.keras.optimizers.Adam(self.settings.learning_rate, beta_1=self.settings.beta_1)
        return precision.wrap_optimizer(adam, self.settings.mixed_precision)

    def checkpoint(self) -> tf.train.Checkpoint:
        """Everything needed to resume exactly: both networks, both optimizers (with their loss scales
        under float16), epoch, step and the random generator of the steps."""
        return tf.train.Checkpoint(generator=self.generator, discriminator=self.discriminator,
                                   g_optimizer=self.g_optimizer, d_optimizer=self.d_optimizer,
                                   epoch=self.epoch, step=self.step, rng=self.rng)

    def set_learning_rate(self, value: float) -> None:
        self.g_optimizer.learning_rate.assign(value)
        self.d_optimizer.learning_rate.assign(value)

    # No data-dependent Python control flow here, so autograph is off: it would
    # otherwise rewrite tf_keras's own call code on the first trace (15-30 s).
    @tf.function(autograph=False)
    def train_step(self, input_image, target_image) -> Dict[str, tf.Tensor]:
        seed = self.rng.make_seeds(1)[:, 0]
        per_replica = self.strategy.run(self._replica_step, args=(input_image, target_image, seed))
        # Each replica's losses are already weighted by its share of the global batch.
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
                for name, value in per_replica.items()}

    def _replica_step(self, input_image: tf.Tensor, target_image: tf.Tensor, seed: tf.Tensor) -> Dict[str, tf.Tensor]:
        """One replica's part of the step: its gradients, then the optimizers, which sum the
        replicas' gradients before updating (tf.nn.compute_average_loss semantics)."""
        context = tf.distribute.get_replica_context()
        local_batch = tf.cast(tf.shape(input_image)[0], tf.float32)
        global_batch = context.all_reduce(tf.distribute.ReduceOp.SUM, local_batch)
        share = local_batch / global_batch
        seed = seed + tf.constant([0, REPLICA_SEED_STRIDE], tf.int64) * tf.cast(
            context.replica_id_in_sync_group, tf.int64)
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        if self.settings.update_order == UPDATE_SIMULTANEOUS:  # fixed at trace time
            g_gradients, d_gradients, step_losses = self._gradients(input_image, target_image, share, seed)
            self.g_optimizer.apply_gradients(zip(g_gradients, g_vars))
            self.d_optimizer.apply_gradients(zip(d_gradients, d_vars))
            return {name: value * share for name, value in step_losses.items()}
        # The paper's order (PyTorch's optimize_parameters): G(x) once; D's step on it, detached; then G's
        # step against the updated D.
        with tf.GradientTape() as g_tape:
            generated = self._generate(input_image, seed)
            with g_tape.stop_recording():
                d_gradients, d_losses = self._d_gradients(input_image, target_image, tf.stop_gradient(generated),
                                                          share, seed)
                self.d_optimizer.apply_gradients(zip(d_gradients, d_vars))
            g_loss = self._g_losses(input_image, target_image, generated)
            g_objective = precision.scale_loss(self.g_optimizer, g_loss["total"] * share)
        g_gradients = precision.unscale_gradients(self.g_optimizer, g_tape.gradient(g_objective, g_vars))
        self.g_optimizer.apply_gradients(zip(g_gradients, g_vars))
        step_losses = {"g_total": g_loss["total"], "g_gan": g_loss["gan"], "g_l1": g_loss["l1"], **d_losses}
        return {name: value * share for name, value in step_losses.items()}

    def _generate_training(self, input_image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """G(x) in training mode, its dropout masks drawn from this step's seed."""
        networks.seed_dropouts(self.generator, seed)
        return self.generator(input_image, training=True)

    def _penalty(self, input_image, target_image, generated, seed):
        """WGAN-GP's penalty (wgangp only, else None), its interpolation drawn from this step's seed."""
        if self.settings.gan_mode != losses.GAN_MODE_WGANGP:  # fixed at trace time
            return None
        alpha = tf.random.stateless_uniform(tf.shape(target_image)[:1],
                                            seed=seed + tf.constant([0, PENALTY_STREAM], tf.int64))
        return losses.gradient_penalty(self.discriminator, input_image, target_image, generated,
                                       lambda_gp=self.settings.lambda_gp, alpha=alpha)

    @staticmethod
    def _d_losses_dict(d_loss) -> Dict[str, tf.Tensor]:
        return {"d_total": d_loss["total"], "d_real": d_loss["real"], "d_fake": d_loss["fake"],
                "d_gp": d_loss.get("gp", tf.constant(0.0))}

    def _discriminator_gradients(self, input_image, target_image, generated, share, seed):
        """D's step of the alternate order: its gradients on the real pair and on a detached G(x)."""
        with tf.GradientTape() as d_tape:
            real_logits = self.discriminator([input_image, target_image], training=True)
            fake_logits = self.discriminator([input_image, generated], training=True)
            d_loss = losses.discriminator_loss(real_logits, fake_logits, gan_mode=self.settings.gan_mode,
                                               gradient_penalty=self._penalty(input_image, target_image,
                                                                              generated, seed))
            d_objective = precision.scale_loss(self.d_optimizer, d_loss["total"] * share)
        d_gradients = precision.unscale_gradients(
            self.d_optimizer, d_tape.gradient(d_objective, self.discriminator.trainable_variables))
        return d_gradients, self._d_losses_dict(d_loss)

    def _generator_losses(self, input_image, target_image, generated) -> Dict[str, tf.Tensor]:
        """G's loss against the (updated) D: recorded by the caller's tape, which also holds G(x)."""
        fake_logits = self.discriminator([input_image, generated], training=True)
        return losses.generator_loss(fake_logits, generated, target_image, lambda_l1=self.settings.lambda_l1,
                                     gan_mode=self.settings.gan_mode)

    def _replica_gradients(self, input_image: tf.Tensor, target_image: tf.Tensor, share: tf.Tensor,
                           seed: tf.Tensor):
        """The simultaneous order: forward and backward passes of G and D on one replica's batch.

        Every loss term is a mean over this replica's examples, so ``loss * share`` (share = local
        batch / global batch) summed over replicas is the mean over the global batch: the gradients
        summed by the optimizers equal the single-device step's. Returns G's and D's gradients
        and the unweighted float32 losses.
        """
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            networks.seed_dropouts(self.generator, seed)
            generated = self.generator(input_image, training=True)
            real_logits = self.discriminator([input_image, target_image], training=True)
            fake_logits = self.discriminator([input_image, generated], training=True)
            g_loss = losses.generator_loss(fake_logits, generated, target_image,
                                           lambda_l1=self.settings.lambda_l1,
                                           gan_mode=self.settings.gan_mode)
            with g_tape.stop_recording():  # the penalty regularises D only
                penalty = self._penalty(input_image, target_image, generated, seed)
            d_loss = losses.discriminator_loss(real_logits, fake_logits, gan_mode=self.settings.gan_mode,
                                               gradient_penalty=penalty)
            g_objective = precision.scale_loss(self.g_optimizer, g_loss["total"] * share)
            d_objective = precision.scale_loss(self.d_optimizer, d_loss["total"] * share)
        g_gradients = precision.unscale_gradients(
            self.g_optimizer, g_tape.gradient(g_objective, self.generator.trainable_variables))
        d_gradients = precision.unscale_gradients(
            self.d_optimizer, d_tape.gradient(d_objective, self.discriminator.trainable_variables))
        step_losses = {"g_total": g_loss["total"], "g_gan": g_loss["gan"], "g_l1": g_loss["l1"],
                       **self._d_losses_dict(d_loss)}
        return g_gradients, d_gradients, step_losses


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or Inf: training stops, the last good checkpoint is kept."""


class CollapseWatch:
    """Warns once when D's loss stays near zero: D wins outright and G's gradients vanish."""

    def __init__(self, threshold: float, patience_steps: int):
        self.threshold, self.patience_steps = threshold, patience_steps
        self.streak, self.warned = 0, False

    def update(self, d_total: float, step: int) -> None:
        self.streak = self.streak + 1 if d_total < self.threshold else 0
        if self.streak >= self.patience_steps and not self.warned:
            self.warned = True
            log.warning("the discriminator is collapsing: D loss < %g for %d steps (step %d). G gets no useful "
                "gradient; consider a lower trainer.learning_rate, gan_mode: lsgan, or a smaller ndf",
                self.threshold, self.streak, step)


def collapse_watch(settings) -> Optional[CollapseWatch]:
    """The watch the settings ask for; none for a WGAN critic, whose loss is unbounded and usually
    negative: no "near zero" test."""
    if settings.gan_mode == losses.GAN_MODE_WGANGP:
        return None
    return CollapseWatch(settings.collapse_d_loss, settings.collapse_patience_steps)


def fit(gan: Pix2PixGAN, batches, *, steps_per_epoch: int, total_epochs: int,
        checkpoint_manager: tf.train.CheckpointManager, checkpoint_every_steps: int,
        on_epoch_end: Optional[Callable[[EpochResult], None]] = None,
        collapse_watch: Optional[CollapseWatch] = None, validation=None) -> List[EpochResult]:
    """Runs the remaining steps (resuming after the last checkpoint) and logs each epoch.

    ``batches(epoch, skip_batches)`` gives an epoch's global batches from a given batch on
    (``input_pipeline.TrainBatches``; a plain tf.data.Dataset is taken as the same batches every
    epoch); they are split across the strategy's replicas. A run resumed mid-epoch finishes that
    epoch with exactly the batches it had left. ``validation`` (``validation.Selection``) scores G
    after the epochs it is due and keeps the best one. Checkpoints are numbered by global step,
    saved every ``checkpoint_every_steps`` steps and at the end; one that falls on an epoch's last
    step is saved after the epoch's validation and history, so a resume never skips them.
    """
    if isinstance(batches, tf.data.Dataset):
        dataset = batches
        batches = lambda epoch, skip_batches: dataset.skip(skip_batches)  # noqa: E731
    settings = gan.settings
    start_step = int(gan.step.numpy())
    start_epoch = min(start_step // steps_per_epoch, total_epochs)
    if start_step:
        log.info("resuming from checkpoint at step %d (epoch %d/%d)", start_step,
                 start_epoch, total_epochs)
    history: List[EpochResult] = []
    for epoch in range(start_epoch, total_epochs):
        learning_rate = settings.learning_rate * linear_decay_factor(epoch, settings.epochs, settings.epochs_decay)
        gan.set_learning_rate(learning_rate)
        epoch_start = time.monotonic()
        sums: Dict[str, float] = {}
        steps = 0
        done = int(gan.step.numpy()) - epoch * steps_per_epoch
        epoch_end_step = (epoch + 1) * steps_per_epoch
        distributed = distribution.distribute_dataset(gan.strategy, batches(epoch, done))
        for input_image, target_image in itertools.islice(distributed, steps_per_epoch - done):
            step_losses = {name: float(value) for name, value in gan.train_step(input_image, target_image).items()}
            bad = [name for name, value in step_losses.items() if not math.isfinite(value)]
            if bad:  # stop at once: every further step would apply NaN updates
                raise NonFiniteLossError(
                    f"non-finite loss {bad} at epoch {epoch + 1}, step {int(gan.step.numpy()) + 1}; the last good "
                    f"checkpoint is kept in {checkpoint_manager.directory}; lower trainer.learning_rate "
                    "or check the data")
            for name, value in step_losses.items():
                sums[name] = sums.get(name, 0.0) + value
            steps += 1
            gan.step.assign_add(1)
            global_step = int(gan.step.numpy())  # (a mirrored variable's assign returns per-replica values)
            gan.epoch.assign(global_step // steps_per_epoch)
            if collapse_watch:
                collapse_watch.update(step_losses["d_total"], global_step)
            if (checkpoint_every_steps and global_step % checkpoint_every_steps == 0
                    and global_step != epoch_end_step):
                checkpoint_manager.save(checkpoint_number=global_step)
        if steps == 0:
            raise ValueError("the training split yielded no full batch: lower trainer.batch_size "
                             "or add training pairs")
        means = {name: total / steps for name, total in sums.items()}
        result = EpochResult(epoch=epoch + 1, steps=steps, seconds=time.monotonic() - epoch_start,
                             learning_rate=learning_rate, **means)
        improved = False
        if validation is not None:
            result.validation, improved = validation.after_epoch(gan.generator, epoch + 1, total_epochs)
        history.append(result)
        remaining = total_epochs - epoch - 1
        # The first epoch includes tracing and filling the cache: too slow to extrapolate.
        eta = (format_duration(estimate_remaining_seconds([r.seconds for r in history], remaining))
               if len(history) > 1 or remaining == 0 else "after the next epoch")
        shown = validation.describe(result.validation, improved) if result.validation else ""
        log.info("epoch %d/%d  G %.3f (gan %.3f, L1 %.4f)  D %.3f  lr %.2e  %.1f steps/s  eta %s%s",
            epoch + 1, total_epochs, result.g_total, result.g_gan, result.g_l1,
            result.d_total, learning_rate, steps / max(result.seconds, 1e-9), eta, shown)
        if on_epoch_end:
            on_epoch_end(result)
        global_step = int(gan.step.numpy())
        last_saved = checkpoint_manager.latest_checkpoint
        due = checkpoint_every_steps and global_step % checkpoint_every_steps == 0
        if (due or epoch + 1 == total_epochs) and not (last_saved and last_saved.endswith(f"-{global_step}")):
            checkpoint_manager.save(checkpoint_number=global_step)
    return history
