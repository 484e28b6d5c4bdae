"""Submits and schedules the compiled pipeline on open-source Kubeflow Pipelines v2 (kfp.Client)."""
from __future__ import annotations

from typing import Any, Dict

from pipeline.config import Config, ConfigError
from pipeline.kubeflow_runner import check_remote_storage


def client(config: Config):
    """A ``kfp.Client`` for the profile's ``kfp_host`` (created lazily: it connects at construction)."""
    import kfp

    if not config.profile.kfp_host:
        raise ConfigError(f"profiles.{config.profile_name}.kfp_host: not set; the Kubeflow Pipelines API "
                          "endpoint, e.g. http://localhost:8080 after "
                          "`kubectl port-forward svc/ml-pipeline-ui 8080:80 -n kubeflow`")
    return kfp.Client(host=config.profile.kfp_host)


def run_arguments(config: Config, package_path: str) -> Dict[str, Any]:
    """``kfp.Client.create_run_from_pipeline_package`` arguments."""
    return {
        "pipeline_file": package_path,
        "run_name": config.pipeline.name,
        "experiment_name": config.profile.experiment or config.pipeline.name,
        "enable_caching": config.pipeline.enable_cache,
        "service_account": config.profile.service_account,
    }


def kfp_cron(config: Config) -> str:
    """KFP's recurring runs take six cron fields (seconds first) and run in UTC."""
    schedule = config.profile.schedule
    if schedule is None:
        raise ConfigError(f"profiles.{config.profile_name}.schedule: not set; add cron (and time_zone: UTC)")
    if schedule.time_zone != "UTC":
        raise ConfigError(f"profiles.{config.profile_name}.schedule.time_zone: got {schedule.time_zone!r}; "
                          "Kubeflow Pipelines runs recurring runs in UTC only: write the cron in UTC and "
                          "set time_zone: UTC")
    return f"0 {schedule.cron}"


def submit(config: Config, package_path: str):
    check_remote_storage(config)
    return client(config).create_run_from_pipeline_package(**run_arguments(config, package_path))


def create_schedule(config: Config, package_path: str):
    """A recurring run on the profile's cron, filed under the profile's experiment."""
    check_remote_storage(config)
    cron_expression = kfp_cron(config)
    kfp_client = client(config)
    experiment = kfp_client.create_experiment(config.profile.experiment or config.pipeline.name)
    schedule = config.profile.schedule
    return kfp_client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=schedule.display_name or f"{config.pipeline.name}-schedule",
        cron_expression=cron_expression,
        max_concurrency=schedule.max_concurrent_runs,
        no_catchup=True,                 # a missed night is not made up with a burst of runs
        pipeline_package_path=package_path,
        enable_caching=config.pipeline.enable_cache,
        service_account=config.profile.service_account)
