"""The lineage record each pushed version carries: ``assets.extra/lineage.json``.

TF Serving ignores ``assets.extra/``, and it travels with the version to gs://
or a serving host, so a served model explains itself without ML Metadata. The
Pusher builds the record from its input artifacts (each one's MLMD id, type and
URI, and what the producing components wrote on them), then writes it and the
model card into the version before the version is published.

Record layout (``RECORD_VERSION`` 1; every key always present, null when unknown)::

    record, record_version, created (ISO-8601 UTC)
    served:     model_name, version (int), path
    pipeline:   name, root, run_id, metadata_path (local SQLite store, or null)
    code:       commit, dirty, source ("git" | "PIX2PIX_CODE_VERSION" | "unknown")
    versions:   python, tfx, tensorflow, tensorflow_transform, tensorflow_data_validation, apache_beam, ml_metadata
    data:       location, layout, splits {name: {pairs, fingerprint}}, quarantined {reason: count},
                quarantine_report, input_fingerprint (TFX's, of the source files),
                spans [{span, version, location, role ("newest" | "earlier_train")}] ([] without a pattern)
    validation: schema (URI), schema_file, anomalies {split: [{feature, anomaly, description}]},
                drift {baseline {model_blessing_id, statistics_uri, statistics_id, span}, max_drift, split,
                       span, features [{feature, value, threshold, drifted, note}], note}
    training:   the Trainer's training.json (epochs, steps, seconds, exported epoch and why)
    evaluation: split, num_examples, blessed, message, candidate, baseline_model, baselines, checks
    config:     the whole resolved pipeline config
    mlmd:       artifacts {role: {id, type, uri}}, executions [{id, type, node, produced [roles]}]
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from typing import Any, Dict, List, Optional

RECORD_NAME = "pix2pix-tfx lineage"
RECORD_VERSION = 1
ASSETS_EXTRA = "assets.extra"
LINEAGE_FILE = "lineage.json"          # <version>/assets.extra/lineage.json
MODEL_CARD_FILE = "model_card.html"    # <version>/assets.extra/model_card.html
LINEAGE_KEY = "lineage"  # the Pusher's custom_config["lineage"]: {config, pipeline {name, root}, metadata_path, project_dir}
CODE_VERSION_ENV = "PIX2PIX_CODE_VERSION"  # set in the container image, where there is no .git

# Artifact roles: the Pusher's input channel names, and the record's mlmd.artifacts keys.
EXAMPLES, STATISTICS, SCHEMA, ANOMALIES = "examples", "statistics", "schema", "anomalies"
TRANSFORM_GRAPH, MODEL, MODEL_RUN = "transform_graph", "model", "model_run"
MODEL_EVALUATION, MODEL_BLESSING, BASELINE_MODEL = "model_evaluation", "model_blessing", "baseline_model"
ROLES = (EXAMPLES, STATISTICS, SCHEMA, ANOMALIES, TRANSFORM_GRAPH, MODEL, MODEL_RUN, MODEL_EVALUATION,
         MODEL_BLESSING, BASELINE_MODEL)
PACKAGES = ("tfx", "tensorflow", "tensorflow_transform", "tensorflow_data_validation", "apache_beam", "ml_metadata")


def lineage_path(version_dir: str) -> str:
    return os.path.join(version_dir, ASSETS_EXTRA, LINEAGE_FILE)


def model_card_path(version_dir: str) -> str:
    return os.path.join(version_dir, ASSETS_EXTRA, MODEL_CARD_FILE)


def artifact_entry(artifact) -> Dict[str, Any]:
    """{id, type, uri} of a TFX artifact (id is None for one ML Metadata has not registered)."""
    return {"id": int(artifact.id) if artifact.id else None, "type": artifact.type_name, "uri": artifact.uri}


def code_version(project_dir: str) -> Dict[str, Any]:
    """The git commit of the running code (and whether the tree had changes), else the image's env value."""
    try:
        commit = subprocess.run(["git", "-C", project_dir, "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "-C", project_dir, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return {"commit": commit, "dirty": bool(status.strip()), "source": "git"}
    except (OSError, subprocess.SubprocessError):
        pass
    from_env = os.environ.get(CODE_VERSION_ENV)
    if from_env:
        return {"commit": from_env, "dirty": None, "source": CODE_VERSION_ENV}
    return {"commit": None, "dirty": None, "source": "unknown"}


def package_versions() -> Dict[str, Optional[str]]:
    import importlib

    versions: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = getattr(importlib.import_module(name), "__version__", None)
        except ImportError:
            versions[name] = None
    return versions


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def build_record(*, served: Dict[str, Any], pipeline: Dict[str, Any], code: Dict[str, Any],
                 data: Dict[str, Any], validation: Dict[str, Any], training: Optional[Dict[str, Any]],
                 evaluation: Dict[str, Any], config: Dict[str, Any], artifacts: Dict[str, Dict[str, Any]],
                 executions: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {"record": RECORD_NAME, "record_version": RECORD_VERSION, "created": now_iso(),
            "served": served, "pipeline": pipeline, "code": code, "versions": package_versions(),
            "data": data, "validation": validation, "training": training, "evaluation": evaluation,
            "config": config, "mlmd": {"artifacts": artifacts, "executions": executions}}


class LineageRecordError(ValueError):
    """A lineage.json that is missing, unreadable or not a record of this project's format."""


def read_record(version_dir: str) -> Dict[str, Any]:
    """The record of a version folder, checked for its name and version."""
    path = lineage_path(version_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except FileNotFoundError:
        raise LineageRecordError(f"{path}: no lineage record (pushed before lineage records existed, or not "
                                 "by this project's Pusher)") from None
    except (OSError, ValueError) as error:
        raise LineageRecordError(f"{path}: unreadable lineage record ({type(error).__name__}: {error})") from None
    if not isinstance(record, dict) or record.get("record") != RECORD_NAME:
        raise LineageRecordError(f"{path}: not a {RECORD_NAME!r} record")
    if record.get("record_version") != RECORD_VERSION:
        raise LineageRecordError(f"{path}: record_version {record.get('record_version')!r}; this code reads "
                                 f"{RECORD_VERSION}")
    return record
