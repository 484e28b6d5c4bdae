"""TFX Trainer entry point: ``run_fn(fn_args)`` trains pix2pix and exports the generator.

TFX's generic Trainer calls this with the ExampleGen splits, the Transform
graph and ``custom_config`` = the config's ``trainer`` and ``transform``
sections. Everything the run produces besides the SavedModel (checkpoints,
TensorBoard logs, per-epoch sample grids, loss curves, loss history) goes to
the ModelRun artifact.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import features, visuals
from components.trainer import distribution, export, flops, gan_trainer, input_pipeline, networks
from components.trainer.export import to_uint8
from pipeline.config import ServingSettings, TrainerSettings, TransformSettings, section_from_dict

# Keys of custom_config (set by the pipeline definition).
TRAINER_SECTION = "trainer"
TRANSFORM_SECTION = "transform"
SERVING_SECTION = "serving"
CHECKPOINT_ROOT = "checkpoint_root"

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
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = distribution.build_strategy(trainer.distribution_strategy)
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

    gan = gan_trainer.Pix2PixGAN(trainer, transform.image_size, transform.channels, strategy=strategy)
    total_epochs = trainer.epochs + trainer.epochs_decay
    logging.info("%s %d training pairs, batch %d, %d steps/epoch, %d epochs (%d + %d decay)",
                 gan_trainer.LOG_PREFIX, num_train, trainer.batch_size, steps_per_epoch,
                 total_epochs, trainer.epochs, trainer.epochs_decay)
    logging.info("%s %s strategy, %d replica(s)%s; precision %s; XLA %s", gan_trainer.LOG_PREFIX,
                 trainer.distribution_strategy, strategy.num_replicas_in_sync,
                 "" if distribution.is_chief(strategy) else " (this worker is not the chief: its outputs "
                 "go to a temporary folder)", trainer.mixed_precision, "on" if trainer.jit_compile else "off")
    logging.info("%s generator %s: %s parameters; discriminator %s: %s parameters",
                 gan_trainer.LOG_PREFIX, gan.generator.name, f"{networks.count_parameters(gan.generator):,}",
                 gan.discriminator.name, f"{networks.count_parameters(gan.discriminator):,}")
    logging.info("%s train step: %.1f GFLOP per batch of %d (convolutions, counted analytically)",
                 gan_trainer.LOG_PREFIX, flops.train_step_flops(gan.generator, gan.discriminator, trainer.batch_size,
                                                                trainer.gan_mode).total / 1e9, trainer.batch_size)

    # With several workers only the chief writes the real folders; every other worker runs the
    # same code (saves are collective) into throw-away folders of its own.
    run_dir = distribution.write_dir(fn_args.model_run_dir, strategy)
    serving_model_dir = distribution.write_dir(fn_args.serving_model_dir, strategy)
    tf.io.gfile.makedirs(run_dir)
    checkpoint = gan.checkpoint()
    # Checkpoints live outside this execution's ModelRun, keyed by everything that
    # determines training, so a re-run after an interruption finds and resumes them.
    real_work_dir = os.path.join(fn_args.custom_config[CHECKPOINT_ROOT], training_fingerprint(fn_args))
    work_dir = distribution.write_dir(real_work_dir, strategy)
    tf.io.gfile.makedirs(work_dir)
    manager = tf.train.CheckpointManager(checkpoint, work_dir, max_to_keep=2)
    history = []
    latest = tf.train.latest_checkpoint(real_work_dir)  # every worker resumes from the chief's
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
        history = _read_history(real_work_dir, up_to_epoch=int(gan.epoch.numpy()))
    elif trainer.warm_start and fn_args.base_model:
        warm_start_generator(gan.generator, fn_args.base_model)
    writer = tf.summary.create_file_writer(os.path.join(run_dir, TENSORBOARD_DIR))

    def on_epoch_end(result: gan_trainer.EpochResult) -> None:
        history.append(result.as_dict())
        with writer.as_default(step=result.epoch):
            for name, value in result.as_dict().items():
                if name not in ("epoch", "steps"):
                    tf.summary.scalar(name, value)
        _write_history(work_dir, history, curves=False)
        last = result.epoch == total_epochs
        if result.epoch % trainer.samples_every_epochs == 0 or last:
            grid = _sample_grid(gan.generator, samples)
            path = visuals.save_image_grid(os.path.join(run_dir, SAMPLES_DIR, f"epoch_{result.epoch:04d}.png"),
                                           grid, SAMPLE_COLUMNS)
            tf.io.gfile.copy(str(path), os.path.join(run_dir, LATEST_SAMPLES), overwrite=True)
            with writer.as_default(step=result.epoch):
                tf.summary.image("samples", tf.stack([tf.concat(images, axis=1) for _, images in grid]),
                                 max_outputs=len(grid))
            _write_history(run_dir, history)

    gan_trainer.fit(gan, dataset, steps_per_epoch=steps_per_epoch, total_epochs=total_epochs,
                    checkpoint_manager=manager, checkpoint_every_steps=trainer.checkpoint_every_steps,
                    on_epoch_end=on_epoch_end,
                    # A WGAN critic's loss is unbounded and usually negative: no "near zero" test.
                    collapse_watch=None if trainer.gan_mode == "wgangp" else gan_trainer.CollapseWatch(
                        trainer.collapse_d_loss, trainer.collapse_patience_steps))
    writer.flush()
    _write_history(run_dir, history)
    serving = section_from_dict(ServingSettings, fn_args.custom_config[SERVING_SECTION], SERVING_SECTION)
    export.export_generator(gan.generator, tft_output, serving_model_dir,
                            max_input_pixels=serving.max_input_pixels, output_size=serving.output_size)
    logging.info("%s exported the generator to %s", gan_trainer.LOG_PREFIX, serving_model_dir)
    if distribution.is_chief(strategy):
        _archive_checkpoints(work_dir, os.path.join(run_dir, CHECKPOINT_DIR))
    else:
        for path, real in ((work_dir, real_work_dir), (run_dir, fn_args.model_run_dir),
                           (serving_model_dir, fn_args.serving_model_dir)):
            distribution.remove_worker_dir(path, real)


def training_fingerprint(fn_args: FnArgs) -> str:
    """Same data, transform and settings -> same folder -> resume instead of restart."""
    key = json.dumps({"train_files": sorted(fn_args.train_files), "transform": fn_args.transform_output,
                      TRAINER_SECTION: fn_args.custom_config[TRAINER_SECTION],
                      TRANSFORM_SECTION: fn_args.custom_config[TRANSFORM_SECTION]}, sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def warm_start_generator(generator: tf.keras.Model, base_model_dir: str) -> None:
    """Continuous training: G starts from the last blessed model's weights (D starts fresh)."""
    from tfx.utils import path_utils

    loaded = tf.saved_model.load(path_utils.serving_model_path(base_model_dir))
    source = {v.name: v for v in getattr(getattr(loaded, "generator", None), "variables", [])}
    if sorted(source) != sorted(v.name for v in generator.variables) or any(
            source[v.name].shape != v.shape for v in generator.variables):
        raise ValueError(f"trainer.warm_start: the last blessed model at {base_model_dir} has a different "
                         "generator architecture; set trainer.warm_start: false to train from scratch")
    for variable in generator.variables:
        variable.assign(source[variable.name])
    logging.info("%s warm start: generator initialised from %s", gan_trainer.LOG_PREFIX, base_model_dir)


def _archive_checkpoints(work_dir: str, destination: str) -> None:
    """The finished run's last checkpoint moves into the ModelRun; the work folder goes."""
    tf.io.gfile.makedirs(destination)
    for name in tf.io.gfile.listdir(work_dir):
        source = os.path.join(work_dir, name)
        if not tf.io.gfile.isdir(source):
            tf.io.gfile.copy(source, os.path.join(destination, name), overwrite=True)
    tf.io.gfile.rmtree(work_dir)


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


def _write_history(directory: str, history, curves: bool = True) -> None:
    if not history:
        return
    with tf.io.gfile.GFile(os.path.join(directory, LOSS_HISTORY), "w") as handle:
        json.dump(history, handle, indent=1)
    if curves:
        visuals.save_loss_curves(os.path.join(directory, LOSS_CURVES), history)
