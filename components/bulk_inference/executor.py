"""BatchTranslator's executor: every input image of one split through the pushed model, as an artifact.

It runs ``serving.batch_translate.build_pipeline`` (Beam's RunInference on the
model's ``serving_default`` signature, the bytes TF Serving would return) in the
component's own Beam pipeline, so the DirectRunner here and Dataflow there run
it as they run the other Beam stages. Outputs: ``images/<pair_id>.png`` and the
job's failure list, a contact sheet (input | generated) and custom properties
with the counts. A model that was not pushed is not translated: the artifact
says so.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

import numpy as np
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import path_utils

from components import features, typed_settings, visuals
from components.bulk_inference.settings import SECTION, BulkInferenceSettings

log = logging.getLogger(__name__)

EXAMPLES, MODEL = standard_component_specs.EXAMPLES_KEY, standard_component_specs.MODEL_KEY
PUSHED_MODEL, RESULT = standard_component_specs.PUSHED_MODEL_KEY, standard_component_specs.INFERENCE_RESULT_KEY
CUSTOM_CONFIG = standard_component_specs.CUSTOM_CONFIG_KEY
IMAGES_FOLDER, CONTACT_SHEET = "images", "contact_sheet.png"
TRANSLATED, FAILED, SPLIT, SKIPPED = "translated", "failed", "split", "skipped"


def contact_sheet(split_pattern: str, images_dir: str, output_path: str, rows: int) -> str:
    """input | generated for the first ``rows`` translated pairs (by pair id), read back from the files."""
    wanted = sorted(name[:-len(".png")] for name in fileio.listdir(images_dir) if name.endswith(".png"))[:rows]
    inputs: Dict[str, np.ndarray] = {}
    files = sorted(tf.io.gfile.glob(split_pattern))
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        parsed = tf.io.parse_single_example(record, {
            features.PAIR_ID_KEY: tf.io.FixedLenFeature([], tf.string),
            features.INPUT_IMAGE_KEY: tf.io.FixedLenFeature([], tf.string)})
        pair_id = parsed[features.PAIR_ID_KEY].numpy().decode("utf-8")
        if pair_id in wanted:
            inputs[pair_id] = tf.io.decode_image(parsed[features.INPUT_IMAGE_KEY], channels=3,
                                                 expand_animations=False).numpy()
        if len(inputs) == len(wanted):
            break
    grid = []
    for pair_id in wanted:
        with fileio.open(os.path.join(images_dir, f"{pair_id}.png"), "rb") as handle:
            generated = tf.io.decode_png(handle.read(), channels=3).numpy()
        if pair_id in inputs:
            grid.append((pair_id, [inputs[pair_id], generated]))
    return visuals.save_image_grid(output_path, grid, ["input", "generated"]) if grid else ""


class Executor(base_beam_executor.BaseBeamExecutor):
    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        from serving import batch_translate  # the project's job, wrapped; heavy imports only when run

        settings = typed_settings.unpack(json.loads(exec_properties[CUSTOM_CONFIG]), SECTION, BulkInferenceSettings)
        result = artifact_utils.get_single_instance(output_dict[RESULT])
        pushed = artifact_utils.get_single_instance(input_dict[PUSHED_MODEL])
        result.set_string_custom_property(SPLIT, settings.split)
        if not pushed.get_int_custom_property("pushed"):
            result.set_string_custom_property(SKIPPED, "the model was not pushed")
            log.info("bulk inference skipped: the model was not pushed")
            return
        examples = input_dict[EXAMPLES]
        names = artifact_utils.decode_split_names(artifact_utils.get_single_instance(examples).split_names)
        if settings.split not in names:
            raise ValueError(f"{SECTION}.split: {settings.split!r} is not a split of the Examples {names}")
        pattern = os.path.join(artifact_utils.get_split_uri(examples, settings.split), "*")
        images_dir = os.path.join(result.uri, IMAGES_FOLDER)
        model_dir = path_utils.serving_model_path(artifact_utils.get_single_uri(input_dict[MODEL]))
        with self._make_beam_pipeline() as pipeline:
            batch_translate.build_pipeline(pipeline, pattern, batch_translate.FORMAT_TFRECORD, images_dir, model_dir,
                                           settings.batch_size)
        translated = sum(name.endswith(".png") for name in fileio.listdir(images_dir))
        failures_path = os.path.join(images_dir, batch_translate.FAILURES_FILE)
        with fileio.open(failures_path, "r") as handle:
            failed = sum(1 for line in handle.read().splitlines() if line.strip())
        sheet = contact_sheet(pattern, images_dir, os.path.join(result.uri, CONTACT_SHEET),
                              settings.contact_sheet_images)
        result.set_int_custom_property(TRANSLATED, translated)
        result.set_int_custom_property(FAILED, failed)
        result.set_string_custom_property(CONTACT_SHEET, sheet)
        log.info("bulk inference: %d %s image(s) translated into %s (%d failed, listed in %s); contact sheet %s",
                 translated, settings.split, images_dir, failed, failures_path, sheet)
