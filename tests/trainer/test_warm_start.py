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
