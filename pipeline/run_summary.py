"""What the last run did, read back from ML Metadata: metrics, blessing, push.

Reads the newest ``pipeline_run`` context of the pipeline (cached executions
are recorded in it too), so the summary reflects what MLMD knows, not what the
runner happened to print.
"""
from __future__ import annotations

import dataclasses
import html
import json
import os
import shutil
from typing import Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator import constants as evaluator_constants

from components import model_run_files
from components.bulk_inference import executor as bulk
from components.example_gen import quarantine  # stdlib only: the ExampleGen's audit format
from components.example_gen import spans
from components.evaluator.executor import SUMMARY_PROPERTY
from components.evaluator.report import REPORT_FILENAME
from components.pusher.executor import PUSHED_DESTINATION_KEY, PUSHED_KEY
from pipeline import output_paths
from pipeline.config import Config

PIPELINE_CONTEXT = "pipeline"
PIPELINE_RUN_CONTEXT = "pipeline_run"
SUMMARY_METRICS = ("l1", "psnr", "ssim")
PUSHED_MODEL_TYPE = "PushedModel"
BULK_SHEET_NAME = "bulk_inference_contact_sheet.png"   # in the published report folder


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
    bulk_inference: Optional[str] = None  # BatchTranslator's counts and contact sheet
    spans: Optional[str] = None      # with a span pattern: the spans ingested (newest first)

    def lines(self) -> List[str]:
        out = [f"== pix2pix-tfx run {self.run_id} =="]
        if self.spans:
            out.append(f"spans: {self.spans}")
        if self.ingestion:
            out.append(f"data: {self.ingestion}")
        if self.model_uri:
            out.append(f"model: {self.model_uri}")
        if self.model_run_uri:
            out.append(f"training run: {self.model_run_uri} ({model_run_files.LOSS_CURVES}, "
                       f"{model_run_files.SAMPLES_DIR}/, {model_run_files.TENSORBOARD_DIR}/)")
        out.extend(_metric_table(self.metrics))
        training = self.metrics.get("training") if self.metrics else None
        if training:
            out.append(f"exported epoch: {training.get('exported_epoch')} of {training.get('total_epochs')} "
                       f"({training.get('reason')})")
        verdict = {True: "BLESSED", False: "NOT BLESSED", None: "unknown (no blessing recorded)"}[self.blessed]
        out.append(f"blessing: {verdict}: {self.blessing_message}")
        if self.pushed_model:
            out.append(f"pushed_model: {self.pushed_model}")
        else:
            out.append("pushed_model: none (the model was not blessed, so the serving model is unchanged)")
        if self.report:
            out.append(f"report: {self.report}")
        if self.bulk_inference:
            out.append(f"bulk inference: {self.bulk_inference}")
        return out


