"""Continuous training: a new run's generator starts from the last blessed model's weights."""
from __future__ import annotations

import logging

import tensorflow as tf

from components.trainer import export

log = logging.getLogger(__name__)


def saved_model_dir(base_model: str) -> str:
    """The SavedModel of a base model: TFX's ``fn_args.base_model`` is that folder already (the Model
    artifact's ``Format-Serving``); a Model artifact's URI is resolved to it."""
    from tfx.utils import path_utils

    if tf.saved_model.contains_saved_model(base_model):
        return base_model
    return path_utils.serving_model_path(base_model)


def warm_start_generator(generator: tf.keras.Model, base_model_dir: str) -> None:
    """G starts from the last blessed model's weights (D starts fresh)."""
    loaded = tf.saved_model.load(saved_model_dir(base_model_dir))
    saved = getattr(loaded, export.GENERATOR_VARIABLES, None)
    if saved is None:  # exported before the generator's variables were saved on their own
        saved = getattr(getattr(loaded, "generator", None), "variables", [])
    source = {v.name: v for v in saved}
    if sorted(source) != sorted(v.name for v in generator.variables) or any(
            source[v.name].shape != v.shape for v in generator.variables):
        raise ValueError(f"trainer.warm_start: the last blessed model at {base_model_dir} has a different "
                         "generator architecture; set trainer.warm_start: false to train from scratch")
    for variable in generator.variables:
        variable.assign(source[variable.name])
    log.info("warm start: generator initialised from %s", base_model_dir)
