"""The gating ExampleValidator's executor: TFX's validation, then drift, then a verdict that can stop the run.

TFX's ExampleValidator records anomalies and lets the run go on; a user of this
pipeline expects a dataset with a missing feature or images of another kind not
to be trained on. So after TFX's own ``Do`` (every split against the curated
schema, ``SchemaDiff.pb`` per split, the ``blessed`` property), this executor
measures drift against the last blessed model's data (the statistics its
blessing names, see the Evaluator), writes ``validation.json`` and
``validation.html`` beside the anomalies, and raises ``DataValidationError``
naming each feature and anomaly. TFX discards a failed execution's outputs, so
the report of a stopped run is kept under ``<component>/failed_validation/``.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Optional

from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from tfx.components.example_validator import executor as tfx_validator_executor
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils

from components import typed_settings
from components.example_gen import spans
from components.example_validator import drift, report
from components.example_validator.settings import SECTION, DataValidationSettings

log = logging.getLogger(__name__)

STATISTICS, SCHEMA = standard_component_specs.STATISTICS_KEY, standard_component_specs.SCHEMA_KEY
ANOMALIES = standard_component_specs.ANOMALIES_KEY
BASELINE_BLESSING = "baseline_blessing"
CUSTOM_CONFIG = standard_component_specs.CUSTOM_CONFIG_KEY
SCHEMA_DIFF_FILE = "SchemaDiff.pb"         # TFX's ExampleValidator writes one per split
STATISTICS_FILE = "FeatureStats.pb"        # TFX's StatisticsGen writes one per split
VALIDATION_FILE = "validation.json"
VALIDATION_PROPERTY = "validation"         # the same JSON, on the ExampleAnomalies artifact
FAILED_RUNS_FOLDER = "failed_validation"
# On the ModelBlessing (the Evaluator sets them): the statistics of the data the blessed model saw.
DATA_STATISTICS_URI, DATA_STATISTICS_ID = "data_statistics_uri", "data_statistics_id"


class DataValidationError(RuntimeError):
    """The data failed validation: the message names each feature, its anomaly, and the report."""


def split_anomalies(anomalies: anomalies_pb2.Anomalies) -> List[Dict[str, str]]:
    """[{feature, anomaly, description}] of one split's SchemaDiff, one row per reason."""
    rows = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        for reason in info.reason or [None]:
            rows.append({"feature": feature,
                         "anomaly": (reason.short_description if reason else info.short_description) or "anomaly",
                         "description": (reason.description if reason else info.description) or ""})
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        rows.append({"feature": "(dataset)", "anomaly": info.short_description, "description": info.description})
    return rows


def load_statistics(statistics_uri: str, split: str) -> Optional[statistics_pb2.DatasetFeatureStatisticsList]:
    path = os.path.join(statistics_uri, f"Split-{split}", STATISTICS_FILE)
    if not fileio.exists(path):
        return None
    statistics = statistics_pb2.DatasetFeatureStatisticsList()
    with fileio.open(path, "rb") as handle:
        statistics.ParseFromString(handle.read())
    return statistics


def failure_message(result: Dict[str, Any], settings: DataValidationSettings, report_path: str) -> Optional[str]:
    """The error text when the data must not be trained on, else None."""
    problems = []
    if settings.stop_on_anomalies:
        for split, rows in sorted(result["anomalies"].items()):
            problems += [f"{split} split: {row['feature']}: {row['anomaly']} ({row['description']})" for row in rows]
    drifted = [row for row in result["drift"]["features"] if row["drifted"]]
    baseline_span = (result["drift"].get("baseline") or {}).get("span")
    problems += [f"{row['feature']}: drift {row['value']:.3f} > data_validation.max_drift {row['threshold']}"
                 for row in drifted]
    if drifted:
        problems.append(f"drift measured on span {result['drift'].get('span')} vs span {baseline_span}, the data "
                        "of the last blessed model" if baseline_span is not None
                        else "drift measured vs the data of the last blessed model")
    if not problems:
        return None
    advice = []
    if any(result["anomalies"].values()):
        advice.append(f"if the data changed on purpose, update the curated schema "
                      f"({result['schema_file']}; `python -m pipeline schema` drafts one)")
    if drifted:
        advice.append("accept a deliberate change of data with --set data_validation.max_drift=null")
    return (f"data validation stopped the run before training: {'; '.join(problems)}. "
            f"Validation report: {report_path}. {'; '.join(advice)}".rstrip())


