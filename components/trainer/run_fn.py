"""TFX Trainer entry point: ``run_fn(fn_args)`` trains pix2pix and exports the generator.

TFX's generic Trainer calls this with the ExampleGen splits, the Transform
graph and ``custom_config`` holding the config's ``trainer``, ``transform`` and
``serving`` sections and the folder its resumable checkpoints live in. It reads as data -> model -> fit -> export; the helpers
own the rest: ``worker_folders`` (chief and worker folders), ``checkpoints``
(resume, fall-back past a damaged checkpoint, archive), ``warm_start``,
``startup_report`` and ``run_outputs`` (TensorBoard, samples, loss history and
curves in the ModelRun artifact).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Tuple

import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import model_run_files
from components.example_gen.settings import EVAL_SPLIT, selection_allowed
from components.trainer import (checkpoints, data_cache, distribution, export, gan_trainer, input_pipeline,
                                startup_report, training_length, validation, warm_start)
from components.trainer.run_outputs import RunOutputs
from components.trainer.worker_folders import WorkerFolders
from components.trainer.settings import CHECKPOINT_ROOT, GATE_SPLIT, SERVING_SECTION, ServingSettings, TrainerSettings
from components.trainer.settings import SECTION as TRAINER_SECTION
from components.transform.settings import SECTION as TRANSFORM_SECTION
from components.transform.settings import TransformSettings
from components.typed_settings import unpack

log = logging.getLogger(__name__)


def run_fn(fn_args: FnArgs) -> None:
    trainer_settings = unpack(fn_args.custom_config, TRAINER_SECTION, TrainerSettings)
    transform_settings = unpack(fn_args.custom_config, TRANSFORM_SECTION, TransformSettings)
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = distribution.build_strategy(trainer_settings.distribution_strategy)
    tf.keras.utils.set_random_seed(trainer_settings.seed)

    # This training's folders: the ModelRun, and the work folder of its checkpoints and input cache.
    folders = WorkerFolders.create(strategy, run_dir=fn_args.model_run_dir, serving_model_dir=fn_args.serving_model_dir,
                                   work_dir=os.path.join(fn_args.custom_config[CHECKPOINT_ROOT],
                                                         training_fingerprint(fn_args)))

    # Data: the train split as global batches, cached where it fits; the first eval pairs for the sample grids.
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    num_train = input_pipeline.count_records(fn_args.train_files)
    cache_plan = _cache_plan(fn_args, num_train, trainer_settings, transform_settings, folders.work_dir)
    dataset, steps_per_epoch = _train_batches(fn_args, tft_output, num_train, trainer_settings,
                                              transform_settings, cache_plan)
    trainer_settings, lengthened = training_length.stretched(trainer_settings, steps_per_epoch)
    if lengthened:
        log.info("%s", lengthened)
    samples = input_pipeline.first_pairs(fn_args.eval_files, tft_output, trainer_settings.sample_images)

    # Model: resumed from this training's checkpoints (every worker from the chief's), else warm-started.
    gan, restored, history = checkpoints.resume(
        lambda: gan_trainer.Pix2PixGAN(trainer_settings, transform_settings.image_size, transform_settings.channels,
                                       strategy=strategy),
        folders.real_work_dir, repair=folders.is_chief)
    warm_started_from = None
    if restored is not None:   # resumed: G started where the interrupted run's did
        warm_started_from = warm_start.recorded_origin(folders.real_work_dir)
    elif trainer_settings.warm_start and fn_args.base_model:
        warm_start.warm_start_generator(gan.generator, fn_args.base_model)
        warm_started_from = fn_args.base_model
        if folders.is_chief:
            warm_start.record_origin(folders.real_work_dir, warm_started_from)
    startup_report.log_startup(gan, num_train=num_train, steps_per_epoch=steps_per_epoch, is_chief=folders.is_chief)

    # Fit: constant learning rate for `epochs`, then linear decay over `epochs_decay`; validated on "eval".
    total_epochs = trainer_settings.epochs + trainer_settings.epochs_decay
    outputs = RunOutputs(folders.run_dir, folders.work_dir, gan.generator, samples, history,
                         samples_every_epochs=trainer_settings.samples_every_epochs, total_epochs=total_epochs)
    selection = validation.Selection(
        input_pipeline.validation_pairs(fn_args.eval_files, tft_output, cache=cache_plan),
        gan.generator, folders.work_dir,
        batch_size=trainer_settings.batch_size, every_epochs=trainer_settings.validate_every_epochs,
        metric=trainer_settings.select_metric, statistic=trainer_settings.select_statistic)
    gan_trainer.fit(gan, dataset, steps_per_epoch=steps_per_epoch, total_epochs=total_epochs,
                    checkpoint_manager=checkpoints.manager(gan.checkpoint(), folders.work_dir),
                    checkpoint_every_steps=trainer_settings.checkpoint_every_steps,
                    on_epoch_end=outputs.on_epoch_end, collapse_watch=gan_trainer.collapse_watch(trainer_settings),
                    validation=selection)

    # Export: the best validated epoch (or the last, and why), with its serving signatures.
    gate = fn_args.custom_config.get(GATE_SPLIT, EVAL_SPLIT)  # configs from before the test split: the eval split
    exported, exported_epoch, reason = validation.choose_export(
        selection, trainer_settings.export, selection_allowed=selection_allowed(gate), gate_split=gate,
        last_epoch=total_epochs)
    outputs.close(exported_epoch=exported_epoch)
    if exported == validation.EXPORT_BEST:
        selection.restore_best()
    log.info("exporting epoch %d of %d: %s", exported_epoch, total_epochs, reason)
    validation.write_summary(os.path.join(folders.run_dir, model_run_files.TRAINING_SUMMARY), exported=exported,
                             exported_epoch=exported_epoch, reason=reason, total_epochs=total_epochs,
                             selection=selection, validation_split=EVAL_SPLIT, gate_split=gate,
                             warm_started_from=warm_started_from, train_pairs=num_train)
    serving = unpack(fn_args.custom_config, SERVING_SECTION, ServingSettings)
    export.export_generator(gan.generator, tft_output, folders.serving_model_dir,
                            max_input_pixels=serving.max_input_pixels, output_size=serving.output_size,
                            inference_mode=serving.inference, tile_scale=serving.tile_scale,
                            tile_overlap=serving.tile_overlap, tflite_variants=serving.tflite)
    log.info("exported the generator to %s", folders.serving_model_dir)
    data_cache.remove(cache_plan)
    if folders.is_chief:
        checkpoints.archive(folders.work_dir, os.path.join(folders.run_dir, model_run_files.CHECKPOINT_DIR))
    else:
        folders.remove_worker_copies()


def training_fingerprint(fn_args: FnArgs) -> str:
    """Same data, transform and settings -> same checkpoint folder -> resume instead of restart."""
    key = json.dumps({"train_files": sorted(fn_args.train_files), "transform": fn_args.transform_output,
                      TRAINER_SECTION: fn_args.custom_config[TRAINER_SECTION],
                      TRANSFORM_SECTION: fn_args.custom_config[TRANSFORM_SECTION]}, sort_keys=True)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _cache_plan(fn_args: FnArgs, num_train: int, settings: TrainerSettings, transform_settings: TransformSettings,
                work_dir: str) -> data_cache.CachePlan:
    """Where the decoded train and eval pairs live between epochs, decided from their record counts."""
    pairs = num_train + input_pipeline.count_records(fn_args.eval_files)
    plan = data_cache.plan(settings.cache, pairs=pairs, image_size=transform_settings.image_size,
                           channels=transform_settings.channels, memory_budget_mb=settings.cache_memory_mb,
                           work_dir=work_dir)
    log.info("input cache of the train and eval pairs: %s", plan.describe())
    return plan


def _train_batches(fn_args: FnArgs, tft_output: tft.TFTransformOutput, num_train: int, settings: TrainerSettings,
                   transform_settings: TransformSettings, cache_plan: data_cache.CachePlan,
                   ) -> Tuple[input_pipeline.TrainBatches, int]:
    """The shuffled, jittered training batches of any epoch and the steps per epoch."""
    steps_per_epoch = num_train // settings.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"trainer.batch_size={settings.batch_size} is larger than the {num_train} "
                         "training pairs: lower it or add data")
    buffer = data_cache.shuffle_buffer_pairs(settings.shuffle_buffer, settings.shuffle_buffer_mb,
                                             transform_settings.image_size, transform_settings.channels)
    if buffer < min(settings.shuffle_buffer, num_train):
        log.info("shuffle buffer: %d pairs (trainer.shuffle_buffer_mb %g at %d px), not trainer.shuffle_buffer %d",
                 buffer, settings.shuffle_buffer_mb, transform_settings.image_size, settings.shuffle_buffer)
    # At least a batch: an epoch stops after its last whole batch, and only a buffer that long has read the
    # source to its end by then, which is what completes a cache (tf.data discards a partly read one).
    dataset = input_pipeline.make_train_dataset(
        fn_args.train_files, tft_output, batch_size=settings.batch_size, jitter=settings.jitter,
        jitter_scale=settings.jitter_scale, shuffle_buffer=max(buffer, settings.batch_size),
        cache=cache_plan, seed=settings.seed)
    return dataset, steps_per_epoch
