"""AtomicPusher: TFX's Pusher (same parameters, inputs and output) with the atomic executor, plus optional
inputs that let it write each version's lineage record and model card (``lineage_builder``)."""
from typing import Any, Dict, Optional

from tfx import types
from tfx.components import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import json_utils

from components.pusher import executor, lineage_record as lr

# Role -> artifact type of the inputs the lineage record names (beyond TFX's model and model_blessing).
LINEAGE_INPUTS = {
    lr.EXAMPLES: standard_artifacts.Examples, lr.STATISTICS: standard_artifacts.ExampleStatistics,
    lr.SCHEMA: standard_artifacts.Schema, lr.ANOMALIES: standard_artifacts.ExampleAnomalies,
    lr.TRANSFORM_GRAPH: standard_artifacts.TransformGraph, lr.MODEL_RUN: standard_artifacts.ModelRun,
    lr.MODEL_EVALUATION: standard_artifacts.ModelEvaluation, lr.BASELINE_MODEL: standard_artifacts.Model,
}


class LineagePusherSpec(standard_component_specs.PusherSpec):
    INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
              **{role: ChannelParameter(type=artifact_type, optional=True)
                 for role, artifact_type in LINEAGE_INPUTS.items()}}


class AtomicPusher(Pusher):
    """Publishes ``<base>/<version>/`` only when complete, safely beside concurrent pushes; keeps the newest
    versions and every version TF Serving's model config or ``pinned_versions`` pins; each version carries
    ``assets.extra/lineage.json`` and ``assets.extra/model_card.html``."""

    SPEC_CLASS = LineagePusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, model: types.BaseChannel, model_blessing: types.BaseChannel,
                 push_destination, custom_config: Dict[str, Any],
                 infra_blessing: Optional[types.BaseChannel] = None,
                 lineage: Optional[Dict[str, types.BaseChannel]] = None):
        unknown = set(lineage or {}) - set(LINEAGE_INPUTS)
        if unknown:
            raise ValueError(f"lineage inputs: unknown role(s) {sorted(unknown)}; expected {sorted(LINEAGE_INPUTS)}")
        spec = LineagePusherSpec(
            model=model, model_blessing=model_blessing, infra_blessing=infra_blessing,
            push_destination=push_destination, custom_config=json_utils.dumps(custom_config),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel), **(lineage or {}))
        super(Pusher, self).__init__(spec=spec)  # Pusher.__init__ would build TFX's own spec, without our inputs
