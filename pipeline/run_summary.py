"""What the last run did, read back from ML Metadata: metrics, blessing, push.

Reads the newest ``pipeline_run`` context of the pipeline (cached executions
are recorded in it too), so the summary reflects what MLMD knows, not what the
runner happened to print.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components.example_gen import quarantine  # stdlib only: the ExampleGen's audit format
from components.evaluator.report import REPORT_FILENAME
from pipeline.config import Config

PIPELINE_CONTEXT = "pipeline"
PIPELINE_RUN_CONTEXT = "pipeline_run"
SUMMARY_METRICS = ("l1", "psnr", "ssim")


@dataclasses.dataclass
class RunSummary:
    run_id: str
    blessed: Optional[bool]
    blessing_message: str
    pushed_model: Optional[str]
    model_uri: Optional[str]
    model_run_uri: Optional[str]
    evaluation_uri: Optional[str]
    report: Optional[str]
    metrics: Dict
    ingestion: Optional[str] = None  # ExampleGen's counts and quarantine report (IngestionAudit.describe)

    def lines(self) -> List[str]:
        out = [f"== pix2pix-tfx run {self.run_id} =="]
        if self.ingestion:
            out.append(f"data: {self.ingestion}")
        if self.model_uri:
            out.append(f"model: {self.model_uri}")
        if self.model_run_uri:
            out.append(f"training run: {self.model_run_uri} (loss_curves.png, samples/, tensorboard/)")
        out.extend(_metric_table(self.metrics))
        verdict = {True: "BLESSED", False: "NOT BLESSED", None: "unknown (no blessing recorded)"}[self.blessed]
        out.append(f"blessing: {verdict}: {self.blessing_message}")
        if self.pushed_model:
            out.append(f"pushed_model: {self.pushed_model}")
        else:
            out.append("pushed_model: none (the model was not blessed, so the serving model is unchanged)")
        if self.report:
            out.append(f"report: {self.report}")
        return out


def _metric_table(metrics: Dict) -> List[str]:
    if not metrics:
        return []
    columns = [("candidate", metrics.get("candidate") or {})]
    if metrics.get("baseline_model"):
        columns.append(("last blessed", metrics["baseline_model"]))
    columns += [(name, stats) for name, stats in (metrics.get("baselines") or {}).items()]
    out = [f"eval metrics on {metrics.get('num_examples', '?')} examples (mean):",
           "  " + f"{'metric':<8}" + "".join(f"{name[:26]:>28}" for name, _ in columns)]
    for metric in SUMMARY_METRICS:
        cells = "".join(f"{stats.get(metric, {}).get('mean', float('nan')):>28.4f}" for _, stats in columns)
        out.append(f"  {metric:<8}{cells}")
    return out


def summarize_latest_run(config: Config, connection_config) -> RunSummary:
    store = mlmd.MetadataStore(connection_config)
    pipeline_context = store.get_context_by_type_and_name(PIPELINE_CONTEXT, config.pipeline.name)
    if pipeline_context is None:
        raise RuntimeError(f"no run of pipeline {config.pipeline.name!r} recorded in ML Metadata")
    pipeline_executions = {e.id for e in store.get_executions_by_context(pipeline_context.id)}
    runs = [c for c in store.get_contexts_by_type(PIPELINE_RUN_CONTEXT)
            if {e.id for e in store.get_executions_by_context(c.id)} & pipeline_executions]
    run = max(runs, key=lambda c: (c.create_time_since_epoch, c.id))
    executions = store.get_executions_by_context(run.id)
    outputs = _output_artifacts_by_type(store, [e.id for e in executions])

    blessing = _first(outputs.get("ModelBlessing"))
    pushed = _first(outputs.get("PushedModel"))
    evaluation = _first(outputs.get("ModelEvaluation"))
    model = _first(outputs.get("Model"))
    model_run = _first(outputs.get("ModelRun"))
    ingestion = _ingestion_line(_first(outputs.get("Examples")))
    blessed = None if blessing is None else bool(_int_prop(blessing, "blessed"))
    pushed_path = None
    if pushed is not None and _int_prop(pushed, "pushed"):
        pushed_path = _str_prop(pushed, "pushed_destination")
    metrics = json.loads(_str_prop(evaluation, "summary") or "{}") if evaluation else {}
    report = _publish_report(evaluation.uri, config.resolve(config.pipeline.report_dir)) if evaluation else None
    return RunSummary(run_id=run.name, blessed=blessed,
                      blessing_message=_str_prop(blessing, "blessing_message") if blessing else "",
                      pushed_model=pushed_path, model_uri=model.uri if model else None,
                      model_run_uri=model_run.uri if model_run else None,
                      evaluation_uri=evaluation.uri if evaluation else None, report=report, metrics=metrics,
                      ingestion=ingestion)


def _ingestion_line(examples) -> Optional[str]:
    """What the ExampleGen kept and quarantined, from the audit on its Examples artifact."""
    audit_json = _str_prop(examples, quarantine.AUDIT_PROPERTY) if examples is not None else ""
    if not audit_json:
        return None
    audit = quarantine.IngestionAudit.from_json(audit_json)
    return f"{audit.describe()}; quarantine report: {audit.report}"


def _output_artifacts_by_type(store, execution_ids) -> Dict[str, list]:
    events = [e for e in store.get_events_by_execution_ids(execution_ids)
              if e.type in (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    artifacts = store.get_artifacts_by_id(sorted({e.artifact_id for e in events}))
    types = {t.id: t.name for t in store.get_artifact_types()}
    by_type: Dict[str, list] = {}
    for artifact in sorted(artifacts, key=lambda a: a.id, reverse=True):  # newest first
        by_type.setdefault(types[artifact.type_id], []).append(artifact)
    return by_type


def _first(items):
    return items[0] if items else None


def _int_prop(artifact, name: str) -> int:
    return artifact.custom_properties[name].int_value if name in artifact.custom_properties else 0


def _str_prop(artifact, name: str) -> str:
    return artifact.custom_properties[name].string_value if name in artifact.custom_properties else ""


def _publish_report(evaluation_uri: str, report_dir: str) -> Optional[str]:
    """Copies the evaluation folder to a stable path (staged, then swapped in)."""
    if not os.path.isdir(evaluation_uri):
        return None
    staging = f"{report_dir}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(evaluation_uri, staging)
    previous = f"{report_dir}.previous"
    shutil.rmtree(previous, ignore_errors=True)
    if os.path.exists(report_dir):
        os.replace(report_dir, previous)
    os.replace(staging, report_dir)
    shutil.rmtree(previous, ignore_errors=True)
    return os.path.join(report_dir, REPORT_FILENAME)
