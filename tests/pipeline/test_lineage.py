"""`python -m pipeline lineage` shows a served version's chain and checks it against a real ML Metadata store."""
import dataclasses
import json
import os
from typing import Any, Dict, List

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb

from components.pusher import lineage_builder
from components.pusher import lineage_record as lr
from components.pusher.executor import PUSHED_DESTINATION_KEY, PUSHED_KEY
from pipeline import cli, lineage
from tests.support import paths

PIPELINE = "pix2pix"
RUN_ID = "2026-12-03T22:00:00.000000"
VERSION = 1733262000
INPUT, OUTPUT = pb.Event.INPUT, pb.Event.OUTPUT

# The pipeline as pipeline_def wires it: node id, TFX execution type, inputs and outputs by role.
NODES = (
    ("FileBasedExampleGen", "tfx.components.example_gen.component.FileBasedExampleGen", (), (lr.EXAMPLES,)),
    ("StatisticsGen", "tfx.components.statistics_gen.component.StatisticsGen", (lr.EXAMPLES,), (lr.STATISTICS,)),
    ("CuratedSchemaImporter", "components.example_validator.schema_importer.CuratedSchemaImporter", (), (lr.SCHEMA,)),
    ("ExampleValidator", "components.example_validator.component.GatingExampleValidator",
     (lr.STATISTICS, lr.SCHEMA), (lr.ANOMALIES,)),
    ("Transform", "tfx.components.transform.component.Transform", (lr.EXAMPLES, lr.SCHEMA), (lr.TRANSFORM_GRAPH,)),
    ("Trainer", "tfx.components.trainer.component.Trainer", (lr.EXAMPLES, lr.TRANSFORM_GRAPH, lr.SCHEMA),
     (lr.MODEL, lr.MODEL_RUN)),
    ("ImageQualityEvaluator", "components.evaluator.component.ImageQualityEvaluator",
     (lr.EXAMPLES, lr.MODEL, lr.MODEL_RUN, lr.STATISTICS, lr.ANOMALIES), (lr.MODEL_EVALUATION, lr.MODEL_BLESSING)),
)
PUSHER_TYPE = "components.pusher.component.AtomicPusher"
ARTIFACT_TYPES = {lr.EXAMPLES: "Examples", lr.STATISTICS: "ExampleStatistics", lr.SCHEMA: "Schema",
                  lr.ANOMALIES: "ExampleAnomalies", lr.TRANSFORM_GRAPH: "TransformGraph", lr.MODEL: "Model",
                  lr.MODEL_RUN: "ModelRun", lr.MODEL_EVALUATION: "ModelEvaluation",
                  lr.MODEL_BLESSING: "ModelBlessing"}


@dataclasses.dataclass
class Served:
    """A version folder with its lineage record, the ML Metadata store that matches it, and how to find them."""
    serving_dir: str
    version_dir: str
    metadata_path: str
    record: Dict[str, Any]
    pushed_model_id: int

    def settings(self, metadata_path: str = None) -> List[str]:
        return ["--config", paths.DEFAULT_CONFIG, "--set", f"pusher.serving_dir={self.serving_dir}",
                "--set", f"pipeline.metadata_path={metadata_path or self.metadata_path}"]


def _event(event_type, role: str) -> pb.Event:
    """An event with TFX's path: the channel's key, then the artifact's index in it."""
    event = pb.Event(type=event_type)
    event.path.steps.add().key = role
    event.path.steps.add().index = 0
    return event


def _put_execution(store, type_id: int, contexts, inputs: Dict[str, pb.Artifact], outputs: Dict[str, pb.Artifact]):
    """One execution with its INPUT/OUTPUT events and contexts, as TFX's launcher records a component's run."""
    execution = pb.Execution(type_id=type_id, last_known_state=pb.Execution.COMPLETE)
    events = [(artifact, _event(INPUT, role)) for role, artifact in inputs.items()]
    events += [(artifact, _event(OUTPUT, role)) for role, artifact in outputs.items()]
    execution_id, artifact_ids, _ = store.put_execution(execution, events, contexts)
    for artifact, artifact_id in zip([a for a, _ in events], artifact_ids):
        artifact.id = artifact_id
    return execution_id


