"""A compiled step runs the way Vertex AI launches it: TFX's Kubeflow V2 container entrypoint,
the compiled command and arguments, an ExecutorInput naming runtime artifacts.

Only the Evaluator step is launched (on a tiny real export and eval split): it is
the step whose output the compiled latest-blessed-model resolver must find again
by artifact name, which decides whether regression checks and warm starts work
on Vertex AI at all.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from components import features
from pipeline import kubeflow_runner
from pipeline.config import load_config
from tests.support import images
from tests.support.serving_doubles import exported_model
from tests.support import paths

pytestmark = pytest.mark.e2e  # runs the whole pipeline (or its compiled tasks) end to end

ROOT = paths.ROOT
STORE = "projects/my-gcp-project/locations/us-central1/metadataStores/default/artifacts"
TASK = "ImageQualityEvaluator"


def _example(seed):
    feature = {features.INPUT_IMAGE_KEY: images.png(16, 16, seed=seed),
               features.TARGET_IMAGE_KEY: images.png(16, 16, seed=seed + 100),
               features.PAIR_ID_KEY: f"pair{seed}".encode()}
    return tf.train.Example(features=tf.train.Features(feature={
        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])) for key, value in feature.items()}))


def _runtime_artifact(component, direction, key, name, uri, metadata=None):
    """What the launcher puts in ExecutorInput: the artifact type exactly as compiled, a name, a URI."""
    definitions = component[f"{direction}Definitions"]["artifacts"][key]
    return {"artifacts": [{"name": f"{STORE}/{name}", "type": definitions["artifactType"], "uri": uri,
                           "metadata": metadata or {}}]}


@pytest.fixture(scope="module")
def launched(transform_output_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("vertex_task")
    config = load_config(os.path.join(ROOT, "pipeline_config.yaml"), profile="vertex")
    job = kubeflow_runner.compile_spec(config)
    spec = job["pipelineSpec"]
    component = spec["components"][TASK]
    container = spec["deploymentSpec"]["executors"][f"{TASK}_executor"]["container"]
    parameters = spec["root"]["dag"]["tasks"][TASK]["inputs"]["parameters"]

    export_dir, _ = exported_model(transform_output_dir, tmp_path_factory)
    model_uri = root / "Trainer" / "model"
    shutil.copytree(export_dir, model_uri / "Format-Serving")
    split_dir = root / "ExampleGen" / "examples" / "Split-eval"
    split_dir.mkdir(parents=True)
    writer_records = [_example(seed).SerializeToString() for seed in range(3)]
    with tf.io.TFRecordWriter(str(split_dir / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
        for record in writer_records:
            writer.write(record)

    executor_input = {
        "inputs": {
            "artifacts": {
                "examples": _runtime_artifact(component, "input", "examples", "101",
                                              str(root / "ExampleGen" / "examples"),
                                              {"split_names": json.dumps(["eval"])}),
                "model": _runtime_artifact(component, "input", "model", "102", str(model_uri)),
            },
            # Pipeline spec 2.0 (what KubeflowV2DagRunner compiles): parameters as KFP Values.
            "parameters": {"custom_config": parameters["custom_config"]["runtimeValue"]["constantValue"]},
        },
        "outputs": {
            "artifacts": {
                "evaluation": _runtime_artifact(component, "output", "evaluation", "103",
                                                str(root / TASK / "evaluation")),
                "blessing": _runtime_artifact(component, "output", "blessing", "104", str(root / TASK / "blessing")),
            },
            "outputFile": str(root / TASK / "executor_output.json"),
        },
    }
    assert container["command"][0] == "python"
    command = [sys.executable, *container["command"][1:],
               *[json.dumps(executor_input) if arg == "{{$}}" else arg for arg in container["args"]]]
    env = {**os.environ, "PYTHONPATH": ROOT}          # the image puts the project on PYTHONPATH
    result = subprocess.run(command, cwd=str(root), env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(root / TASK / "executor_output.json") as handle:
        return root, json.load(handle), spec


def test_the_blessing_names_the_model_the_way_the_compiled_resolver_queries_it(launched):
    _, output, spec = launched
    blessing = output["artifacts"]["blessing"]["artifacts"][0]["metadata"]
    assert blessing["current_model_id"] == f"{STORE}/102"
    query = spec["deploymentSpec"]["executors"]["latest_blessed_model_resolver-model-resolver_executor"]
    assert "metadata['current_model_id']" in json.dumps(query)   # the model is found by that name


def test_the_step_wrote_the_evaluator_outputs(launched):
    root, output, _ = launched
    blessing = output["artifacts"]["blessing"]["artifacts"][0]["metadata"]
    assert blessing["blessed"] in (0, 1) and blessing["blessing_message"]
    marker = "BLESSED" if blessing["blessed"] else "NOT_BLESSED"
    assert (root / TASK / "blessing" / marker).exists()
    evaluation = output["artifacts"]["evaluation"]["artifacts"][0]["metadata"]
    assert json.loads(evaluation["summary"])["num_examples"] == 3
    assert os.path.exists(evaluation["report"])
