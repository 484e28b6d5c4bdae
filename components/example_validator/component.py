"""GatingExampleValidator: TFX's ExampleValidator (same anomalies artifact) that also measures drift and
stops the run on anomalies or drift, before Transform and the Trainer (see ``executor``)."""
import json
from typing import Any, Dict, Optional

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.example_validator import executor


class GatingExampleValidatorSpec(types.ComponentSpec):
    PARAMETERS = {executor.CUSTOM_CONFIG: ExecutionParameter(type=str)}
    INPUTS = {
        executor.STATISTICS: ChannelParameter(type=standard_artifacts.ExampleStatistics),
        executor.SCHEMA: ChannelParameter(type=standard_artifacts.Schema),
        # The last blessed model's blessing: it names the statistics of the data that model saw.
        executor.BASELINE_BLESSING: ChannelParameter(type=standard_artifacts.ModelBlessing, optional=True),
    }
    OUTPUTS = {executor.ANOMALIES: ChannelParameter(type=standard_artifacts.ExampleAnomalies)}


class GatingExampleValidator(base_component.BaseComponent):
    SPEC_CLASS = GatingExampleValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)

    def __init__(self, statistics: types.BaseChannel, schema: types.BaseChannel, custom_config: Dict[str, Any],
                 baseline_blessing: Optional[types.BaseChannel] = None):
        super().__init__(spec=GatingExampleValidatorSpec(
            statistics=statistics, schema=schema, baseline_blessing=baseline_blessing,
            custom_config=json.dumps(custom_config, sort_keys=True),
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies)))
