"""Builds a version's lineage record from the Pusher's input artifacts (see ``lineage_record``).

Everything comes from what the upstream components recorded on their
artifacts or wrote beside them: ExampleGen's audit and fingerprints on the
Examples, the ExampleValidator's verdict on the anomalies, the Trainer's
training.json in the ModelRun, the Evaluator's metrics.json and blessing. The
executions that produced them are looked up in ML Metadata when the Pusher is
given a local store (the local runner passes its SQLite path); a step on Vertex
AI cannot reach the store, and the record then names the artifacts only.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Optional

from tfx.components.evaluator import constants as evaluator_constants
from tfx.dsl.io import fileio

from components.evaluator.evaluation import METRICS_FILE, SAMPLE_GRID  # the Evaluator's files, on the card
from components.example_gen import quarantine, spans
from components.example_gen.executor import FINGERPRINT_PROPERTY, INPUT_FINGERPRINT_PROPERTY
from components.example_validator.executor import VALIDATION_PROPERTY
from components.model_run_files import TRAINING_SUMMARY
from components.pusher import lineage_record as lr

log = logging.getLogger(__name__)

BLESSING_MESSAGE = evaluator_constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY
NODE_CONTEXT = "node"           # TFX's per-component context type: "<pipeline>.<node id>"


def _prop(artifact, name: str):
    props = artifact.mlmd_artifact.custom_properties
    if name not in props:
        return None
    value = props[name]
    return value.string_value if value.HasField("string_value") else value.int_value


def _json_prop(artifact, name: str) -> Optional[Any]:
    raw = _prop(artifact, name) if artifact is not None else None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _json_file(path: str) -> Optional[Any]:
    try:
        if fileio.exists(path):
            with fileio.open(path, "r") as handle:
                return json.loads(handle.read())
    except (ValueError, OSError) as error:
        log.warning("lineage: %s is unreadable (%s)", path, error)
    return None


def data_section(examples) -> Dict[str, Any]:
    audit_json = _prop(examples, quarantine.AUDIT_PROPERTY) if examples is not None else None
    audit = quarantine.IngestionAudit.from_json(audit_json) if audit_json else None
    fingerprints = _json_prop(examples, FINGERPRINT_PROPERTY) or {}
    splits = {name: {"pairs": count, "fingerprint": fingerprints.get(name)}
              for name, count in sorted((audit.examples if audit else {}).items())}
    return {"location": audit.dataset if audit else None, "layout": audit.layout if audit else None,
            "splits": splits, "quarantined": dict(sorted(audit.quarantined.items())) if audit else {},
            "quarantine_report": audit.report if audit else None,
            "input_fingerprint": _prop(examples, INPUT_FINGERPRINT_PROPERTY) if examples is not None else None,
            # [{span, version, location, role}], newest first ([] without a span pattern in data.dataset_dir)
            "spans": spans.spans_of(examples) if examples is not None else []}


def validation_section(anomalies) -> Dict[str, Any]:
    result = _json_prop(anomalies, VALIDATION_PROPERTY) or {}
    return {"schema": result.get("schema"), "schema_file": result.get("schema_file"),
            "anomalies": result.get("anomalies", {}), "drift": result.get("drift")}


def evaluation_section(evaluation, blessing) -> Dict[str, Any]:
    metrics = _json_file(os.path.join(evaluation.uri, METRICS_FILE)) if evaluation is not None else None
    metrics = metrics or {}
    return {"split": metrics.get("split"), "num_examples": metrics.get("num_examples"),
            "blessed": metrics.get("blessed"),
            "message": (_prop(blessing, BLESSING_MESSAGE) if blessing is not None else None) or metrics.get("message"),
            "candidate": metrics.get("candidate"), "baseline_model": metrics.get("baseline_model"),
            "baselines": metrics.get("baselines"), "checks": metrics.get("checks", [])}


def training_section(model_run) -> Optional[Dict[str, Any]]:
    return _json_file(os.path.join(model_run.uri, TRAINING_SUMMARY)) if model_run is not None else None


def executions_from_store(metadata_path: Optional[str], artifacts: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The executions that produced the recorded artifacts, from a local ML Metadata store (else [])."""
    if not metadata_path or "://" in metadata_path or not os.path.isfile(metadata_path):
        return []
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    try:
        store = mlmd.MetadataStore(connection)
        roles_by_id = {entry["id"]: role for role, entry in artifacts.items() if entry.get("id")}
        events = [event for event in store.get_events_by_artifact_ids(sorted(roles_by_id))
                  if event.type == metadata_store_pb2.Event.OUTPUT]
        produced: Dict[int, List[str]] = {}
        for event in events:
            produced.setdefault(event.execution_id, []).append(roles_by_id[event.artifact_id])
        types = {t.id: t.name for t in store.get_execution_types()}
        node_types = {t.id for t in store.get_context_types() if t.name == NODE_CONTEXT}
        out = []
        for execution in store.get_executions_by_id(sorted(produced)):
            nodes = [c.name for c in store.get_contexts_by_execution(execution.id)
                     if c.type_id in node_types]
            out.append({"id": execution.id, "type": types.get(execution.type_id),
                        "node": nodes[0].rsplit(".", 1)[-1] if nodes else None,
                        "produced": sorted(produced[execution.id])})
        return out
    except Exception as error:  # noqa: BLE001 - lineage must never block a push; the record says less
        log.warning("lineage: could not read executions from %s (%s: %s)", metadata_path, type(error).__name__, error)
        return []