def build_served_version(tmp_path, *, version: int = VERSION) -> Served:
    """A real SQLite store shaped like a TFX run of this pipeline, and the version its Pusher published."""
    serving_dir = str(tmp_path / "serving")
    version_dir = os.path.join(serving_dir, PIPELINE, str(version))
    metadata_path = str(tmp_path / "metadata.sqlite")
    connection = pb.ConnectionConfig()
    connection.sqlite.filename_uri = metadata_path
    connection.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = mlmd.MetadataStore(connection)

    artifact_type_ids = {name: store.put_artifact_type(pb.ArtifactType(name=name))
                         for name in [*ARTIFACT_TYPES.values(), "PushedModel"]}
    context_type_ids = {name: store.put_context_type(pb.ContextType(name=name))
                        for name in ("pipeline", "pipeline_run", lineage_builder.NODE_CONTEXT)}
    def context(type_name: str, name: str) -> pb.Context:
        [context_id] = store.put_contexts([pb.Context(type_id=context_type_ids[type_name], name=name)])
        return store.get_contexts_by_id([context_id])[0]

    run_contexts = [context("pipeline", PIPELINE), context("pipeline_run", RUN_ID)]

    def contexts(node: str) -> List[pb.Context]:
        return [*run_contexts, context(lineage_builder.NODE_CONTEXT, f"{PIPELINE}.{node}")]

    artifacts: Dict[str, pb.Artifact] = {}
    for number, (node, type_name, inputs, outputs) in enumerate(NODES, start=1):
        type_id = store.put_execution_type(pb.ExecutionType(name=type_name))
        produced = {role: pb.Artifact(type_id=artifact_type_ids[ARTIFACT_TYPES[role]], state=pb.Artifact.LIVE,
                                      uri=str(tmp_path / "tfx_root" / node / role / str(number)))
                    for role in outputs}
        _put_execution(store, type_id, contexts(node), {role: artifacts[role] for role in inputs}, produced)
        artifacts.update(produced)

    entries = {role: {"id": artifact.id, "type": ARTIFACT_TYPES[role], "uri": artifact.uri}
               for role, artifact in artifacts.items()}
    # The record's executions come from the store the way the Pusher finds them, then the Pusher's own.
    executions = lineage_builder.executions_from_store(metadata_path, entries)
    pushed = pb.Artifact(type_id=artifact_type_ids["PushedModel"], state=pb.Artifact.LIVE,
                         uri=str(tmp_path / "tfx_root" / "Pusher" / "pushed_model" / "9"))
    pushed.custom_properties[PUSHED_KEY].int_value = 1
    pushed.custom_properties[PUSHED_DESTINATION_KEY].string_value = version_dir
    pusher_type_id = store.put_execution_type(pb.ExecutionType(name=PUSHER_TYPE))
    pusher_id = _put_execution(store, pusher_type_id, contexts("Pusher"), dict(artifacts),
                               {"pushed_model": pushed})
    executions.append({"id": pusher_id, "type": PUSHER_TYPE, "node": "Pusher", "produced": []})

    record = realistic_record(tmp_path, version_dir, metadata_path, entries, executions)
    os.makedirs(version_dir)
    write_record(version_dir, record)
    return Served(serving_dir, version_dir, metadata_path, record, pushed.id)


