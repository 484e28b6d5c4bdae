"""Continuous training: the generator starts from the last blessed model's weights."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.trainer import export, networks
from components.trainer.warm_start import warm_start_generator
from pipeline.config import load_config
from pipeline.pipeline_def import create_pipeline
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.paths import DEFAULT_CONFIG as CONFIG

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test


def _export(generator, transform_output_dir, model_dir):
    export.export_generator(generator, tft.TFTransformOutput(transform_output_dir),
                            str(model_dir / "Format-Serving"))


def test_the_generator_takes_the_blessed_weights(transform_output_dir, tmp_path):
    tf.keras.utils.set_random_seed(1)
    blessed = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    _export(blessed, transform_output_dir, tmp_path / "blessed")
    tf.keras.utils.set_random_seed(2)
    fresh = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(fresh.variables, blessed.variables))
    warm_start_generator(fresh, str(tmp_path / "blessed"))
    for a, b in zip(fresh.variables, blessed.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_tfx_hands_the_serving_folder_itself(transform_output_dir, tmp_path):
    """fn_args.base_model is TFX's serving_model_path(<Model uri>) (fn_args_utils): the SavedModel folder."""
    from tfx.types import standard_artifacts
    from tfx.utils import path_utils

    tf.keras.utils.set_random_seed(1)
    blessed = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    _export(blessed, transform_output_dir, tmp_path / "blessed")
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "blessed")
    base_model = path_utils.serving_model_path(model.uri, path_utils.is_old_model_artifact(model))  # fn_args_utils
    assert base_model == str(tmp_path / "blessed" / "Format-Serving")
    tf.keras.utils.set_random_seed(2)
    fresh = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    warm_start_generator(fresh, base_model)
    for a, b in zip(fresh.variables, blessed.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_a_different_architecture_is_refused_clearly(transform_output_dir, tmp_path):
    _export(networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4), transform_output_dir, tmp_path / "blessed")
    wider = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=8)
    with pytest.raises(ValueError, match="different generator architecture"):
        warm_start_generator(wider, str(tmp_path / "blessed"))


def test_warm_start_feeds_the_last_blessed_model_to_the_trainer():
    pipeline = create_pipeline(load_config(CONFIG, ["trainer.warm_start=true", "data.split_mode=hash"]))
    trainer = next(c for c in pipeline.components if c.id == "Trainer")
    assert trainer.inputs["base_model"].producer_component_id == "latest_blessed_model_resolver"
    cold = create_pipeline(load_config(CONFIG, ["data.split_mode=hash"]))
    assert "base_model" not in next(c for c in cold.components if c.id == "Trainer").inputs


def _run_fn(transform_output_dir, tmp_path, name, checkpoint_root, base_model=None, data=None):
    """A real run_fn on tiny data (the files of ``data``, default ``name``); returns its training summary."""
    import dataclasses
    import json
    import os

    from tfx.components.trainer.fn_args_utils import FnArgs

    from components import model_run_files
    from components.trainer import run_fn
    from components.typed_settings import pack
    from tests.support.training import tiny_settings, write_tiny_examples

    config = load_config(CONFIG)
    trainer = tiny_settings(epochs=1, epochs_decay=0, sample_images=1, warm_start=base_model is not None)
    fn_args = FnArgs(
        train_files=[write_tiny_examples(tmp_path / f"{data or name}-train.gz", 4)],
        eval_files=[write_tiny_examples(tmp_path / f"{data or name}-eval.gz", 2)],
        transform_output=transform_output_dir, serving_model_dir=str(tmp_path / name / "serving"),
        model_run_dir=str(tmp_path / name / "model_run"), base_model=base_model,
        custom_config=pack(trainer=trainer, serving=dataclasses.replace(config.serving, tflite=[]),
                           checkpoint_root=str(checkpoint_root),
                           transform=dataclasses.replace(config.transform, image_size=TINY_IMAGE_SIZE, channels=3)))
    run_fn.run_fn(fn_args)
    with open(os.path.join(fn_args.model_run_dir, model_run_files.TRAINING_SUMMARY)) as handle:
        return json.load(handle)


def test_a_resumed_warm_started_training_still_names_its_base_model(transform_output_dir, tmp_path, monkeypatch):
    """A retry resumes from the checkpoints and must not lose where G started (lineage, the span table)."""
    from components.trainer import warm_start

    blessed = str(tmp_path / "blessed" / "serving")
    assert _run_fn(transform_output_dir, tmp_path, "blessed", tmp_path / "blessed-ckpt")["warm_started_from"] is None

    def killed(*args, **kwargs):   # the warm-started run dies after its last checkpoint, before the export
        raise RuntimeError("killed before the export")
    monkeypatch.setattr(export, "export_generator", killed)
    with pytest.raises(RuntimeError, match="killed before the export"):
        _run_fn(transform_output_dir, tmp_path, "warm", tmp_path / "warm-ckpt", base_model=blessed)
    monkeypatch.undo()
    notes = list((tmp_path / "warm-ckpt").rglob(warm_start.ORIGIN_FILE))
    assert len(notes) == 1 and not list((tmp_path / "warm-ckpt").rglob(warm_start.ORIGIN_FILE + ".tmp"))

    # The retry: same data and settings, so the same work folder; its checkpoints are restored and nothing is
    # warm-started again (a base model that does not exist would fail if it were loaded).
    resumed = _run_fn(transform_output_dir, tmp_path, "retry", tmp_path / "warm-ckpt",
                      base_model=str(tmp_path / "not-there"), data="warm")
    assert resumed["warm_started_from"] == blessed


def test_an_unreadable_origin_note_is_named_and_read_as_none(tmp_path, caplog):
    from components.trainer import warm_start

    assert warm_start.recorded_origin(str(tmp_path)) is None                 # never warm-started
    warm_start.record_origin(str(tmp_path / "work"), "/models/blessed/Format-Serving")
    assert warm_start.recorded_origin(str(tmp_path / "work")) == "/models/blessed/Format-Serving"
    for junk in ("{not json", "[1, 2]", '{"warm_started_from": 7}'):
        (tmp_path / "work" / warm_start.ORIGIN_FILE).write_text(junk)
        assert warm_start.recorded_origin(str(tmp_path / "work")) is None
    assert any(warm_start.ORIGIN_FILE in message for message in caplog.messages)
