"""TFX Trainer entry point: ``run_fn(fn_args)`` trains pix2pix and exports the generator.

TFX's generic Trainer calls this with the ExampleGen splits, the Transform
graph and ``custom_config`` = the config's ``trainer`` and ``transform``
sections. Everything the run produces besides the SavedModel (checkpoints,
TensorBoard logs, per-epoch sample grids, loss curves, loss history) goes to
the ModelRun artifact.

A re-run resumes from the checkpoints and loss history of its work folder; a
checkpoint or history file that a crash or a full disk damaged is reported and
set aside (``gan_trainer.restore_newest_usable``, ``_read_history``), never a
reason to stop, and the history is written so that it is never half-written.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import math
import os
from typing import Callable, List, Optional, Tuple

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
# A history row is an EpochResult: these fields, all of them numbers.
HISTORY_FIELDS = frozenset(field.name for field in dataclasses.fields(gan_trainer.EpochResult))
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

    # With several workers only the chief writes the real folders; every other worker runs the
    # same code (saves are collective) into throw-away folders of its own.
    run_dir = distribution.write_dir(fn_args.model_run_dir, strategy)
    serving_model_dir = distribution.write_dir(fn_args.serving_model_dir, strategy)
    tf.io.gfile.makedirs(run_dir)
    # Checkpoints live outside this execution's ModelRun, keyed by everything that
    # determines training, so a re-run after an interruption finds and resumes them.
    real_work_dir = os.path.join(fn_args.custom_config[CHECKPOINT_ROOT], training_fingerprint(fn_args))
    work_dir = distribution.write_dir(real_work_dir, strategy)
    tf.io.gfile.makedirs(work_dir)
    gan, restored, history = resume(
        lambda: gan_trainer.Pix2PixGAN(trainer, transform.image_size, transform.channels, strategy=strategy),
        real_work_dir, repair=distribution.is_chief(strategy))  # every worker resumes from the chief's
    if restored is None and trainer.warm_start and fn_args.base_model:
        warm_start_generator(gan.generator, fn_args.base_model)
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

    manager = tf.train.CheckpointManager(gan.checkpoint(), work_dir, max_to_keep=2)
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


def resume(build_gan: Callable[[], gan_trainer.Pix2PixGAN], directory: str, *,
           repair: bool) -> Tuple[gan_trainer.Pix2PixGAN, Optional[str], List[dict]]:
    """The GAN to train, the checkpoint it was restored from (None: a fresh start) and the loss
    history of the epochs that checkpoint holds.

    The folder is listed before the networks are built: with several workers, building them is a
    collective step, so every worker has listed the same checkpoints before the chief (``repair``)
    sets any aside, and all of them decide alike to build again after a failed restore.
    """
    found = gan_trainer.find_checkpoints(directory)
    gan = build_gan()
    restored = gan_trainer.restore_newest_usable(gan.checkpoint(), found, repair=repair)
    if restored is not None:
        return gan, restored, _read_history(directory, up_to_epoch=int(gan.epoch.numpy()), repair=repair)
    if found.paths:  # every restore failed; one that failed on a mismatch may have assigned some variables
        gan = build_gan()
    history_path = os.path.join(directory, LOSS_HISTORY)
    if repair and tf.io.gfile.exists(history_path):  # the epochs of the checkpoints set aside
        gan_trainer.set_aside(directory, [history_path])
    return gan, None, []


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
    """The finished run's last checkpoint (and any files set aside as unusable) moves into the
    ModelRun; the work folder goes."""
    for source_dir, target_dir in ((work_dir, destination),
                                   (os.path.join(work_dir, gan_trainer.UNUSABLE_DIR),
                                    os.path.join(destination, gan_trainer.UNUSABLE_DIR))):
        if not tf.io.gfile.isdir(source_dir):
            continue
        tf.io.gfile.makedirs(target_dir)
        for name in tf.io.gfile.listdir(source_dir):
            source = os.path.join(source_dir, name)
            if not tf.io.gfile.isdir(source):
                tf.io.gfile.copy(source, os.path.join(target_dir, name), overwrite=True)
    tf.io.gfile.rmtree(work_dir)


def _sample_grid(generator: tf.keras.Model, samples):
    generated = to_uint8(generator(samples[features.INPUT_XF], training=False)).numpy()
    inputs = to_uint8(samples[features.INPUT_XF]).numpy()
    targets = to_uint8(samples[features.TARGET_XF]).numpy()
    return [(f"eval #{i}", [inputs[i], generated[i], targets[i]]) for i in range(len(generated))]


def _read_history(directory: str, up_to_epoch: int, repair: bool) -> List[dict]:
    """The loss history of the epochs a restored checkpoint already holds.

    A damaged file (cut short, not JSON, not a list of epoch rows) must not stop the resume: the
    whole rows are kept, the rest is named in a warning, and with ``repair`` (the chief) the file
    moves to unusable/; the next epoch writes a new one.
    """
    path = os.path.join(directory, LOSS_HISTORY)
    if not tf.io.gfile.exists(path):
        return []
    problem = None
    try:
        with tf.io.gfile.GFile(path, "rb") as handle:
            rows = json.loads(handle.read().decode("utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"expected a list of epoch rows, got a JSON {type(rows).__name__}")
    except (tf.errors.OpError, ValueError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        rows, problem = [], f"{type(error).__name__}: {error}"
    kept, bad, last_epoch = [], 0, 0
    for row in rows:
        if not _is_history_row(row) or row["epoch"] <= last_epoch:
            bad += 1
            continue
        last_epoch = row["epoch"]
        if row["epoch"] <= up_to_epoch:
            kept.append(row)
    if bad:
        problem = (f"{bad} of {len(rows)} rows are not epoch rows (the fields {sorted(HISTORY_FIELDS)}, "
                   "finite numbers, epochs in increasing order)")
    if problem:
        logging.warning("%s loss history %s is damaged (%s): kept the %d whole rows up to epoch %d; the "
                        "history goes on from there", gan_trainer.LOG_PREFIX, path, problem, len(kept), up_to_epoch)
        if repair:
            gan_trainer.set_aside(directory, [path])
    return kept


def _is_history_row(row) -> bool:
    """One epoch's EpochResult.as_dict(): exactly its fields, every one a finite number."""
    return (isinstance(row, dict) and set(row) == HISTORY_FIELDS
            and all(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
                    for value in row.values())
            and isinstance(row["epoch"], int) and row["epoch"] >= 1)


def _write_history(directory: str, history, curves: bool = True) -> None:
    if not history:
        return
    _write_text_atomically(os.path.join(directory, LOSS_HISTORY), json.dumps(history, indent=1))
    if curves:
        visuals.save_loss_curves(os.path.join(directory, LOSS_CURVES), history)


def _write_text_atomically(path: str, text: str) -> None:
    """The next reader (a resume after a crash or a full disk) finds the old file or the new one,
    never part of one: written beside it, synced to disk, then renamed over it."""
    if "://" in path:  # an object store publishes an object only once its upload is complete
        with tf.io.gfile.GFile(path, "w") as handle:
            handle.write(text)
        return
    directory = os.path.dirname(path) or os.curdir
    partial = os.path.join(directory, f".{os.path.basename(path)}.partial")
    try:
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise
    folder = os.open(directory, os.O_RDONLY)  # the rename itself reaches the disk too
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
