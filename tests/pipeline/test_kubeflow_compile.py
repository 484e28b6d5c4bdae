"""The pipeline compiled for Vertex AI / Kubeflow is the local pipeline, run elsewhere.

Compiles offline (no network, no credentials), then reads the result with
Vertex's own client library and compares it with the local pipeline object.
"""
import json
import os

import pytest
import yaml
from google.auth.credentials import AnonymousCredentials

from pipeline import kubeflow_runner, vertex_client
from pipeline.config import ConfigError, load_config
from pipeline.pipeline_def import create_pipeline

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

CONFIG = "pipeline_config.yaml"
BEAM_COMPONENTS = ("FileBasedExampleGen", "StatisticsGen", "Transform")
RESOLVER_ID = "latest_blessed_model_resolver"


@pytest.fixture(scope="module")
def vertex_config():
    return load_config(CONFIG, profile="vertex")


@pytest.fixture(scope="module")
def compiled(vertex_config, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("compiled") / "pix2pix_pipeline.json")
    kubeflow_runner.compile_pipeline(vertex_config, path)
    with open(path) as handle:
        return path, json.load(handle)


def _task_id(task_name):
    """Compiled task -> local node id (the resolver node compiles into one task per channel)."""
    return RESOLVER_ID if task_name.startswith(RESOLVER_ID + "-") else task_name


def test_vertex_client_library_parses_the_compiled_job_offline(compiled, vertex_config):
    path, _ = compiled
    job = vertex_client.pipeline_job(vertex_config, path, credentials=AnonymousCredentials())
    resource = job._gca_resource
    assert resource.display_name == "pix2pix"
    assert resource.runtime_config.gcs_output_directory == vertex_config.pipeline.root
    assert job.project == vertex_config.profile.project and job.location == vertex_config.profile.region
    assert "Trainer" in job.pipeline_spec["root"]["dag"]["tasks"]


def test_local_and_compiled_pipelines_have_the_same_components_and_edges(compiled, vertex_config, tmp_path):
    _, job = compiled
    tasks = job["pipelineSpec"]["root"]["dag"]["tasks"]
    compiled_edges = {(_task_id(upstream), _task_id(name))
                      for name, task in tasks.items() for upstream in task.get("dependentTasks", [])}
    compiled_nodes = {_task_id(name) for name in tasks}

    # A scheduled profile warm-starts by default (continuous training): the local run is told to as well.
    assert vertex_config.trainer.warm_start
    local_config = load_config(CONFIG, [f"data.dataset_dir={tmp_path}", "data.split_mode=folders",
                                        "trainer.warm_start=true"])
    local = create_pipeline(local_config)
    local_nodes = {node.id for node in local.components}
    local_edges = {(upstream.id, node.id) for node in local.components for upstream in node.upstream_nodes}

    assert compiled_nodes == local_nodes
    assert compiled_edges == local_edges
    assert {"FileBasedExampleGen", "StatisticsGen", "CuratedSchemaImporter", "ExampleValidator", "Transform",
            "Trainer", RESOLVER_ID, "ImageQualityEvaluator", "Pusher"} == local_nodes


def test_every_step_runs_the_profile_image_with_dataflow_args(compiled, vertex_config):
    _, job = compiled
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    containers = {name[: -len("_executor")]: spec["container"] for name, spec in executors.items()
                  if "container" in spec}
    assert set(BEAM_COMPONENTS) <= set(containers)
    profile, dataflow = vertex_config.profile, vertex_config.profile.dataflow
    for name, container in containers.items():
        assert container["image"] == profile.image, name
    for name in BEAM_COMPONENTS:
        args = containers[name]["args"]
        for expected in ("--runner=DataflowRunner", f"--project={profile.project}", f"--region={profile.region}",
                         f"--temp_location={dataflow.temp_location}", f"--machine_type={dataflow.machine_type}",
                         f"--max_num_workers={dataflow.max_num_workers}", f"--sdk_container_image={profile.image}",
                         f"--service_account_email={profile.service_account}"):
            assert expected in args, (name, expected)
        assert not any(arg.startswith("--direct_") for arg in args), name


def test_module_code_is_referenced_by_dotted_path_not_uploaded(compiled):
    _, job = compiled
    text = json.dumps(job)
    assert "components.trainer.run_fn.run_fn" in text
    assert "components.transform.preprocessing.preprocessing_fn" in text
    trainer_inputs = job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    assert "module_file" not in trainer_inputs and "module_path" not in trainer_inputs
    containers = job["pipelineSpec"]["deploymentSpec"]["executors"]
    assert containers["FileBasedExampleGen_executor"]["container"]["args"][1] == "components.example_gen.executor.Executor"


