"""CuratedSchemaImporter: the curated schema's text as an execution parameter, written as a Schema artifact.

TFX's ImportSchemaGen takes a path: its cache key is the path, so an edited
schema file would be ignored by a cached run, and a compiled pipeline would need
the file at the same path in the container. Carrying the text makes both right:
a changed schema is a new execution, and the compiled spec is self-contained.
"""
from typing import Any, Dict, List

from tfx import types
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils

SCHEMA_TEXT, SCHEMA = "schema_text", "schema"
SCHEMA_FILE_NAME = "schema.pbtxt"   # what TFX's SchemaGen writes, and what Transform and the Trainer look for


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        from components.example_validator import schema_file

        schema = schema_file.parse(exec_properties[SCHEMA_TEXT], "the curated schema (data_validation.schema_file)")
        io_utils.write_pbtxt_file(f"{artifact_utils.get_single_uri(output_dict[SCHEMA])}/{SCHEMA_FILE_NAME}", schema)


class CuratedSchemaImporterSpec(types.ComponentSpec):
    PARAMETERS = {SCHEMA_TEXT: ExecutionParameter(type=str)}
    INPUTS: Dict[str, ChannelParameter] = {}
    OUTPUTS = {SCHEMA: ChannelParameter(type=standard_artifacts.Schema)}


class CuratedSchemaImporter(base_component.BaseComponent):
    SPEC_CLASS = CuratedSchemaImporterSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, schema_text: str):
        super().__init__(spec=CuratedSchemaImporterSpec(
            schema_text=schema_text, schema=types.Channel(type=standard_artifacts.Schema)))
