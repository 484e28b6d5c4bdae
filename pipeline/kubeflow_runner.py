"""Compiles the pipeline for Vertex AI Pipelines and Kubeflow Pipelines v2.

The same ``create_pipeline`` the local runner uses is compiled by TFX's
KubeflowV2DagRunner into a pipeline spec. What differs is only where things
run: every step in the profile's container image (module code is imported
from the image by dotted path, nothing is uploaded), Beam on Dataflow when the
profile has a ``dataflow`` section, and the Trainer step on the profile's
accelerator. Compiling needs no network and no cloud credentials.
"""
from __future__ import annotations

import json
import os
import uuid
from typing import Any, Dict, List, Optional

import yaml
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from kfp.pipeline_spec import pipeline_spec_pb2
from pipeline import output_paths
from pipeline.config import Config, ConfigError
from pipeline.profiles import REMOTE_RUNNERS, ResourceSettings
from pipeline.pipeline_def import create_pipeline

TRAINER_ID = "Trainer"
# The settings that must name cloud storage for a remote run (local paths are fine to compile).
# Optional ones (null) are not read at all by the remote run.
REMOTE_PATH_KEYS = ("pipeline.root", "data.dataset_dir", "pusher.serving_dir", "pusher.model_config_file")


def check_remote_profile(config: Config) -> None:
    """A remote profile that the remote runner cannot honour fails here, naming the key."""
    if config.profile.runner not in REMOTE_RUNNERS:
        raise ConfigError(f"--profile {config.profile_name}: runner {config.profile.runner!r} runs here with "
                          f"`python -m pipeline run`; compile/submit/schedule need a profile whose runner is "
                          f"one of {list(REMOTE_RUNNERS)}")
    if config.data.split_mode == "auto":
        raise ConfigError(f"data.split_mode: auto looks for split folders when the pipeline is built, on this "
                          f"machine; a {config.profile.runner} run happens later, elsewhere. Set data.split_mode to "
                          "folders (every data.split_folders entry exists) or hash (data.split_ratios) in "
                          f"profiles.{config.profile_name}.overrides")
    if config.pusher.infra_validation:
        raise ConfigError("pusher.infra_validation: the InfraValidator is wired to a local Docker engine, which "
                          f"{config.profile.runner} steps do not have; set it to false for --profile "
                          f"{config.profile_name}")


def setting(config: Config, dotted: str) -> Optional[str]:
    """A ``section.key`` setting's value."""
    section, key = dotted.split(".")
    return getattr(getattr(config, section), key)


def local_paths(config: Config) -> List[str]:
    """The storage settings that still point at this machine (a remote run cannot read or write them)."""
    return [dotted for dotted in REMOTE_PATH_KEYS
            if setting(config, dotted) is not None and "://" not in setting(config, dotted)]


def check_remote_storage(config: Config) -> None:
    """A remote run reads and writes cloud storage only; local paths fail here, not an hour later."""
    local = local_paths(config)
    if local:
        where = "Vertex AI" if config.profile.runner == "vertex" else "Kubeflow Pipelines"
        raise ConfigError(f"{', '.join(local)}: local path(s) {[setting(config, k) for k in local]}; a {where} "
                          f"run needs gs:// URIs (set them in profiles.{config.profile_name}.overrides)")


def beam_pipeline_args(config: Config) -> List[str]:
    """DataflowRunner args from the profile; without a dataflow section, the local Beam settings."""
    profile, dataflow = config.profile, config.profile.dataflow
    if dataflow is None:
        return config.beam.pipeline_args()
    args = [
        "--runner=DataflowRunner",
        f"--project={profile.project}",
        f"--region={dataflow.region or profile.region}",
        f"--temp_location={dataflow.temp_location}",
        f"--machine_type={dataflow.machine_type}",
        f"--max_num_workers={dataflow.max_num_workers}",
        # Workers run the project's image too: the custom ExampleGen's Beam stages import the project's code.
        f"--sdk_container_image={profile.image}",
        "--sdk_location=container",
        "--experiments=use_runner_v2",
    ]
    if profile.service_account:
        args.append(f"--service_account_email={profile.service_account}")
    if dataflow.disk_size_gb:
        args.append(f"--disk_size_gb={dataflow.disk_size_gb}")
    if dataflow.subnetwork:
        args.append(f"--subnetwork={dataflow.subnetwork}")
    return args + list(dataflow.extra_args) + list(config.beam.extra_args)


def resource_spec(settings: ResourceSettings):
    """The step's container resources (vCPU, memory, GPU type and count) in pipeline-spec form."""
    spec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec()
    if settings.cpu_limit:
        spec.cpu_limit = settings.cpu_limit
    if settings.memory_limit_gib:
        spec.memory_limit = settings.memory_limit_gib
    if settings.accelerator_type:
        spec.accelerator.type = settings.accelerator_type
        spec.accelerator.count = settings.accelerator_count
    return spec


def build_pipeline(config: Config) -> tfx.dsl.Pipeline:
    """``create_pipeline`` with the profile's Beam args and the Trainer's machine."""
    check_remote_profile(config)
    pipeline = create_pipeline(config, beam_pipeline_args=beam_pipeline_args(config))
    if config.profile.trainer_resources is not None:
        trainer = next(c for c in pipeline.components if c.id == TRAINER_ID)
        trainer.with_platform_config(resource_spec(config.profile.trainer_resources))
    return pipeline


def compile_spec(config: Config) -> Dict[str, Any]:
    """The PipelineJob (Vertex) as a dict: ``pipelineSpec`` plus ``runtimeConfig``."""
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=config.pipeline.name, default_image=config.profile.image))
    return runner.run(build_pipeline(config), write_out=False)


def compile_pipeline(config: Config, output_path: str) -> str:
    """Writes the compiled pipeline: a PipelineJob JSON for Vertex, a KFP package (YAML) for Kubeflow.

    The file is written next to its destination and renamed into place, so an
    earlier file at ``output_path`` is replaced whole or not at all.
    """
    if config.profile.runner == "kubeflow" and not output_path.endswith((".yaml", ".yml")):
        raise ConfigError(f"--output {output_path}: Kubeflow Pipelines reads pipeline packages named *.yaml")
    output_paths.check_compiled_output(config, output_path)
    job = compile_spec(config)
    if config.profile.runner == "vertex":
        text = json.dumps(job, indent=2, sort_keys=True) + "\n"
    else:  # Kubeflow Pipelines v2 reads the bare PipelineSpec; its root is the pipeline's own.
        spec = dict(job["pipelineSpec"])
        spec.setdefault("defaultPipelineRoot", job["runtimeConfig"].get("gcsOutputDirectory", ""))
        text = yaml.safe_dump(spec, sort_keys=True)
    os.makedirs(os.path.dirname(os.path.abspath(output_path)), exist_ok=True)
    staging = f"{output_path}.compiling-{uuid.uuid4().hex}"
    try:
        with open(staging, "x", encoding="utf-8") as handle:  # never truncates a file that is there
            handle.write(text)
        os.replace(staging, output_path)
    except BaseException:
        if os.path.exists(staging):
            os.remove(staging)
        raise
    return output_path