def test_the_trainer_step_gets_the_profile_accelerator_and_the_others_do_not(compiled, vertex_config):
    _, job = compiled
    executors = job["pipelineSpec"]["deploymentSpec"]["executors"]
    resources = executors["Trainer_executor"]["container"]["resources"]
    wanted = vertex_config.profile.trainer_resources
    assert resources["accelerator"] == {"type": wanted.accelerator_type, "count": str(wanted.accelerator_count)}
    assert resources["cpuLimit"] == wanted.cpu_limit and resources["memoryLimit"] == wanted.memory_limit_gib
    others = [name for name, spec in executors.items()
              if name != "Trainer_executor" and "resources" in spec.get("container", {})]
    assert others == []


def test_the_trainer_settings_travel_unchanged(compiled, vertex_config):
    _, job = compiled
    trainer_inputs = job["pipelineSpec"]["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    custom_config = json.loads(trainer_inputs["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])
    assert custom_config["trainer"]["epochs"] == vertex_config.trainer.epochs
    assert custom_config["checkpoint_root"].startswith(vertex_config.pipeline.root)


def test_compiles_offline_with_a_local_pipeline_root(tmp_path):
    config = load_config(CONFIG, [f"pipeline.root={tmp_path}/root"], profile="vertex")
    path = kubeflow_runner.compile_pipeline(config, str(tmp_path / "out" / "job.json"))
    job = json.load(open(path))
    assert job["runtimeConfig"]["gcsOutputDirectory"] == f"{tmp_path}/root"
    assert kubeflow_runner.local_paths(config) == ["pipeline.root"]
    assert os.listdir(tmp_path / "out") == ["job.json"]          # no staging file left behind


def test_kubeflow_profile_writes_a_package_kfp_reads(tmp_path):
    from kfp.client.client import _extract_pipeline_yaml

    config = load_config(CONFIG, profile="kubeflow")
    path = kubeflow_runner.compile_pipeline(config, str(tmp_path / "pipeline.yaml"))
    doc = _extract_pipeline_yaml(path)
    assert doc.pipeline_spec.default_pipeline_root == config.pipeline.root
    assert "Trainer" in doc.pipeline_spec.root.dag.tasks
    assert yaml.safe_load(open(path))["deploymentSpec"]["executors"]["Trainer_executor"]["container"]["image"] \
        == config.profile.image


@pytest.mark.parametrize("overrides, message", [
    (["data.split_mode=auto"], "data.split_mode: auto looks for split folders when the pipeline is built"),
    (["pusher.infra_validation=true"], "pusher.infra_validation: the InfraValidator is wired to a local Docker"),
])
def test_settings_a_remote_run_cannot_honour_fail_before_compiling(tmp_path, overrides, message):
    config = load_config(CONFIG, overrides, profile="vertex")
    with pytest.raises(ConfigError, match=message):
        kubeflow_runner.compile_pipeline(config, str(tmp_path / "job.json"))
    assert not (tmp_path / "job.json").exists()


def test_without_dataflow_the_steps_use_the_direct_runner(tmp_path):
    config = load_config(CONFIG, ["profiles.vertex.dataflow=null"], profile="vertex")
    args = kubeflow_runner.beam_pipeline_args(config)
    assert "--direct_running_mode=in_memory" in args and not any("Dataflow" in a for a in args)


def test_a_kubeflow_package_must_be_named_yaml(tmp_path):
    config = load_config(CONFIG, profile="kubeflow")
    with pytest.raises(ConfigError, match="Kubeflow Pipelines reads pipeline packages named"):
        kubeflow_runner.compile_pipeline(config, str(tmp_path / "pipeline.json"))


def test_a_local_serving_model_config_is_a_local_path_for_a_remote_run_and_null_is_none():
    local = load_config(CONFIG, ["pusher.model_config_file=serving/models.config"], profile="vertex")
    assert kubeflow_runner.local_paths(local) == ["pusher.model_config_file"]
    without = load_config(CONFIG, ["pusher.model_config_file=null"], profile="vertex")
    assert kubeflow_runner.local_paths(without) == []
    assert kubeflow_runner.local_paths(load_config(CONFIG, profile="kubeflow")) == []
