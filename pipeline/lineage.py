"""``python -m pipeline lineage``: a served version's chain back to its data, config and code.

The chain comes from the version's own lineage record (``assets.extra/lineage.json``,
``components/pusher/lineage_record.py``), so it works wherever the version was
copied. Where the ML Metadata store is at hand, every id the record names is
checked against it: a record that disagrees with the store means the folder was
edited, copied over, or pushed by another pipeline's store.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from components.pusher import lineage_record as lr

UNKNOWN = "unknown"
NONE = "none"
OK = "ok"
MISMATCH = "MISMATCH"
PUSHER_NODE = "Pusher"     # the Pusher's node id in pipeline_def (``.with_id("Pusher")``)
PUSHED_MODEL_TYPE = "PushedModel"
FINGERPRINT_HEX_SHOWN = 12  # of a fingerprint's 64 hex digits; --json has them all
# The settings that make one model differ from another, shown on the config line (all are in the record).
KEY_SETTINGS = ("transform.image_size", "trainer.epochs", "trainer.epochs_decay", "trainer.batch_size",
                "trainer.generator", "trainer.discriminator", "trainer.ngf", "trainer.ndf", "trainer.gan_mode",
                "trainer.lambda_l1", "trainer.export", "data.layout", "data.split_mode")
# The roles each producing execution must have read, as the pipeline wires them (pipeline_def).
MODEL_INPUTS = (lr.EXAMPLES, lr.TRANSFORM_GRAPH, lr.SCHEMA)
BLESSING_INPUTS = (lr.MODEL,)
PUSHER_INPUTS = (lr.MODEL, lr.MODEL_BLESSING)

Check = Tuple[bool, str]


class VersionNotFoundError(LookupError):
    """The command line named no version folder, or a version number the serving folder does not hold."""


# --------------------------------------------------------------------------- #
# Locating the version
# --------------------------------------------------------------------------- #
def locate_version(argument: str, config) -> str:
    """The version folder an argument names: an existing folder, or a number under the config's serving base."""
    if os.path.isdir(argument):
        return os.path.abspath(argument)
    if not argument.isdigit():
        raise VersionNotFoundError(f"{argument!r}: neither an existing version folder nor a version number")
    from components.pusher.executor import served_versions   # the Pusher's own listing (heavy: TF, TFX)
    from pipeline.pipeline_def import serving_base_directory

    base = serving_base_directory(config)
    path = os.path.join(base, argument)
    if os.path.isdir(path):
        return os.path.abspath(path)
    if not os.path.isdir(base):
        present = f"the folder {base} does not exist"
    else:
        versions = served_versions(base)
        present = f"versions there: {', '.join(map(str, versions))}" if versions else f"{base} holds no versions"
    raise VersionNotFoundError(f"version {argument}: no folder {path} (looked in {base}, from pusher.serving_dir "
                               f"and pusher.model_name); {present}")


def read_record(version_dir: str) -> Dict[str, Any]:
    """The version's lineage record (``lr.LineageRecordError`` when missing or not this project's)."""
    return lr.read_record(version_dir)


# --------------------------------------------------------------------------- #
# The chain, from the record alone
# --------------------------------------------------------------------------- #
def _as_dict(value: Any) -> Dict[str, Any]:
    """{} for a field that is absent or null: any field of a record may be."""
    return value if isinstance(value, dict) else {}


def _section(mapping: Any, *keys: str) -> Dict[str, Any]:
    """A nested mapping of the record, {} where any level is absent or null."""
    for key in keys:
        mapping = _as_dict(mapping).get(key)
    return _as_dict(mapping)


def _text(value: Any) -> str:
    return UNKNOWN if value is None or value == "" else str(value)


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else _text(value)


def short_fingerprint(fingerprint: Optional[str]) -> str:
    """``sha256-sum:<count>:<64 hex>`` shortened to its first hex digits, enough to tell two datasets apart."""
    if not fingerprint:
        return "fingerprint unknown"
    head, _, digest = str(fingerprint).rpartition(":")
    if len(digest) <= FINGERPRINT_HEX_SHOWN:
        return str(fingerprint)
    return f"{head}:{digest[:FINGERPRINT_HEX_SHOWN]}..." if head else f"{digest[:FINGERPRINT_HEX_SHOWN]}..."


