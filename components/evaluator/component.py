"""ImageQualityEvaluator: a TFX component that emits the standard Evaluator artifacts.

TFX's Evaluator/TFMA is built for scalar predictions; image-to-image quality
(L1, PSNR, SSIM over whole images) is simpler and faster as a custom component.
It writes the same artifact types as TFX's Evaluator: a ``ModelEvaluation`` and
a ``ModelBlessing`` with the ``blessed``/``current_model_id`` custom properties
that TFX's Pusher and ``LatestBlessedModelStrategy`` read, so both work unchanged,
locally and on Vertex AI (see ``executor``).
"""
import json
from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.evaluator import executor


class ImageQualityEvaluatorSpec(types.ComponentSpec):
    # custom_config as TFX's own Trainer and Pusher carry it: a JSON object, here {"evaluator": section}.
    PARAMETERS = {executor.CUSTOM_CONFIG: ExecutionParameter(type=str)}
    INPUTS = {
        executor.EXAMPLES: ChannelParameter(type=standard_artifacts.Examples),
        executor.MODEL: ChannelParameter(type=standard_artifacts.Model),
        executor.MODEL_RUN: ChannelParameter(type=standard_artifacts.ModelRun, optional=True),
        executor.BASELINE_MODEL: ChannelParameter(type=standard_artifacts.Model, optional=True),
        # The data's statistics (named on the blessing: the next run's drift baseline) and its validation.
        executor.STATISTICS: ChannelParameter(type=standard_artifacts.ExampleStatistics, optional=True),
        executor.ANOMALIES: ChannelParameter(type=standard_artifacts.ExampleAnomalies, optional=True),
    }
    OUTPUTS = {
        executor.EVALUATION: ChannelParameter(type=standard_artifacts.ModelEvaluation),
        executor.BLESSING: ChannelParameter(type=standard_artifacts.ModelBlessing),
    }


class ImageQualityEvaluator(base_component.BaseComponent):
    """Scores ``model`` on the eval split and blesses it if all thresholds pass."""

    SPEC_CLASS = ImageQualityEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)  # a Beam executor, as TFX's Evaluator is

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, custom_config: Dict[str, Any],
                 model_run: Optional[types.BaseChannel] = None,
                 baseline_model: Optional[types.BaseChannel] = None,
                 statistics: Optional[types.BaseChannel] = None, anomalies: Optional[types.BaseChannel] = None):
        super().__init__(spec=ImageQualityEvaluatorSpec(
            examples=examples, model=model, model_run=model_run, baseline_model=baseline_model,
            statistics=statistics, anomalies=anomalies,
            custom_config=json.dumps(custom_config, sort_keys=True),
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing)))