def realistic_record(tmp_path, version_dir: str, metadata_path: str, artifacts, executions) -> Dict[str, Any]:
    stats = {"l1": {"mean": 12.3, "p90": 20.0, "count": 4}, "psnr": {"mean": 20.1, "p10": 18.0, "count": 4},
             "ssim": {"mean": 0.61, "p10": 0.5, "count": 4}}
    return lr.build_record(
        served={"model_name": PIPELINE, "version": int(os.path.basename(version_dir)), "path": version_dir},
        pipeline={"name": PIPELINE, "root": str(tmp_path / "tfx_root"), "run_id": RUN_ID,
                  "metadata_path": metadata_path},
        code={"commit": "0123abcd" * 5, "dirty": True, "source": "git"},
        data={"location": str(tmp_path / "dataset"), "layout": "two_folder",
              "splits": {"train": {"pairs": 20, "fingerprint": "sha256-sum:20:" + "ab12" * 16},
                         "eval": {"pairs": 2, "fingerprint": "sha256-sum:2:" + "cd34" * 16},
                         "test": {"pairs": 4, "fingerprint": None}},
              "quarantined": {}, "quarantine_report": str(tmp_path / "quarantine.csv"), "input_fingerprint": None},
        validation={"schema": artifacts[lr.SCHEMA]["uri"], "schema_file": "data/schema/schema.pbtxt",
                    "anomalies": {"train": [], "eval": []},
                    "drift": {"baseline": None, "max_drift": 0.5, "split": "train", "features": [],
                              "note": "no blessed model yet: nothing to compare with"}},
        training={"export": "best", "exported_epoch": 3, "total_epochs": 3, "reason": "best validation l1 mean"},
        evaluation={"split": "test", "num_examples": 4, "blessed": True, "message": "blessed: all thresholds passed",
                    "candidate": stats, "baseline_model": None,
                    "baselines": {"mean target image": {"l1": {"mean": 31.7}}},
                    "checks": [{"metric": "l1", "statistic": "mean", "op": "<=", "threshold": 23.8, "value": 12.3,
                                "passed": True, "kind": "relative", "baseline": 31.7,
                                "baseline_name": "mean target image", "margin": None, "relative_margin": 0.25}]},
        config={"transform": {"image_size": 64}, "trainer": {"epochs": 3, "generator": "unet"}, "profile": "local"},
        artifacts=artifacts, executions=executions)


def write_record(version_dir: str, record: Dict[str, Any]) -> None:
    path = lr.lineage_path(version_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=1, sort_keys=True)


