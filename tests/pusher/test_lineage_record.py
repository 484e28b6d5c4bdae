"""Each pushed version carries assets.extra/lineage.json and model_card.html, written before it appears."""
import json
import os

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.example_gen import executor as example_gen_executor, quarantine
from components.example_validator import executor as validator_executor
from components.pusher import executor as pusher, lineage_record
from tests.support import images
from tests.support.pusher import custom_config_json, fake_saved_model


def _artifact(kind, uri, artifact_id):
    artifact = kind()
    artifact.uri = str(uri)
    artifact.id = artifact_id
    os.makedirs(artifact.uri, exist_ok=True)
    return artifact


def upstream(tmp_path):
    """The Pusher's lineage inputs as the upstream components leave them."""
    examples = _artifact(standard_artifacts.Examples, tmp_path / "examples", 2)
    audit = quarantine.IngestionAudit(dataset="/data/<facades>", layout="aligned", examples={"train": 8, "test": 2},
                                      quarantined={"too_small": 1}, report="/data/q.csv")
    examples.set_string_custom_property(quarantine.AUDIT_PROPERTY, audit.to_json())
    examples.set_string_custom_property(example_gen_executor.FINGERPRINT_PROPERTY,
                                        json.dumps({"train": "sha256-sum:8:ab", "test": "sha256-sum:2:cd"}))
    anomalies = _artifact(standard_artifacts.ExampleAnomalies, tmp_path / "anomalies", 4)
    anomalies.set_string_custom_property(validator_executor.VALIDATION_PROPERTY, json.dumps(
        {"schema": "/schema/3", "schema_file": "data/schema/schema.pbtxt", "anomalies": {"train": []},
         "drift": {"features": [{"feature": "input_width", "value": 0.0, "threshold": 0.5, "drifted": False}]}}))
    model_run = _artifact(standard_artifacts.ModelRun, tmp_path / "model_run", 7)
    (tmp_path / "model_run" / "training.json").write_text(json.dumps({"exported_epoch": 3, "total_epochs": 3}))
    evaluation = _artifact(standard_artifacts.ModelEvaluation, tmp_path / "evaluation", 9)
    (tmp_path / "evaluation" / "metrics.json").write_text(json.dumps(
        {"split": "test", "num_examples": 2, "blessed": True, "candidate": {"l1": {"mean": 12.5}},
         "baselines": {}, "baseline_model": None, "checks": []}))
    (tmp_path / "evaluation" / "samples.png").write_bytes(images.png(8, 24))
    return {"examples": [examples], "anomalies": [anomalies], "model_run": [model_run],
            "model_evaluation": [evaluation]}


def push(tmp_path, blessed=True, extra=None):
    model = _artifact(standard_artifacts.Model, tmp_path / "model", 6)
    fake_saved_model(os.path.join(model.uri, "Format-Serving"), b"A")
    blessing = _artifact(standard_artifacts.ModelBlessing, tmp_path / "blessing", 10)
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("blessing_message", "all thresholds passed")
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
        base_directory=str(tmp_path / "serving" / "pix2pix")))
    config = json.loads(custom_config_json())
    config[lineage_record.LINEAGE_KEY] = {"config": {"trainer": {"epochs": 3}}, "pipeline": {"name": "pix2pix"},
                                          "metadata_path": None, "project_dir": str(tmp_path)}
    pusher.Executor().Do({"model": [model], "model_blessing": [blessing], **(extra or {})},
                         {"pushed_model": [pushed]},
                         {"push_destination": proto_utils.proto_to_json(destination),
                          "custom_config": json.dumps(config)})
    return pushed


def test_the_version_names_its_data_config_metrics_and_artifacts(tmp_path):
    pushed = push(tmp_path, extra=upstream(tmp_path))
    version = pushed.get_string_custom_property("pushed_destination")
    record = lineage_record.read_record(version)
    assert record["served"] == {"model_name": "pix2pix", "version": int(os.path.basename(version)), "path": version}
    assert record["data"]["splits"] == {"test": {"pairs": 2, "fingerprint": "sha256-sum:2:cd"},
                                        "train": {"pairs": 8, "fingerprint": "sha256-sum:8:ab"}}
    assert record["data"]["quarantined"] == {"too_small": 1} and record["data"]["layout"] == "aligned"
    assert record["validation"]["drift"]["features"][0]["feature"] == "input_width"
    assert record["training"] == {"exported_epoch": 3, "total_epochs": 3}
    assert record["evaluation"]["candidate"] == {"l1": {"mean": 12.5}}
    assert record["evaluation"]["message"] == "all thresholds passed"
    assert record["config"] == {"trainer": {"epochs": 3}}
    assert record["code"] == {"commit": None, "dirty": None, "source": "unknown"}   # tmp_path is no git checkout
    assert {role: entry["id"] for role, entry in record["mlmd"]["artifacts"].items()} == {
        "examples": 2, "anomalies": 4, "model_run": 7, "model_evaluation": 9, "model": 6, "model_blessing": 10}
    card = open(lineage_record.model_card_path(version), encoding="utf-8").read()
    assert "&lt;facades&gt;" in card and "<facades>" not in card and "data:image/png;base64," in card
    # The archived copy with the PushedModel artifact is the version as published.
    assert os.path.isfile(lineage_record.lineage_path(pushed.uri))


def test_the_code_version_comes_from_the_image_when_there_is_no_git(tmp_path, monkeypatch):
    monkeypatch.setenv(lineage_record.CODE_VERSION_ENV, "abc123")
    version = push(tmp_path).get_string_custom_property("pushed_destination")
    assert lineage_record.read_record(version)["code"] == {"commit": "abc123", "dirty": None,
                                                         "source": lineage_record.CODE_VERSION_ENV}


def test_an_unblessed_model_leaves_no_record_anywhere(tmp_path):
    push(tmp_path, blessed=False, extra=upstream(tmp_path))
    assert not (tmp_path / "serving").exists()


def test_a_failure_while_describing_publishes_nothing(tmp_path, monkeypatch):
    from components.pusher import model_card

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(model_card, "write_model_card", broken)
    with pytest.raises(OSError, match="disk full"):
        push(tmp_path, extra=upstream(tmp_path))
    assert os.listdir(tmp_path / "serving" / "pix2pix") == []   # no version, no staging folder


def test_a_record_of_another_format_is_refused(tmp_path):
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / "lineage.json").write_text(json.dumps({"record": "other"}))
    with pytest.raises(lineage_record.LineageRecordError, match="not a"):
        lineage_record.read_record(str(tmp_path))
