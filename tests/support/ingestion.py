"""Runs the real ExampleGen executor (``Do``, Beam DirectRunner) on a folder and reads back what it wrote."""
import dataclasses
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
import yaml
from google.protobuf import json_format
from tfx.components.example_gen import driver as tfx_driver
from tfx.dsl.components.base import base_beam_executor
from tfx.types import standard_artifacts

from components import features, typed_settings
from components.example_gen import component, driver, executor, quarantine, spans
from pipeline import dataset
from tests.support import paths

ROOT = paths.ROOT
DEFAULT_CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
EXECUTION_ID = "1"


def data_section(**overrides) -> dict:
    """The default config's data section with ``overrides`` (top-level keys of the section)."""
    with open(DEFAULT_CONFIG, encoding="utf-8") as handle:
        section = yaml.safe_load(handle)["data"]
    section.update(overrides)
    return section


def example_gen(dataset_dir, data: dict):
    """The ExampleGen as the local runner builds it from a data section: split_mode resolved, runner keys dropped."""
    settings = typed_settings.build(dataset.DataSection, {**data, "dataset_dir": str(dataset_dir)}, "data")
    location = spans.parse(str(dataset_dir))
    folder = spans.resolve(location, settings.spans.pinned).root if location else str(dataset_dir)
    settings = dataset.resolved_split_mode(settings, folder)
    return component.create_paired_image_example_gen(typed_settings.pack(data=settings.example_gen_settings()))


def exec_properties_of(gen) -> dict:
    """What TFX hands the executor: proto-valued properties as JSON strings."""
    return {key: json_format.MessageToJson(value) if hasattr(value, "DESCRIPTOR") else value
            for key, value in gen.exec_properties.items() if value is not None}


@dataclasses.dataclass
class ExampleGenRun:
    audit: Optional[quarantine.IngestionAudit]
    rows: List[Dict[str, str]]                 # quarantine.csv
    examples: Dict[str, List[tf.train.Example]]
    error: Optional[Exception]
    examples_uri: str
    artifact: Any = None                        # the Examples artifact, its properties set by Do

    def reasons_by_file(self, dataset_dir) -> Dict[str, str]:
        """{path relative to the dataset (``#n`` kept for records): reason}."""
        prefix = str(dataset_dir).rstrip("/") + "/"
        return {row["file"][len(prefix):] if row["file"].startswith(prefix) else row["file"]: row["reason"]
                for row in self.rows}

    def ids(self, split: str) -> List[str]:
        return sorted(pair_id(e) for e in self.examples.get(split, []))

    def by_id(self) -> Dict[str, tf.train.Example]:
        return {pair_id(e): e for split in self.examples.values() for e in split}


def pair_id(example: tf.train.Example) -> str:
    return example.features.feature[features.PAIR_ID_KEY].bytes_list.value[0].decode()


def image_bytes(example: tf.train.Example, key: str) -> bytes:
    return example.features.feature[key].bytes_list.value[0]


def read_split(examples_uri: str, split: str) -> List[tf.train.Example]:
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    return [tf.train.Example.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")]


def run_example_gen(dataset_dir, work_dir, beam_args: Optional[List[str]] = None, expect_failure: bool = False,
                    **data_overrides) -> ExampleGenRun:
    """Builds the component from a data section, runs its executor's Do, reads the outputs."""
    gen = example_gen(dataset_dir, data_section(**data_overrides))
    examples = standard_artifacts.Examples()
    examples.uri = os.path.join(str(work_dir), "ExampleGen", "examples", EXECUTION_ID)
    context = base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=beam_args or [], tmp_dir=str(work_dir))
    error = None
    try:
        properties = exec_properties_of(gen)
        if spans.parse(str(dataset_dir)):   # TFX's driver resolves the span before the executor runs
            properties = driver.PairedImageDriver(None).resolve_exec_properties(properties, None, None)
            tfx_driver.update_output_artifact(properties, examples.mlmd_artifact)   # span, version
        executor.Executor(context).Do({}, {"examples": [examples]}, properties)
    except executor.IngestionError as caught:
        if not expect_failure:
            raise
        error = caught
    if expect_failure and error is None:
        raise AssertionError("the ExampleGen was expected to fail")
    report_dir = (os.path.join(str(work_dir), "ExampleGen", executor.FAILED_RUNS_FOLDER, EXECUTION_ID) if error
                  else os.path.join(examples.uri, quarantine.REPORT_FOLDER))
    with open(os.path.join(report_dir, quarantine.REPORT_FILE), encoding="utf-8") as handle:
        rows = quarantine.read_report(handle.read())
    with open(os.path.join(report_dir, quarantine.SUMMARY_FILE), encoding="utf-8") as handle:
        audit = quarantine.IngestionAudit.from_json(handle.read())
    splits = [] if error else [name for name in os.listdir(examples.uri) if name.startswith("Split-")]
    return ExampleGenRun(audit=audit, rows=rows, error=error, examples_uri=examples.uri, artifact=examples,
                         examples={name[len("Split-"):]: read_split(examples.uri, name[len("Split-"):])
                                   for name in splits})
