"""End to end: three scheduled runs as spans arrive (`python -m pipeline simulate-spans`, tiny settings).

Span 1 is trained, blessed and pushed; span 2 is trained on the window (spans 2 and 1), warm-started
from the blessed model, compared with it and pushed only if not worse; span 3 has images of another
size class and is stopped by the drift check before training, with serving unchanged. The facts are
checked again here, from ML Metadata, the serving folder and `python -m pipeline lineage`.
"""
import json
import os
import subprocess
import sys

import ml_metadata as mlmd
import pytest
from ml_metadata.proto import metadata_store_pb2

from components.example_gen import spans
from pipeline import span_simulation
from tests.support import paths

pytestmark = pytest.mark.e2e  # runs the whole pipeline (or its compiled tasks) end to end

ROOT = paths.ROOT
TINY = ["data.synthetic.num_pairs=24", "data.synthetic.image_size=48", "transform.image_size=32",
        "trainer.ngf=8", "trainer.ndf=8", "trainer.epochs=1", "trainer.epochs_decay=1", "trainer.min_steps=0",
        "trainer.batch_size=4", "trainer.samples_every_epochs=1", "evaluator.sample_images=2",
        "serving.tflite=[]", "evaluator.thresholds={l1: {statistic: mean, max: 255}, psnr: {statistic: mean, min: 0}}"]


def _cli(*args, timeout=1500):
    command = [sys.executable, "-m", "pipeline", *args, "--config", paths.DEFAULT_CONFIG]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def simulation(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("spans") / "simulation"
    settings = [part for setting in TINY for part in ("--set", setting)]
    result = _cli("simulate-spans", "--workdir", str(workdir), *settings)
    facts = json.loads((workdir / span_simulation.RESULT_FILE).read_text()) if (
        workdir / span_simulation.RESULT_FILE).exists() else None
    return workdir, result, facts


def test_three_scheduled_runs_behave_as_spans_arrive(simulation):
    workdir, result, facts = simulation
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert [run["span"] for run in facts] == [1, 2, 3]
    first, second, third = facts
    assert first["ingested_spans"] == [1] and first["new_version"] and first["lineage_spans"] == [1]
    assert second["ingested_spans"] == [2, 1] and second["warm_started_from"] and second["compared_with_blessed"]
    assert bool(second["new_version"]) == second["blessed"]          # pushed only if not worse
    if second["new_version"]:
        assert second["lineage_spans"] == [2, 1]
    assert third["stopped_by_validation"] and third["new_version"] is None
    assert third["served_version"] == (second["new_version"] or first["new_version"])
    assert "stopped by validation: ok" in result.stdout


def test_the_examples_in_ml_metadata_carry_their_spans(simulation):
    workdir, _, _ = simulation
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = str(workdir / "metadata.sqlite")
    store = mlmd.MetadataStore(config)
    examples = sorted(store.get_artifacts_by_type("Examples"), key=lambda artifact: artifact.id)
    assert [artifact.custom_properties["span"].int_value for artifact in examples] == [1, 2, 3]
    listed = json.loads(examples[1].custom_properties[spans.SPANS_PROPERTY].string_value)
    assert [(entry["span"], entry["role"]) for entry in listed] == [(2, "newest"), (1, spans.EARLIER_TRAIN_SPLIT)]
    assert listed[0]["location"] == str(workdir / "dataset" / "span-2")
    statistics = sorted(store.get_artifacts_by_type("ExampleStatistics"), key=lambda artifact: artifact.id)
    assert [artifact.properties["span"].int_value for artifact in statistics] == [1, 2, 3]


def test_the_stopped_run_names_both_spans_and_serving_is_unchanged(simulation):
    workdir, result, facts = simulation
    assert "span 3 vs span" in result.stdout and "input_width" in result.stdout
    served = sorted(name for name in os.listdir(workdir / "serving_model" / "pix2pix") if name.isdigit())
    assert served[-1] == facts[2]["served_version"]


def test_each_pushed_versions_lineage_names_its_spans(simulation):
    workdir, _, facts = simulation
    overrides = [part for setting in span_simulation.settings_for(str(workdir), 2) for part in ("--set", setting)]
    result = _cli("lineage", facts[0]["new_version"], *overrides, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "spans: span 1 (newest)" in result.stdout

