"""TFX Trainer entry point: ``run_fn(fn_args)`` trains pix2pix and exports the generator.

TFX's generic Trainer calls this with the ExampleGen splits, the Transform
graph and ``custom_config`` = the config's ``trainer`` and ``transform``
sections. Everything the run produces besides the SavedModel (checkpoints,
TensorBoard logs, per-epoch sample grids, loss curves, loss history) goes to
the ModelRun artifact.
"""
from __future__ import annotations

import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import features, visuals
from components.trainer import export, gan_trainer, input_pipeline, networks
from components.trainer.export import to_uint8
from pipeline.config import TrainerSettings, TransformSettings, section_from_dict

# Keys of custom_config (set by the pipeline definition).
TRAINER_SECTION = "trainer"
TRANSFORM_SECTION = "transform"

# Files in the ModelRun artifact.
CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
SAMPLES_DIR = "samples"
LATEST_SAMPLES = "samples_latest.png"
LOSS_CURVES = "loss_curves.png"
LOSS_HISTORY = "loss_history.json"
SAMPLE_COLUMNS = ("input", "generated", "target")


def run_fn(fn_args: FnArgs) -> None:
    trainer = section_from_dict(TrainerSettings, fn_args.custom_config[TRAINER_SECTION], TRAINER_SECTION)
    transform = section_from_dict(TransformSettings, fn_args.custom_config[TRANSFORM_SECTION], TRANSFORM_SECTION)
    tf.keras.utils.set_random_seed(trainer.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)

    num_train = input_pipeline.count_records(fn_args.train_files)
    steps_per_epoch = num_train // trainer.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"trainer.batch_size={trainer.batch_size} is larger than the {num_train} "
                         "training pairs: lower it or add data")
    dataset = input_pipeline.make_train_dataset(
        fn_args.train_files, tft_output, batch_size=trainer.batch_size, jitter=trainer.jitter,
        jitter_scale=trainer.jitter_scale, shuffle_buffer=trainer.shuffle_buffer,
        cache=trainer.cache_dataset, seed=trainer.seed)
    samples = input_pipeline.first_pairs(fn_args.eval_files, tft_output, trainer.sample_images)

    gan = gan_trainer.Pix2PixGAN(trainer, transform.image_size, transform.channels)
    total_epochs = trainer.epochs + trainer.epochs_decay
    logging.info("%s %d training pairs, batch %d, %d steps/epoch, %d epochs (%d + %d decay)",
                 gan_trainer.LOG_PREFIX, num_train, trainer.batch_size, steps_per_epoch,
                 total_epochs, trainer.epochs, trainer.epochs_decay)
    logging.info("%s generator %s: %s parameters; discriminator %s: %s parameters",
                 gan_trainer.LOG_PREFIX, gan.generator.name, f"{networks.count_parameters(gan.generator):,}",
                 gan.discriminator.name, f"{networks.count_parameters(gan.discriminator):,}")

    run_dir = fn_args.model_run_dir
    checkpoint = tf.train.Checkpoint(generator=gan.generator, discriminator=gan.discriminator,
                                     g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                                     epoch=gan.epoch)
    manager = tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, CHECKPOINT_DIR), max_to_keep=2)
    history = []
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        history = _read_history(run_dir, up_to_epoch=int(gan.epoch.numpy()))
    writer = tf.summary.create_file_writer(os.path.join(run_dir, TENSORBOARD_DIR))

    def on_epoch_end(result: gan_trainer.EpochResult) -> None:
        history.append(result.as_dict())
        with writer.as_default(step=result.epoch):
            for name, value in result.as_dict().items():
                if name not in ("epoch", "steps"):
                    tf.summary.scalar(name, value)
        last = result.epoch == total_epochs
        if result.epoch % trainer.checkpoint_every_epochs == 0 or last:
            grid = _sample_grid(gan.generator, samples)
            path = visuals.save_image_grid(os.path.join(run_dir, SAMPLES_DIR, f"epoch_{result.epoch:04d}.png"),
                                           grid, SAMPLE_COLUMNS)
            tf.io.gfile.copy(str(path), os.path.join(run_dir, LATEST_SAMPLES), overwrite=True)
            with writer.as_default(step=result.epoch):
                tf.summary.image("samples", tf.stack([tf.concat(images, axis=1) for _, images in grid]),
                                 max_outputs=len(grid))
            _write_history(run_dir, history)

    gan_trainer.fit(gan, dataset, steps_per_epoch=steps_per_epoch, total_epochs=total_epochs,
                    checkpoint_manager=manager, checkpoint_every_epochs=trainer.checkpoint_every_epochs,
                    on_epoch_end=on_epoch_end)
    writer.flush()
    _write_history(run_dir, history)
    export.export_generator(gan.generator, tft_output, fn_args.serving_model_dir)
    logging.info("%s exported the generator to %s", gan_trainer.LOG_PREFIX, fn_args.serving_model_dir)


def _sample_grid(generator: tf.keras.Model, samples):
    generated = to_uint8(generator(samples[features.INPUT_XF], training=False)).numpy()
    inputs = to_uint8(samples[features.INPUT_XF]).numpy()
    targets = to_uint8(samples[features.TARGET_XF]).numpy()
    return [(f"eval #{i}", [inputs[i], generated[i], targets[i]]) for i in range(len(generated))]


def _read_history(run_dir: str, up_to_epoch: int):
    """The loss history of the epochs a restored checkpoint already holds."""
    path = os.path.join(run_dir, LOSS_HISTORY)
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as handle:
        return [row for row in json.load(handle) if row["epoch"] <= up_to_epoch]


def _write_history(run_dir: str, history) -> None:
    if not history:
        return
    with tf.io.gfile.GFile(os.path.join(run_dir, LOSS_HISTORY), "w") as handle:
        json.dump(history, handle, indent=1)
    visuals.save_loss_curves(os.path.join(run_dir, LOSS_CURVES), history)