def _in_role_order(artifacts: Dict[str, Any]) -> List[Tuple[str, Any]]:
    """Upstream first, as ``lr.ROLES`` lists them (the record's JSON has its keys sorted)."""
    rank = {role: index for index, role in enumerate(lr.ROLES)}
    return sorted(artifacts.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0]))


def _artifact(record: Dict[str, Any], role: str) -> Dict[str, Any]:
    return _section(record, "mlmd", "artifacts", role)


def _artifact_label(record: Dict[str, Any], role: str, default_type: str) -> str:
    entry = _artifact(record, role)
    if not entry:
        return f"{default_type} {UNKNOWN}"
    return f"{entry.get('type') or default_type} {_text(entry.get('id'))}"


def _executions(record: Dict[str, Any]) -> List[Dict[str, Any]]:
    executions = _section(record, "mlmd").get("executions")
    return [e for e in executions if isinstance(e, dict)] if isinstance(executions, list) else []


def execution_label(execution: Dict[str, Any]) -> str:
    """``Trainer execution 7``: the node id, else the last part of the execution type's name."""
    node = execution.get("node") or (execution.get("type") or "").rsplit(".", 1)[-1] or "unknown node"
    return f"{node} execution {_text(execution.get('id'))}"


def _producers(record: Dict[str, Any], role: str) -> str:
    """Who produced a role's artifact, per the record (a cached re-run adds a second, CACHED execution)."""
    found = [execution_label(e) for e in _executions(record) if role in (e.get("produced") or [])]
    return ", ".join(found) if found else f"producer {UNKNOWN}"