def run(capsys, *args):
    status = cli.main(["lineage", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def served(tmp_path):
    return build_served_version(tmp_path)


def test_a_version_number_shows_the_chain_and_every_check_agrees_with_the_store(served, capsys):
    status, out, err = run(capsys, VERSION, *served.settings())
    assert status == 0, out + err
    artifacts = served.record["mlmd"]["artifacts"]
    model, blessing = artifacts[lr.MODEL], artifacts[lr.MODEL_BLESSING]
    assert f"served: pix2pix version {VERSION} at {served.version_dir}" in out
    assert f"in pipeline pix2pix run {RUN_ID}" in out
    assert f"model: Model {model['id']} <- Trainer execution" in out and "exported epoch 3 of 3" in out
    assert f"blessed: ModelBlessing {blessing['id']} by ImageQualityEvaluator execution" in out
    assert "l1 12.3, psnr 20.1, ssim 0.61" in out and "test split, 4 examples" in out
    assert "train 20 pairs sha256-sum:20:ab12ab12ab12..." in out and "quarantined none" in out
    assert "anomalies: none" in out and "not measured (no blessed model yet" in out
    assert "transform.image_size=64" in out and "trainer.epochs=3" in out and "trainer.ngf=unknown" in out
    assert "code: git " + "0123abcd" * 5 + " (dirty)" in out
    assert lineage.MISMATCH not in out
    assert f"PushedModel {served.pushed_model_id} pushed to this folder: ok" in out
    assert "checks, all ok" in out


def test_a_version_folder_works_as_well_as_its_number(served, capsys):
    status, out, _ = run(capsys, served.version_dir + "/", *served.settings())
    assert status == 0 and lineage.MISMATCH not in out
    assert f"at {served.version_dir} " in out and "checks, all ok" in out


def test_a_record_whose_model_disagrees_with_the_store_is_a_mismatch(served, capsys):
    record = json.loads(json.dumps(served.record))
    record["mlmd"]["artifacts"][lr.MODEL]["uri"] = "/somewhere/else/model"
    write_record(served.version_dir, record)
    status, out, _ = run(capsys, VERSION, *served.settings())
    assert status == 1
    assert "artifact model: Model" in out and "MISMATCH: the store's uri is" in out and "/somewhere/else/model" in out


def test_a_model_id_the_store_does_not_have_is_a_mismatch(served, capsys):
    record = json.loads(json.dumps(served.record))
    record["mlmd"]["artifacts"][lr.MODEL]["id"] = 999
    write_record(served.version_dir, record)
    status, out, _ = run(capsys, VERSION, *served.settings())
    assert status == 1
    assert "Model 999: MISMATCH: not in the store" in out
    assert "no OUTPUT event to model 999" in out          # the Trainer's produced roles
    assert "no INPUT event for model 999" in out          # the Pusher's inputs


def test_a_push_recorded_to_another_folder_is_a_mismatch(served, tmp_path, capsys):
    copy = tmp_path / "copied" / str(VERSION)
    os.makedirs(copy)
    write_record(str(copy), served.record)
    status, out, _ = run(capsys, copy, *served.settings())
    assert status == 1
    assert f"pushed_destination is {served.version_dir}, not {copy}" in out


def test_without_a_store_the_record_alone_is_shown(served, tmp_path, capsys):
    missing = tmp_path / "no" / "metadata.sqlite"
    status, out, _ = run(capsys, VERSION, *served.settings(str(missing)))
    assert status == 0
    assert out.rstrip().endswith(f"ML Metadata: no store at {missing}: the record alone is shown (cross-check skipped)")
    assert "served: pix2pix version" in out


def test_metadata_option_overrides_the_config_store(served, tmp_path, capsys):
    status, out, _ = run(capsys, VERSION, *served.settings(str(tmp_path / "absent.sqlite")),
                         "--metadata", served.metadata_path)
    assert status == 0 and "checks, all ok" in out


def test_a_missing_version_number_names_the_folder_and_the_versions_present(served, capsys):
    os.makedirs(os.path.join(served.serving_dir, PIPELINE, "1733000000"))
    status, out, err = run(capsys, 42, *served.settings())
    assert status == 2 and not out
    base = os.path.join(served.serving_dir, PIPELINE)
    assert f"no folder {os.path.join(base, '42')}" in err and f"looked in {base}" in err
    assert f"versions there: 1733000000, {VERSION}" in err


def test_a_folder_without_a_record_fails_naming_the_file(served, tmp_path, capsys):
    folder = tmp_path / "bare_version"
    folder.mkdir()
    status, _, err = run(capsys, folder, *served.settings())
    assert status == 2 and lr.lineage_path(str(folder)) in err and "no lineage record" in err


def test_json_prints_the_record_itself(served, capsys):
    status, out, _ = run(capsys, VERSION, *served.settings(), "--json")
    assert status == 0 and json.loads(out) == served.record


def test_a_record_of_nulls_is_described_without_crashing(tmp_path):
    record = lr.build_record(served={"model_name": None, "version": None, "path": None}, pipeline={}, code={},
                             data={"splits": None, "quarantined": None}, validation={"drift": None}, training=None,
                             evaluation={"checks": None, "candidate": None}, config={}, artifacts={}, executions=[])
    lines = lineage.describe(record, str(tmp_path))
    assert lines[0].startswith("served: unknown version unknown at")
    assert "model: Model unknown <- producer unknown (no training summary recorded)" in lines
    assert "config: none recorded" in lines
