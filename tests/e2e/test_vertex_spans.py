"""The compiled Vertex AI pipeline resolves spans when it runs, not when it is compiled.

The spec is compiled once for a gs:// dataset location with a ``{SPAN}`` pattern; its
ExampleGen task is then launched the way Vertex launches it (TFX's compiled
file-based ExampleGen driver, then the executor, through the Kubeflow V2
entrypoints in tests/support/vertex_launcher.py) with ``input_base`` pointed at a
local folder, as a run-time parameter would. A span that lands after compilation
is the one the next launch ingests, from the same compiled spec.
"""
import copy
import json
import os
import re

import pytest

from components.example_gen import spans
from data.synthetic_facades import generate_dataset
from pipeline import kubeflow_runner
from pipeline.config import load_config
from tests.support import paths
from tests.support import vertex_launcher

pytestmark = pytest.mark.e2e  # launches compiled tasks in subprocesses

ROOT = paths.ROOT
TASK = "FileBasedExampleGen"
BUCKET_BASE = "gs://my-gcp-project-pix2pix/data"
SETTINGS = [f"data.dataset_dir={BUCKET_BASE}/span-{{SPAN}}", "data.spans.window=2", "data.split_mode=hash",
            "profiles.vertex.dataflow=null"]


@pytest.fixture(scope="module")
def job():
    config = load_config(os.path.join(ROOT, "pipeline_config.yaml"), SETTINGS, profile="vertex")
    return kubeflow_runner.compile_spec(config)


def _constant(job, name):
    parameters = job["pipelineSpec"]["root"]["dag"]["tasks"][TASK]["inputs"]["parameters"]
    value = parameters[name]["runtimeValue"]["constantValue"]
    return value.get("stringValue", value.get("intValue"))


def test_the_compiled_example_gen_keeps_the_span_pattern_for_run_time(job):
    assert _constant(job, "input_base") == BUCKET_BASE
    patterns = [split["pattern"] for split in json.loads(_constant(job, "input_config"))["splits"]]
    assert patterns and all(pattern.startswith("span-{SPAN}/") for pattern in patterns)
    assert json.loads(_constant(job, "range_config")) == {"rolling_range": {"num_spans": 1}}
    driver = job["pipelineSpec"]["deploymentSpec"]["executors"][f"{TASK}_executor"]["container"]["lifecycle"]
    assert driver["preCacheCheck"]["command"][-1] == "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"


def test_nothing_about_the_data_is_frozen_into_the_spec(job):
    text = json.dumps(job)
    assert not re.search(r"span-\d", text)                        # no span folder
    assert not re.search(r'\\*"(span|version|input_fingerprint)\\*": *\\*"?\d', text)   # no resolved value
    assert "static_range" not in text


def _launch(job, base, root):
    before = copy.deepcopy(job)
    produced = vertex_launcher.run_task(job, TASK, str(root), ROOT, {},
                                        parameters={"input_base": {"stringValue": str(base)}}, timeout_s=600)
    assert job == before                                          # the compiled spec is not touched
    examples = produced["examples"][0]
    with open(root / TASK / "executor_output.json") as handle:
        return examples, json.load(handle)


def _records(split_dir):
    import tensorflow as tf
    files = [os.path.join(split_dir, name) for name in os.listdir(split_dir)]
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


@pytest.fixture(scope="module")
def launches(job, tmp_path_factory):
    work = tmp_path_factory.mktemp("vertex_spans")
    base = work / "data"
    generate_dataset(str(base / "span-1"), num_pairs=12, image_size=32, seed=1)
    first = _launch(job, base, work / "run1")
    generate_dataset(str(base / "span-2"), num_pairs=12, image_size=32, seed=2)   # lands after compiling
    second = _launch(job, base, work / "run2")
    return work, first, second


def test_the_first_launch_ingests_the_only_span(launches):
    _, (examples, _), _ = launches
    metadata = examples["metadata"]
    assert int(metadata["span"]) == 1
    assert [(entry["span"], entry["role"]) for entry in json.loads(metadata[spans.SPANS_PROPERTY])] == [(1, "newest")]


def test_a_span_that_arrives_later_is_the_next_launch_newest(launches):
    work, _, (examples, _) = launches
    metadata = examples["metadata"]
    assert int(metadata["span"]) == 2
    listed = json.loads(metadata[spans.SPANS_PROPERTY])
    assert [(entry["span"], entry["role"]) for entry in listed] == [(2, "newest"), (1, spans.EARLIER_TRAIN_SPLIT)]
    assert listed[0]["location"].startswith(str(work / "data" / "span-2"))


def test_the_window_brings_the_earlier_span_train_pairs(launches):
    work, (first, _), (second, _) = launches
    assert spans.EARLIER_TRAIN_SPLIT in json.loads(second["metadata"]["split_names"])
    assert _records(os.path.join(second["uri"], f"Split-{spans.EARLIER_TRAIN_SPLIT}")) > 0
    assert _records(os.path.join(first["uri"], f"Split-{spans.EARLIER_TRAIN_SPLIT}")) == 0   # nothing earlier yet
    assert _records(os.path.join(second["uri"], "Split-train")) > 0
