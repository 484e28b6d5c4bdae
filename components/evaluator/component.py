"""ImageQualityEvaluator: a TFX component that emits the standard Evaluator artifacts.

TFX's Evaluator/TFMA is built for scalar predictions; image-to-image quality
(L1, PSNR, SSIM over whole images) is simpler and faster as a custom component.
It writes the same artifact types as TFX's Evaluator: a ``ModelEvaluation`` and
a ``ModelBlessing`` with the ``blessed``/``current_model_id`` custom properties
that TFX's Pusher and ``LatestBlessedModelStrategy`` read, so both work unchanged.
"""

import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils, path_utils

from components.evaluator import executor
from components.trainer.run_fn import LOSS_CURVES  # the Trainer writes it into ModelRun
from pipeline.config import EvaluatorSettings, section_from_dict

EVAL_SPLIT = "eval"
BLESSED_FILE, NOT_BLESSED_FILE = "BLESSED", "NOT_BLESSED"


@component
def ImageQualityEvaluator(  # pylint: disable=invalid-name
        examples: InputArtifact[standard_artifacts.Examples],
        model: InputArtifact[standard_artifacts.Model],
        evaluation: OutputArtifact[standard_artifacts.ModelEvaluation],
        blessing: OutputArtifact[standard_artifacts.ModelBlessing],
        evaluator_config: Parameter[str],
        model_run: InputArtifact[standard_artifacts.ModelRun] = None,
        baseline_model: InputArtifact[standard_artifacts.Model] = None,
) -> None:
    """Scores ``model`` on the eval split and blesses it if all thresholds pass."""
    settings = section_from_dict(EvaluatorSettings, json.loads(evaluator_config), "evaluator")
    eval_pattern = os.path.join(artifact_utils.get_split_uri([examples], EVAL_SPLIT), "*")
    # A cached Trainer hands over the model that is already the last blessed one:
    # comparing it with itself would say nothing.
    if baseline_model is not None and baseline_model.id == model.id:
        baseline_model = None
    result = executor.evaluate(
        eval_pattern, path_utils.serving_model_path(model.uri), evaluation.uri, settings,
        baseline_model_dir=path_utils.serving_model_path(baseline_model.uri) if baseline_model else None,
        loss_curves=os.path.join(model_run.uri, LOSS_CURVES) if model_run else None)

    blessing.set_int_custom_property("blessed", int(result.blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("blessing_message", result.message)
    if baseline_model:
        blessing.set_string_custom_property("baseline_model", baseline_model.uri)
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    io_utils.write_string_file(
        os.path.join(blessing.uri, BLESSED_FILE if result.blessed else NOT_BLESSED_FILE), "")
    evaluation.set_string_custom_property("report", result.report_path)
    evaluation.set_string_custom_property("summary", json.dumps(
        {"blessed": result.blessed, "num_examples": result.num_examples, "candidate": result.candidate,
         "baselines": result.baselines}))

