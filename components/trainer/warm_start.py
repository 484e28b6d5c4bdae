"""Continuous training: a new run's generator starts from the last blessed model's weights."""
from __future__ import annotations

import json
import logging
from typing import Optional

import tensorflow as tf

from components.trainer import export

log = logging.getLogger(__name__)

# In the training's work folder, beside its checkpoints: a run resumed from them still knows where G started.
ORIGIN_FILE = "warm_started_from.json"


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


def record_origin(work_dir: str, base_model_dir: str) -> None:
    """Notes the warm start before the first checkpoint, whole or not at all (written, then renamed)."""
    path = f"{work_dir.rstrip('/')}/{ORIGIN_FILE}"
    tf.io.gfile.makedirs(work_dir)
    with tf.io.gfile.GFile(path + ".tmp", "w") as handle:
        handle.write(json.dumps({"warm_started_from": base_model_dir}))
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)


def recorded_origin(work_dir: str) -> Optional[str]:
    """The base model a resumed training was warm-started from; None if it was not (or the note is unreadable)."""
    path = f"{work_dir.rstrip('/')}/{ORIGIN_FILE}"
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as handle:
            origin = json.loads(handle.read()).get("warm_started_from")
    except (ValueError, AttributeError, tf.errors.OpError) as error:
        log.warning("warm start: %s is unreadable (%s); the resumed run's summary will not name its base model",
                    path, error)
        return None
    return origin if isinstance(origin, str) and origin else None
