"""The whole compiled Vertex AI pipeline, run here task by task through TFX's Kubeflow V2
container entrypoints (tests/support/vertex_launcher.py): the compiled spec, not the Python
pipeline object, trains, blesses and pushes a model.
"""
import json
import os

import pytest
import tensorflow as tf

from data.synthetic_facades import generate_dataset
from pipeline import kubeflow_runner
from pipeline.config import load_config
from tests.support import vertex_launcher
from tests.support import paths

pytestmark = pytest.mark.e2e  # runs the whole pipeline (or its compiled tasks) end to end

ROOT = paths.ROOT
TINY = ["transform.image_size=32", "trainer.ngf=8", "trainer.ndf=8", "trainer.epochs=1", "trainer.epochs_decay=0", "trainer.min_steps=0",
        "trainer.batch_size=4", "evaluator.sample_images=2",
        "evaluator.thresholds={l1: {statistic: mean, max: 255}}", "profiles.vertex.dataflow=null"]


@pytest.fixture(scope="module")
def vertex_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("vertex_e2e")
    generate_dataset(str(work / "dataset"), num_pairs=20, image_size=48, seed=0)
    config = load_config(os.path.join(ROOT, "pipeline_config.yaml"), [
        f"pipeline.root={work}/root", f"data.dataset_dir={work}/dataset", "data.split_mode=hash",
        f"pusher.serving_dir={work}/serving_model", "pusher.model_config_file=null", *TINY], profile="vertex")
    job = kubeflow_runner.compile_spec(config)
    produced = vertex_launcher.run_pipeline(job, str(work / "tasks"), ROOT)
    return work, produced


def test_every_compiled_task_ran(vertex_run):
    _, produced = vertex_run
    assert {"FileBasedExampleGen", "StatisticsGen", "CuratedSchemaImporter", "ExampleValidator", "Transform",
            "Trainer", "ImageQualityEvaluator", "Pusher"} <= set(produced)


def test_the_examples_carry_their_splits_downstream(vertex_run):
    _, produced = vertex_run
    examples = produced["FileBasedExampleGen"]["examples"][0]
    assert sorted(json.loads(examples["metadata"]["split_names"])) == ["eval", "test", "train"]


def test_the_model_is_blessed_and_pushed_in_tf_serving_layout(vertex_run):
    work, produced = vertex_run
    blessing = produced["ImageQualityEvaluator"]["blessing"][0]["metadata"]
    assert blessing["blessed"] == 1
    assert blessing["current_model_id"] == produced["Trainer"]["model"][0]["name"]
    versions = os.listdir(work / "serving_model" / "pix2pix")
    assert len(versions) == 1 and versions[0].isdigit()
    served = tf.saved_model.load(str(work / "serving_model" / "pix2pix" / versions[0]))
    assert "serving_default" in served.signatures
