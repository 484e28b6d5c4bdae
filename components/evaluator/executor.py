"""The ImageQualityEvaluator's TFX executor: artifacts in, ModelEvaluation and ModelBlessing out.

It subclasses TFX's Evaluator executor for one reason: orchestrators treat its
blessing as the Evaluator's. On Vertex AI / Kubeflow, TFX's container entrypoint
rewrites an Evaluator's ``current_model_id`` into the model's runtime artifact
name, which is what the compiled latest-blessed-model query matches; a blessing
from any other executor keeps a local integer id that matches nothing there.
None of TFMA's evaluation is used: ``Do`` is our own.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

from tfx.components.evaluator import constants
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.types import artifact, artifact_utils, standard_component_specs
from tfx.dsl.io import fileio
from tfx.utils import io_utils, path_utils

from components.evaluator import evaluation
from components.example_validator import executor as validator_executor
from components.example_gen import spans
from components.example_gen.settings import gate_split
from components.model_run_files import LOSS_CURVES, TRAINING_SUMMARY  # the Trainer writes them into ModelRun
from components import typed_settings
from components.evaluator.settings import SECTION, EvaluatorSettings

# Channel and parameter names: TFX's Evaluator's (the component spec uses them too).
EXAMPLES, MODEL = standard_component_specs.EXAMPLES_KEY, standard_component_specs.MODEL_KEY
MODEL_RUN, BASELINE_MODEL = standard_component_specs.MODEL_RUN_KEY, standard_component_specs.BASELINE_MODEL_KEY
EVALUATION, BLESSING = standard_component_specs.EVALUATION_KEY, standard_component_specs.BLESSING_KEY
CUSTOM_CONFIG = standard_component_specs.CUSTOM_CONFIG_KEY
STATISTICS, ANOMALIES = standard_component_specs.STATISTICS_KEY, standard_component_specs.ANOMALIES_KEY
# Our own properties on the ModelEvaluation: where the HTML report is, and the verdict with its numbers.
REPORT_PROPERTY, SUMMARY_PROPERTY = "report", "summary"
VALIDATION_PROPERTY = validator_executor.VALIDATION_PROPERTY


class Executor(tfx_evaluator_executor.Executor):
    """Scores the model on the gate's split ("test", else "eval") and blesses it if every check passes."""

    def Do(self, input_dict: Dict[str, List[artifact.Artifact]], output_dict: Dict[str, List[artifact.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        settings = typed_settings.unpack(json.loads(exec_properties[CUSTOM_CONFIG]), SECTION, EvaluatorSettings)
        model = artifact_utils.get_single_instance(input_dict[MODEL])
        model_run = _optional(input_dict, MODEL_RUN)
        baseline_model = _optional(input_dict, BASELINE_MODEL)
        model_evaluation = artifact_utils.get_single_instance(output_dict[EVALUATION])
        blessing = artifact_utils.get_single_instance(output_dict[BLESSING])

        # The gate scores "test" when the data has it: examples neither training nor best-epoch selection saw.
        split = gate_split(artifact_utils.decode_split_names(
            artifact_utils.get_single_instance(input_dict[EXAMPLES]).split_names))
        eval_pattern = os.path.join(artifact_utils.get_split_uri(input_dict[EXAMPLES], split), "*")
        data_spans = spans.spans_of(artifact_utils.get_single_instance(input_dict[EXAMPLES]))
        # A cached Trainer hands over the model that is already the last blessed one:
        # comparing it with itself would say nothing.
        if baseline_model is not None and baseline_model.id == model.id:
            baseline_model = None
        result = evaluation.evaluate(
            eval_pattern, path_utils.serving_model_path(model.uri), model_evaluation.uri, settings,
            baseline_model_dir=path_utils.serving_model_path(baseline_model.uri) if baseline_model else None,
            loss_curves=os.path.join(model_run.uri, LOSS_CURVES) if model_run else None,
            split=split, training_summary=_training_summary(model_run), data_spans=data_spans,
            validation=_validation_result(_optional(input_dict, ANOMALIES)))

        # The custom properties TFX's Evaluator writes, which the Pusher and the resolver read.
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BLESSED_KEY,
                                         constants.BLESSED_VALUE if result.blessed else constants.NOT_BLESSED_VALUE)
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_URI_KEY, model.uri)
        blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_CURRENT_MODEL_ID_KEY, model.id)
        blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY, result.message)
        if baseline_model:
            blessing.set_string_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY, baseline_model.uri)
            blessing.set_int_custom_property(constants.ARTIFACT_PROPERTY_BASELINE_MODEL_ID_KEY, baseline_model.id)
        statistics = _optional(input_dict, STATISTICS)
        if statistics is not None:  # the data this model saw: the next run's ExampleValidator measures drift from it
            blessing.set_string_custom_property(validator_executor.DATA_STATISTICS_URI, statistics.uri)
            blessing.set_int_custom_property(validator_executor.DATA_STATISTICS_ID, statistics.id or 0)
        if data_spans:   # the next run's drift check names the span it compares with
            blessing.set_int_custom_property(spans.DATA_SPAN_PROPERTY, int(data_spans[0]["span"]))
        io_utils.write_string_file(os.path.join(
            blessing.uri, constants.BLESSED_FILE_NAME if result.blessed else constants.NOT_BLESSED_FILE_NAME), "")
        model_evaluation.set_string_custom_property(REPORT_PROPERTY, result.report_path)
        model_evaluation.set_string_custom_property(SUMMARY_PROPERTY, json.dumps(
            {"blessed": result.blessed, "num_examples": result.num_examples, "split": result.split,
             "candidate": result.candidate, "baselines": result.baselines, "training": result.training,
             "spans": result.spans}))


def _training_summary(model_run):
    """The Trainer's training.json (which epoch was exported and why), or None (older Trainers, unreadable)."""
    if model_run is None:
        return None
    path = os.path.join(model_run.uri, TRAINING_SUMMARY)
    try:
        return json.loads(io_utils.read_string_file(path)) if fileio.exists(path) else None
    except (ValueError, OSError) as error:  # the report then just does not say which epoch it is
        logging.getLogger(__name__).warning("training summary %s is unreadable (%s: %s)", path,
                                            type(error).__name__, error)
        return None


def _validation_result(anomalies):
    """The ExampleValidator's verdict (anomalies, drift) for the report, or None."""
    if anomalies is None:
        return None
    props = anomalies.mlmd_artifact.custom_properties
    try:
        return json.loads(props[VALIDATION_PROPERTY].string_value) if VALIDATION_PROPERTY in props else None
    except ValueError:
        return None


def _optional(input_dict: Dict[str, List[artifact.Artifact]], key: str):
    artifacts = input_dict.get(key) or []
    return artifacts[0] if artifacts else None
