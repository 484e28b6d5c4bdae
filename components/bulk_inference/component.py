"""BatchTranslator: translates one split with the pushed generator; its outputs are an InferenceResult."""
import json
from typing import Any, Dict

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.bulk_inference import executor


class BatchTranslatorSpec(types.ComponentSpec):
    PARAMETERS = {executor.CUSTOM_CONFIG: ExecutionParameter(type=str)}
    INPUTS = {
        executor.EXAMPLES: ChannelParameter(type=standard_artifacts.Examples),
        executor.MODEL: ChannelParameter(type=standard_artifacts.Model),
        executor.PUSHED_MODEL: ChannelParameter(type=standard_artifacts.PushedModel),  # after the push, if pushed
    }
    OUTPUTS = {executor.RESULT: ChannelParameter(type=standard_artifacts.InferenceResult)}


class BatchTranslator(base_component.BaseComponent):
    SPEC_CLASS = BatchTranslatorSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel, pushed_model: types.BaseChannel,
                 custom_config: Dict[str, Any]):
        super().__init__(spec=BatchTranslatorSpec(
            examples=examples, model=model, pushed_model=pushed_model,
            custom_config=json.dumps(custom_config, sort_keys=True),
            inference_result=types.Channel(type=standard_artifacts.InferenceResult)))