def _metric_table(metrics: Dict) -> List[str]:
    if not metrics:
        return []
    columns = [("candidate", metrics.get("candidate") or {})]
    if metrics.get("baseline_model"):
        columns.append(("last blessed", metrics["baseline_model"]))
    columns += [(name, stats) for name, stats in (metrics.get("baselines") or {}).items()]
    out = [f"{metrics.get('split', 'eval')} metrics on {metrics.get('num_examples', '?')} examples (mean):",
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
    pushed = _first(outputs.get(PUSHED_MODEL_TYPE))
    evaluation = _first(outputs.get("ModelEvaluation"))
    model = _first(outputs.get("Model"))
    model_run = _first(outputs.get("ModelRun"))
    ingestion = _ingestion_line(_first(outputs.get("Examples")))
    spans_line = _spans_line(_first(outputs.get("Examples")))
    blessed = None if blessing is None else bool(_int_prop(blessing, evaluator_constants.ARTIFACT_PROPERTY_BLESSED_KEY))
    pushed_path = None
    if pushed is not None and _int_prop(pushed, PUSHED_KEY):
        pushed_path = _str_prop(pushed, PUSHED_DESTINATION_KEY)
    metrics = json.loads(_str_prop(evaluation, SUMMARY_PROPERTY) or "{}") if evaluation else {}
    report = _publish_report(evaluation.uri, config.resolve(config.pipeline.report_dir)) if evaluation else None
    bulk_result = _first(outputs.get("InferenceResult"))
    _add_contact_sheet(report, bulk_result)
    return RunSummary(run_id=run.name, blessed=blessed,
                      blessing_message=_str_prop(blessing, evaluator_constants.ARTIFACT_PROPERTY_BLESSING_MESSAGE_KEY) if blessing else "",
                      pushed_model=pushed_path, model_uri=model.uri if model else None,
                      model_run_uri=model_run.uri if model_run else None,
                      evaluation_uri=evaluation.uri if evaluation else None, report=report, metrics=metrics,
                      ingestion=ingestion, bulk_inference=_bulk_inference_line(bulk_result), spans=spans_line)


def _bulk_inference_line(result) -> Optional[str]:
    """What BatchTranslator did (its counts and contact sheet), or None when it did not run."""
    if result is None:
        return None
    skipped = _str_prop(result, bulk.SKIPPED)
    if skipped:
        return f"{_str_prop(result, bulk.SPLIT)} split not translated: {skipped}"
    return (f"{_int_prop(result, bulk.TRANSLATED)} {_str_prop(result, bulk.SPLIT)} image(s) translated into "
            f"{result.uri}/{bulk.IMAGES_FOLDER} ({_int_prop(result, bulk.FAILED)} failed); contact sheet: "
            f"{_str_prop(result, bulk.CONTACT_SHEET) or 'none'}")


def _add_contact_sheet(report: Optional[str], result) -> None:
    """The published report gains the batch translation's contact sheet (it ran after the Evaluator)."""
    sheet = _str_prop(result, bulk.CONTACT_SHEET) if result is not None else ""
    if not report or not sheet or not os.path.isfile(sheet) or not os.path.isfile(report):
        return
    shutil.copyfile(sheet, os.path.join(os.path.dirname(report), BULK_SHEET_NAME))
    with open(report, encoding="utf-8") as handle:
        page = handle.read()
    section = (f"<h2>Batch translation ({html.escape(_str_prop(result, bulk.SPLIT))} split, after the push)</h2>"
               f"<p>{_int_prop(result, bulk.TRANSLATED)} images in {html.escape(result.uri)}</p>"
               f'<img src="{BULK_SHEET_NAME}" alt="input | generated" style="max-width:100%">')
    with open(report, "w", encoding="utf-8") as handle:
        handle.write(page.replace("</body>", section + "\n</body>", 1))


def _ingestion_line(examples) -> Optional[str]:
    """What the ExampleGen kept and quarantined, from the audit on its Examples artifact."""
    audit_json = _str_prop(examples, quarantine.AUDIT_PROPERTY) if examples is not None else ""
    if not audit_json:
        return None
    audit = quarantine.IngestionAudit.from_json(audit_json)
    return f"{audit.describe()}; quarantine report: {audit.report}"


def _spans_line(examples) -> Optional[str]:
    """The spans this run's ExampleGen read (its ``spans`` property), or None without a span pattern."""
    raw = _str_prop(examples, spans.SPANS_PROPERTY) if examples is not None else ""
    try:
        listed = json.loads(raw) if raw else []
    except ValueError:
        return None
    return spans.describe_spans(listed) or None


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
    """Copies the evaluation folder to a stable path: staged beside it, then swapped in.

    Only a folder the project created is replaced (``output_paths.replace_owned_dir``): a
    ``pipeline.report_dir`` naming anything else is refused, never deleted.
    """
    if not os.path.isdir(evaluation_uri):
        return None
    output_paths.replace_owned_dir(report_dir, output_paths.REPORT_DIR_KEY,
                                   lambda staging: shutil.copytree(evaluation_uri, staging, dirs_exist_ok=True))
    return os.path.join(report_dir, REPORT_FILENAME)


# --------------------------------------------------------------------------- #
# After a failed run: did serving change anyway?
# --------------------------------------------------------------------------- #
def served_versions(config: Config) -> List[int]:
    """The version folders under ``<serving_dir>/<model_name>`` now (the Pusher's own listing)."""
    from components.pusher.executor import served_versions as listing
    from pipeline.pipeline_def import serving_base_directory

    try:
        return listing(serving_base_directory(config))
    except Exception:  # noqa: BLE001 - an unreadable folder must not hide the run's own error
        return []


def pushes_since(config: Config, connection_config, versions_before: List[int], started_ms: int) -> List[str]:
    """What was pushed since ``started_ms``: lines for a failed run's message, empty when serving is unchanged.

    Two sources, both read: the PushedModel artifacts ML Metadata recorded for the
    pipeline since then (the Pusher finished), and version folders that appeared
    in the serving folder (the Pusher published, then failed, e.g. while pruning).
    """
    from pipeline.pipeline_def import serving_base_directory

    base = serving_base_directory(config)
    new_versions = sorted(set(served_versions(config)) - set(versions_before))
    lines = []
    recorded = []
    try:
        recorded = _pushed_destinations(mlmd.MetadataStore(connection_config), config.pipeline.name, started_ms)
    except Exception as error:  # noqa: BLE001 - report what the folder shows even without MLMD
        lines.append(f"(ML Metadata could not be read to check for a push: {type(error).__name__}: {error})")
    for destination in recorded:
        version = os.path.basename(destination.rstrip("/"))
        changed = version.isdigit() and int(version) in new_versions
        lines.append(f"the model WAS pushed before the failure: version {version} at {destination}"
                     + (" (TF Serving serves the newest version: serving has changed)" if changed
                        else " (that version was already served)"))
    unrecorded = [v for v in new_versions if not any(os.path.basename(d.rstrip("/")) == str(v) for d in recorded)]
    if unrecorded:
        lines.append(f"new model version(s) {', '.join(map(str, unrecorded))} appeared in {base} during this run "
                     "(published by this run's Pusher before it failed, or by another pipeline pushing there): "
                     "TF Serving serves the newest version, so serving has changed")
    return lines


def _pushed_destinations(store, pipeline_name: str, started_ms: int) -> List[str]:
    """``pushed_destination`` of this pipeline's PushedModel artifacts created since ``started_ms``, oldest first."""
    context = store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
    if context is None:
        return []
    types = {t.id: t.name for t in store.get_artifact_types()}
    pushed = [a for a in store.get_artifacts_by_context(context.id)
              if types.get(a.type_id) == PUSHED_MODEL_TYPE and a.create_time_since_epoch >= started_ms
              and _int_prop(a, PUSHED_KEY) and _str_prop(a, PUSHED_DESTINATION_KEY)]
    return [_str_prop(a, PUSHED_DESTINATION_KEY) for a in sorted(pushed, key=lambda a: a.id)]