class Executor(tfx_validator_executor.Executor):
    """TFX's ExampleValidator, then drift against the last blessed model's data, then stop or go."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]):
        settings = typed_settings.unpack(json.loads(exec_properties[CUSTOM_CONFIG]), SECTION, DataValidationSettings)
        result_proto = super().Do({STATISTICS: input_dict[STATISTICS], SCHEMA: input_dict[SCHEMA]}, output_dict,
                                  {standard_component_specs.EXCLUDE_SPLITS_KEY: "[]"})
        anomalies_artifact = artifact_utils.get_single_instance(output_dict[ANOMALIES])
        statistics_artifact = artifact_utils.get_single_instance(input_dict[STATISTICS])
        schema_uri = artifact_utils.get_single_uri(input_dict[SCHEMA])
        schema = io_utils.SchemaReader().read(io_utils.get_only_uri_in_dir(schema_uri))

        anomalies = {}
        for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
            diff = anomalies_pb2.Anomalies()
            with fileio.open(os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split),
                                          SCHEMA_DIFF_FILE), "rb") as handle:
                diff.ParseFromString(handle.read())
            anomalies[split] = split_anomalies(diff)

        result = {"schema_file": settings.schema_file, "schema": schema_uri,
                  "statistics": {"id": statistics_artifact.id, "uri": statistics_artifact.uri},
                  "anomalies": anomalies,
                  "drift": self._drift(input_dict, statistics_artifact, schema, settings)}
        anomalies_artifact.set_string_custom_property(VALIDATION_PROPERTY, json.dumps(result, sort_keys=True))
        # TFX's Do returned a copy of the artifact taken before this property: the launcher publishes that copy.
        published = result_proto.output_artifacts[ANOMALIES].artifacts
        del published[:]
        published.append(anomalies_artifact.mlmd_artifact)
        io_utils.write_string_file(os.path.join(anomalies_artifact.uri, VALIDATION_FILE),
                                   json.dumps(result, indent=2, sort_keys=True))
        page = report.write_validation_report(anomalies_artifact.uri, result)
        message = failure_message(result, settings, page)
        if message:
            kept = _keep_report_of_failed_run(anomalies_artifact.uri)
            message = message.replace(page, kept)
            log.error("%s", message)
            raise DataValidationError(message)
        log.info("data validation passed: no anomalies; drift %s", ", ".join(
            f"{row['feature']} {row['value']:.3f}" for row in result["drift"]["features"]) or "not measured")
        return result_proto

    @staticmethod
    def _drift(input_dict, statistics_artifact, schema, settings: DataValidationSettings) -> Dict[str, Any]:
        """The drift section of validation.json; measured when the last blessed model's statistics are at hand."""
        section: Dict[str, Any] = {"baseline": None, "max_drift": settings.max_drift, "split": settings.drift_split,
                                   "features": [], "note": "",
                                   "span": statistics_artifact.span if statistics_artifact.span else None}
        blessings = input_dict.get(BASELINE_BLESSING) or []
        if not blessings:
            section["note"] = "no blessed model yet: nothing to compare with"
            return section
        blessing = blessings[0]
        props = blessing.mlmd_artifact.custom_properties
        baseline_uri = props[DATA_STATISTICS_URI].string_value if DATA_STATISTICS_URI in props else ""
        section["baseline"] = {"model_blessing_id": blessing.id, "statistics_uri": baseline_uri or None,
                               "statistics_id": props[DATA_STATISTICS_ID].int_value
                               if DATA_STATISTICS_ID in props else None,
                               # with spans: the newest span of the blessed model's data (the previous span,
                               # unless runs since were not blessed or were stopped)
                               "span": props[spans.DATA_SPAN_PROPERTY].int_value
                               if spans.DATA_SPAN_PROPERTY in props else None}
        if not baseline_uri:
            section["note"] = "the last blessed model's blessing names no data statistics (an older run)"
            return section
        previous = load_statistics(baseline_uri, settings.drift_split)
        current = load_statistics(statistics_artifact.uri, settings.drift_split)
        if previous is None or current is None:
            section["note"] = (f"no {settings.drift_split} statistics in "
                               f"{baseline_uri if previous is None else statistics_artifact.uri}")
            return section
        if statistics_artifact.id and statistics_artifact.id == section["baseline"]["statistics_id"]:
            section["note"] = "the same statistics as the last blessed model's (a cached run)"
        section["features"] = [row.as_dict() for row in drift.measure(
            current, previous, schema, settings.drift_features, settings.max_drift,
            min_examples=settings.min_drift_examples)]
        return section


def _keep_report_of_failed_run(anomalies_uri: str) -> str:
    """TFX deletes a failed component's outputs: keep the report beside them, return the page's path."""
    output_dir, execution = os.path.split(anomalies_uri.rstrip("/"))
    kept = os.path.join(os.path.dirname(output_dir), FAILED_RUNS_FOLDER, execution)
    fileio.makedirs(kept)
    for name in (VALIDATION_FILE, report.REPORT_FILE):
        fileio.copy(os.path.join(anomalies_uri, name), os.path.join(kept, name), overwrite=True)
    return os.path.join(kept, report.REPORT_FILE)