def pusher_execution(record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    return next((e for e in _executions(record) if e.get("node") == PUSHER_NODE), None)


def _stats_text(stats: Any) -> str:
    """``l1 12.3, psnr 20.1``: each metric's mean."""
    if not isinstance(stats, dict) or not stats:
        return NONE
    return ", ".join(f"{metric} {_number(_section(stats, metric).get('mean'))}" for metric in stats)


def _served_line(record: Dict[str, Any], version_dir: str) -> str:
    served = _section(record, "served")
    line = (f"served: {_text(served.get('model_name'))} version {_text(served.get('version'))} at {version_dir} "
            f"(pushed {_text(record.get('created'))})")
    recorded = served.get("path")
    if recorded and same_path(recorded, version_dir) is False:
        line += f"; pushed to {recorded}"
    return line


def _pushed_by_line(record: Dict[str, Any]) -> str:
    pipeline = _section(record, "pipeline")
    pusher = pusher_execution(record)
    who = execution_label(pusher) if pusher else f"Pusher execution {UNKNOWN}"
    return f"pushed by: {who} in pipeline {_text(pipeline.get('name'))} run {_text(pipeline.get('run_id'))}"


def _model_line(record: Dict[str, Any]) -> str:
    training = record.get("training") if isinstance(record.get("training"), dict) else None
    if training:
        why = (f"exported epoch {_text(training.get('exported_epoch'))} of {_text(training.get('total_epochs'))}: "
               f"{_text(training.get('reason'))}")
    else:
        why = "no training summary recorded"
    return f"model: {_artifact_label(record, lr.MODEL, 'Model')} <- {_producers(record, lr.MODEL)} ({why})"


def _blessed_line(record: Dict[str, Any]) -> str:
    evaluation = _section(record, "evaluation")
    verdict = {True: "BLESSED", False: "NOT BLESSED"}.get(evaluation.get("blessed"), f"verdict {UNKNOWN}")
    others = [f"{name}: {_stats_text(stats)}" for name, stats in _section(evaluation, "baselines").items()]
    others.append(f"last blessed: {_stats_text(evaluation.get('baseline_model'))}")
    checks = [c for c in evaluation.get("checks") or [] if isinstance(c, dict)]
    passed = sum(bool(c.get("passed")) for c in checks)
    return (f"blessed: {_artifact_label(record, lr.MODEL_BLESSING, 'ModelBlessing')} by "
            f"{_producers(record, lr.MODEL_BLESSING)}: {verdict}, {_text(evaluation.get('split'))} split, "
            f"{_text(evaluation.get('num_examples'))} examples: {_stats_text(evaluation.get('candidate'))} "
            f"(baselines: {'; '.join(others)}); {passed} of {len(checks)} checks passed")


def quarantined_text(quarantined: Any) -> str:
    if not isinstance(quarantined, dict) or not any(quarantined.values()):
        return NONE
    reasons = ", ".join(f"{reason} {count}" for reason, count in quarantined.items())
    return f"{sum(quarantined.values())} ({reasons})"


def _data_line(record: Dict[str, Any]) -> str:
    data = _section(record, "data")
    splits = ", ".join(f"{name} {_text(_section(split).get('pairs'))} pairs "
                       f"{short_fingerprint(_section(split).get('fingerprint'))}"
                       for name, split in _section(data, "splits").items()) or f"splits {UNKNOWN}"
    return (f"trained on: {_artifact_label(record, lr.EXAMPLES, 'Examples')} <- {_producers(record, lr.EXAMPLES)}: "
            f"{_text(data.get('location'))} ({_text(data.get('layout'))}): {splits}; "
            f"quarantined {quarantined_text(data.get('quarantined'))}"
            + (f"; spans: {spans_text(data.get('spans'))}" if data.get("spans") else ""))


def spans_text(listed: Any) -> str:
    rows = [_section(entry) for entry in listed or [] if isinstance(entry, dict)]
    return ", ".join(f"span {_text(row.get('span'))}"
                     + (f" v{row['version']}" if row.get("version") is not None else "")
                     + f" ({_text(row.get('role'))})" for row in rows) or NONE


def anomalies_text(anomalies: Any) -> str:
    rows = [f"{split}: {_text(_section(row).get('feature'))} ({_text(_section(row).get('anomaly'))})"
            for split, split_rows in _as_dict(anomalies).items() for row in split_rows or []]
    return "; ".join(rows) if rows else NONE


def drift_text(drift: Any) -> str:
    section = _as_dict(drift)
    rows = [row for row in section.get("features") or [] if isinstance(row, dict)]
    if not rows:
        return f"not measured ({section.get('note') or 'no drift section'})"
    limit = section.get("max_drift")
    measured = ", ".join(f"{_text(row.get('feature'))} {_number(row.get('value'))}"
                         + (" DRIFTED" if row.get("drifted") else "") for row in rows)
    return (f"{measured} ({_text(section.get('split'))} split, stop above "
            f"{'never' if limit is None else _number(limit)})")


def _validation_line(record: Dict[str, Any]) -> str:
    validation = _section(record, "validation")
    return (f"validated: {_artifact_label(record, lr.ANOMALIES, 'ExampleAnomalies')} <- "
            f"{_producers(record, lr.ANOMALIES)}: schema {_text(validation.get('schema'))}; "
            f"anomalies: {anomalies_text(validation.get('anomalies'))}; "
            f"drift vs the last blessed model's data: {drift_text(validation.get('drift'))}")


def _transform_line(record: Dict[str, Any]) -> str:
    return (f"transform: {_artifact_label(record, lr.TRANSFORM_GRAPH, 'TransformGraph')}; schema "
            f"{_artifact_label(record, lr.SCHEMA, 'Schema')}; statistics "
            f"{_artifact_label(record, lr.STATISTICS, 'ExampleStatistics')}")


def config_value(config: Dict[str, Any], dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return _section(config, section).get(key)


def _config_line(record: Dict[str, Any]) -> str:
    config = _section(record, "config")
    if not config:
        return "config: none recorded"
    settings = ", ".join(f"{key}={_text(config_value(config, key))}" for key in KEY_SETTINGS)
    return f"config: profile {_text(config.get('profile'))}: {settings} (the full config is in the record: --json)"


def code_text(code: Dict[str, Any]) -> str:
    source, commit = code.get("source"), code.get("commit")
    if not commit:
        return UNKNOWN
    state = {True: " (dirty)", False: " (clean)"}.get(code.get("dirty"), "")
    return f"git {commit}{state}" if source == "git" else f"{commit} (from {_text(source)})"


def _code_line(record: Dict[str, Any]) -> str:
    versions = ", ".join(f"{name} {_text(version)}" for name, version in _section(record, "versions").items())
    return f"code: {code_text(_section(record, 'code'))}; {versions or 'package versions unknown'}"


def _artifact_lines(record: Dict[str, Any]) -> List[str]:
    artifacts = _section(record, "mlmd", "artifacts")
    return ["artifacts:"] + [f"  {role}: {_text(_section(entry).get('type'))} {_text(_section(entry).get('id'))} "
                             f"{_text(_section(entry).get('uri'))}" for role, entry in _in_role_order(artifacts)]


def describe(record: Dict[str, Any], version_dir: str) -> List[str]:
    """The chain, newest first: what is served, who pushed it, the model, its blessing, data, config, code."""
    return [_served_line(record, version_dir), _pushed_by_line(record), _model_line(record), _blessed_line(record),
            _data_line(record), _validation_line(record), _transform_line(record), _config_line(record),
            _code_line(record), *_artifact_lines(record)]


# --------------------------------------------------------------------------- #
# Cross-check with ML Metadata
# --------------------------------------------------------------------------- #
def normalized_path(path: str) -> str:
    """Local paths absolute with symlinks resolved; URIs as written; no trailing slash either way."""
    path = str(path)
    if "://" in path:
        return path.rstrip("/")
    return os.path.realpath(os.path.abspath(path)).rstrip("/") or "/"


def same_path(first: Optional[str], second: Optional[str]) -> Optional[bool]:
    if not first or not second:
        return None
    return normalized_path(first) == normalized_path(second)


def skip_line(metadata_path: str) -> str:
    return f"ML Metadata: no store at {metadata_path}: the record alone is shown (cross-check skipped)"


def open_store(metadata_path: str):
    """A read-only store on the SQLite file, or None when there is no such file (a copied version, a remote run)."""
    if not metadata_path or "://" in metadata_path or not os.path.isfile(metadata_path):
        return None
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(connection)


def _verdict(subject: str, problems: Sequence[str]) -> Check:
    return (not problems, f"{subject}: {OK}" if not problems else f"{subject}: {MISMATCH}: {'; '.join(problems)}")


class _StoreView:
    """The part of the store the checks read, fetched once: artifacts, executions, events, type names."""

    def __init__(self, store, artifact_ids: Iterable[int], execution_ids: Iterable[int]):
        from ml_metadata.proto import metadata_store_pb2

        event = metadata_store_pb2.Event
        self.input_types = {event.INPUT, event.DECLARED_INPUT}
        self.output_types = {event.OUTPUT, event.DECLARED_OUTPUT}
        self.store = store
        self.artifact_types = {t.id: t.name for t in store.get_artifact_types()}
        self.execution_types = {t.id: t.name for t in store.get_execution_types()}
        self.artifacts = {a.id: a for a in store.get_artifacts_by_id(sorted(set(artifact_ids)))}
        self.events = list(store.get_events_by_artifact_ids(sorted(self.artifacts)))
        execution_ids = set(execution_ids) | {e.execution_id for e in self.events}
        self.events += [e for e in store.get_events_by_execution_ids(sorted(execution_ids))
                        if e.artifact_id not in self.artifacts]
        self.executions = {e.id: e for e in store.get_executions_by_id(sorted(execution_ids))}

    def artifact_type(self, artifact_id: int) -> Optional[str]:
        artifact = self.artifacts.get(artifact_id)
        return self.artifact_types.get(artifact.type_id) if artifact is not None else None

    def inputs_of(self, execution_id: int) -> set:
        return {e.artifact_id for e in self.events if e.execution_id == execution_id and e.type in self.input_types}

    def outputs_of(self, execution_id: int) -> set:
        return {e.artifact_id for e in self.events if e.execution_id == execution_id and e.type in self.output_types}

    def producers_of(self, artifact_id: int) -> List[int]:
        return sorted({e.execution_id for e in self.events if e.artifact_id == artifact_id
                       and e.type in self.output_types})

    def output_artifacts(self, execution_id: int, type_name: str) -> list:
        ids = self.outputs_of(execution_id) - set(self.artifacts)
        self.artifacts.update({a.id: a for a in self.store.get_artifacts_by_id(sorted(ids))})
        return [self.artifacts[i] for i in sorted(self.outputs_of(execution_id)) if self.artifact_type(i) == type_name]


def _recorded_ids(record: Dict[str, Any]) -> Dict[str, int]:
    return {role: entry["id"] for role, entry in _in_role_order(_section(record, "mlmd", "artifacts"))
            if isinstance(entry, dict) and isinstance(entry.get("id"), int)}


def _artifact_checks(view: _StoreView, record: Dict[str, Any]) -> List[Check]:
    checks = []
    for role, artifact_id in _recorded_ids(record).items():
        entry = _artifact(record, role)
        subject = f"artifact {role}: {entry.get('type')} {artifact_id}"
        stored = view.artifacts.get(artifact_id)
        if stored is None:
            checks.append(_verdict(subject, ["not in the store"]))
            continue
        problems = []
        if view.artifact_type(artifact_id) != entry.get("type"):
            problems.append(f"the store's type is {view.artifact_type(artifact_id)}")
        if (stored.uri or "").rstrip("/") != (entry.get("uri") or "").rstrip("/"):
            problems.append(f"the store's uri is {stored.uri}, the record's {entry.get('uri')}")
        checks.append(_verdict(subject, problems))
    return checks


def _execution_checks(view: _StoreView, record: Dict[str, Any]) -> List[Check]:
    ids = _recorded_ids(record)
    checks = []
    for execution in _executions(record):
        execution_id = execution.get("id")
        subject = execution_label(execution)
        stored = view.executions.get(execution_id)
        if stored is None:
            checks.append(_verdict(subject, ["not in the store"]))
            continue
        problems = []
        stored_type = view.execution_types.get(stored.type_id)
        if stored_type != execution.get("type"):
            problems.append(f"the store's type is {stored_type}, the record's {execution.get('type')}")
        outputs = view.outputs_of(execution_id)
        for role in execution.get("produced") or []:
            if role not in ids:
                problems.append(f"it produced {role}, which the record names no artifact id for")
            elif ids[role] not in outputs:
                problems.append(f"no OUTPUT event to {role} {ids[role]}")
        produced = ", ".join(execution.get("produced") or []) or "none recorded"
        checks.append(_verdict(f"{subject} ({stored_type}; produced {produced})", problems))
    return checks


def _missing_inputs(view: _StoreView, execution_id: int, ids: Dict[str, int], roles: Sequence[str]) -> List[str]:
    read = view.inputs_of(execution_id)
    return [f"{role} {ids[role]}" for role in roles if role in ids and ids[role] not in read]


def _inputs_check(view: _StoreView, record: Dict[str, Any], output_role: str, input_roles: Sequence[str]) -> Check:
    """The store's producer(s) of ``output_role`` read the recorded ``input_roles`` (any one of them suffices:
    a cached re-run's execution reads the same artifacts as the original)."""
    ids = _recorded_ids(record)
    wanted = ", ".join(f"{role} {ids[role]}" for role in input_roles if role in ids) or "nothing recorded"
    if output_role not in ids:
        return _verdict(f"inputs of the {output_role}'s producer", [f"the record names no {output_role} id"])
    producers = view.producers_of(ids[output_role])
    labels = {e.get("id"): execution_label(e) for e in _executions(record)}
    by = ", ".join(labels.get(i, f"execution {i}") for i in producers) or f"producer {UNKNOWN}"
    subject = f"{output_role} {ids[output_role]} was produced by {by} from {wanted}"
    if not producers:
        return _verdict(subject, [f"no execution in the store has an OUTPUT event to {output_role} {ids[output_role]}"])
    missing = {execution_id: _missing_inputs(view, execution_id, ids, input_roles) for execution_id in producers}
    if any(not problems for problems in missing.values()):
        return _verdict(subject, [])
    return _verdict(subject, [f"execution {execution_id} has no INPUT event for {', '.join(problems)}"
                              for execution_id, problems in missing.items()])


def _pushed_model_check(view: _StoreView, record: Dict[str, Any], version_dir: str) -> Check:
    """The Pusher read the model and its blessing and recorded this folder as pushed (its PushedModel)."""
    from components.pusher.executor import PUSHED_DESTINATION_KEY, PUSHED_KEY   # TFX's names, named once there

    pusher = pusher_execution(record)
    if pusher is None or pusher.get("id") not in view.executions:
        return _verdict("Pusher execution", ["the record names none" if pusher is None else
                                             f"{execution_label(pusher)} is not in the store"])
    ids = _recorded_ids(record)
    problems = [f"no INPUT event for {missing}" for missing in _missing_inputs(view, pusher["id"], ids, PUSHER_INPUTS)]
    problems += [f"the record names no {role} id" for role in PUSHER_INPUTS if role not in ids]
    pushed = view.output_artifacts(pusher["id"], PUSHED_MODEL_TYPE)
    found = ", ".join(str(a.id) for a in pushed) or NONE
    if not pushed:
        problems.append(f"no OUTPUT {PUSHED_MODEL_TYPE} (the Pusher did not finish?)")
    for artifact in pushed:
        props = artifact.custom_properties
        flag = props[PUSHED_KEY].int_value if PUSHED_KEY in props else None
        destination = props[PUSHED_DESTINATION_KEY].string_value if PUSHED_DESTINATION_KEY in props else None
        if flag != 1:
            problems.append(f"{PUSHED_MODEL_TYPE} {artifact.id}: {PUSHED_KEY} is {flag}, not 1")
        if not same_path(destination, version_dir):
            problems.append(f"{PUSHED_MODEL_TYPE} {artifact.id}: {PUSHED_DESTINATION_KEY} is {destination}, "
                            f"not {version_dir}")
    subject = (f"{execution_label(pusher)} read {', '.join(f'{r} {ids.get(r)}' for r in PUSHER_INPUTS)} and output "
               f"{PUSHED_MODEL_TYPE} {found} pushed to this folder")
    return _verdict(subject, problems)


def cross_check(store, record: Dict[str, Any], version_dir: str) -> List[Check]:
    """(ok, line) per check of the record against ML Metadata: ids, types, URIs and the events between them."""
    execution_ids = [e["id"] for e in _executions(record) if isinstance(e.get("id"), int)]
    view = _StoreView(store, _recorded_ids(record).values(), execution_ids)
    return [*_artifact_checks(view, record), *_execution_checks(view, record),
            _inputs_check(view, record, lr.MODEL, MODEL_INPUTS),
            _inputs_check(view, record, lr.MODEL_BLESSING, BLESSING_INPUTS),
            _pushed_model_check(view, record, version_dir)]


def check_with_store(metadata_path: str, record: Dict[str, Any], version_dir: str) -> Tuple[bool, List[str]]:
    """(whether the record agrees with the store, the lines to print); no store file: agrees, one skip line."""
    try:
        store = open_store(metadata_path)
        if store is None:
            return True, [skip_line(metadata_path)]
        checks = cross_check(store, record, version_dir)
    except Exception as error:  # noqa: BLE001 - a broken store is a failed check, not a traceback
        return False, [f"ML Metadata {metadata_path}: unreadable ({type(error).__name__}: {error}): cross-check failed"]
    failed = sum(not ok for ok, _ in checks)
    verdict = "all ok" if not failed else f"{failed} {MISMATCH}"
    return not failed, [f"ML Metadata {metadata_path}: {len(checks)} checks, {verdict}",
                        *(f"  {line}" for _, line in checks)]
