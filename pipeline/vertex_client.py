"""Submits and schedules the compiled pipeline on Vertex AI Pipelines (google-cloud-aiplatform).

Objects are built from the profile alone; nothing is sent until ``submit`` or
``create_schedule`` is called, so tests and ``--dry-run`` exercise the same
code up to the network call.
"""
from __future__ import annotations

import datetime
from typing import Any, Dict, List

from pipeline import cron
from pipeline.config import Config, ConfigError
from pipeline.kubeflow_runner import check_remote_storage

LABELS = {"app": "pix2pix-tfx"}


def pipeline_job(config: Config, template_path: str, credentials=None):
    """The ``aiplatform.PipelineJob`` for a compiled pipeline; parses the spec, sends nothing."""
    from google.cloud import aiplatform

    profile = config.profile
    return aiplatform.PipelineJob(
        display_name=config.pipeline.name,
        template_path=template_path,
        pipeline_root=config.resolve(config.pipeline.root),
        enable_caching=config.pipeline.enable_cache,
        project=profile.project,
        location=profile.region,
        credentials=credentials,
        labels=dict(LABELS))


def submit(config: Config, template_path: str, credentials=None):
    """Starts one run now; returns the submitted job (its console link is logged by aiplatform)."""
    check_remote_storage(config)
    job = pipeline_job(config, template_path, credentials)
    job.submit(service_account=config.profile.service_account)
    return job


def schedule_arguments(config: Config) -> Dict[str, Any]:
    """``PipelineJob.create_schedule`` arguments; the cron carries the time zone as Vertex expects."""
    schedule = config.profile.schedule
    if schedule is None:
        raise ConfigError(f"profiles.{config.profile_name}.schedule: not set; add cron and time_zone "
                          "(e.g. cron: \"0 3 * * 1\", time_zone: Europe/Berlin)")
    return {
        "cron": f"TZ={schedule.time_zone} {schedule.cron}",
        "display_name": schedule.display_name or f"{config.pipeline.name}-schedule",
        "max_concurrent_run_count": schedule.max_concurrent_runs,
        "max_run_count": schedule.max_runs,
        "service_account": config.profile.service_account,
    }


def create_schedule(config: Config, template_path: str, credentials=None):
    """Creates the Vertex AI schedule that runs the compiled pipeline on the profile's cron."""
    check_remote_storage(config)
    arguments = schedule_arguments(config)
    return pipeline_job(config, template_path, credentials).create_schedule(**arguments)


def describe_schedule(config: Config, now: datetime.datetime, count: int = 3) -> List[str]:
    """Human-readable lines: what would be scheduled and when it fires next."""
    arguments = schedule_arguments(config)
    schedule = config.profile.schedule
    times = cron.next_fire_times(schedule.cron, schedule.time_zone, now, count)
    return ([f"schedule {arguments['display_name']!r}: cron {arguments['cron']!r}, "
             f"at most {arguments['max_concurrent_run_count']} run(s) at a time"]
            + [f"  next run: {moment.isoformat()}" for moment in times])

