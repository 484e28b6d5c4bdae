"""Submit and schedule build the real google-cloud-aiplatform requests; only the network call is replaced.

The GAPIC client methods that would send the request are swapped for recorders,
so everything aiplatform does before sending (parsing the spec, building the
Schedule with its cron, service account and job request) runs for real.
"""
import datetime

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform.compat.types import pipeline_job as gca_pipeline_job
from google.cloud.aiplatform.compat.types import schedule as gca_schedule
from google.cloud.aiplatform.utils import gcs_utils
from google.cloud.aiplatform_v1.services.pipeline_service import PipelineServiceClient
from google.cloud.aiplatform_v1.services.schedule_service import ScheduleServiceClient

from pipeline import kfp_client, kubeflow_runner, vertex_client
from pipeline.config import ConfigError, load_config

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

CONFIG = "pipeline_config.yaml"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("compiled") / "job.json")
    return kubeflow_runner.compile_pipeline(load_config(CONFIG, profile="vertex"), path)


@pytest.fixture
def sent(monkeypatch):
    """Records what would go over the wire; nothing leaves the machine."""
    requests = {}

    def create_schedule(self, parent, schedule, timeout=None, **kwargs):
        requests["schedule"] = (parent, schedule)
        return gca_schedule.Schedule(name=f"{parent}/schedules/123", display_name=schedule.display_name,
                                     cron=schedule.cron)

    def create_pipeline_job(self, parent, pipeline_job, pipeline_job_id=None, timeout=None, **kwargs):
        requests["job"] = (parent, pipeline_job, pipeline_job_id)
        return gca_pipeline_job.PipelineJob(name=f"{parent}/pipelineJobs/{pipeline_job_id}",
                                            display_name=pipeline_job.display_name)

    monkeypatch.setattr(ScheduleServiceClient, "create_schedule", create_schedule)
    monkeypatch.setattr(PipelineServiceClient, "create_pipeline_job", create_pipeline_job)
    monkeypatch.setattr(gcs_utils, "create_gcs_bucket_for_pipeline_artifacts_if_it_does_not_exist",
                        lambda **kwargs: None)
    return requests


def test_the_schedule_request_carries_cron_time_zone_and_the_compiled_job(compiled, sent):
    config = load_config(CONFIG, profile="vertex")
    vertex_client.create_schedule(config, compiled, credentials=AnonymousCredentials())
    parent, schedule = sent["schedule"]
    assert parent == "projects/my-gcp-project/locations/us-central1"
    assert schedule.cron == "TZ=Europe/Berlin 0 3 * * 1"
    assert schedule.display_name == "pix2pix-schedule" and schedule.max_concurrent_run_count == 1
    job = schedule.create_pipeline_job_request.pipeline_job
    assert job.service_account == config.profile.service_account
    assert job.runtime_config.gcs_output_directory == config.pipeline.root
    assert "Trainer" in job.pipeline_spec["root"]["dag"]["tasks"]
    assert "job" not in sent                      # scheduling does not also start a run


def test_submit_sends_one_pipeline_job_as_the_service_account(compiled, sent):
    config = load_config(CONFIG, profile="vertex")
    vertex_client.submit(config, compiled, credentials=AnonymousCredentials())
    parent, job, job_id = sent["job"]
    assert parent == "projects/my-gcp-project/locations/us-central1" and job_id.startswith("pix2pix")
    assert job.service_account == config.profile.service_account
    assert job.labels["app"] == "pix2pix-tfx"


def test_a_remote_run_with_local_storage_is_refused_before_sending(compiled, sent, tmp_path):
    config = load_config(CONFIG, [f"pipeline.root={tmp_path}"], profile="vertex")
    with pytest.raises(ConfigError, match="pipeline.root: local path"):
        vertex_client.submit(config, compiled, credentials=AnonymousCredentials())
    with pytest.raises(ConfigError, match="needs gs:// URIs"):
        vertex_client.create_schedule(config, compiled, credentials=AnonymousCredentials())
    assert sent == {}


def test_a_profile_without_schedule_says_what_to_add(compiled, sent):
    config = load_config(CONFIG, ["profiles.vertex.schedule=null"], profile="vertex")
    with pytest.raises(ConfigError, match="profiles.vertex.schedule: not set; add cron and time_zone"):
        vertex_client.create_schedule(config, compiled, credentials=AnonymousCredentials())
    assert sent == {}


def test_the_schedule_description_lists_the_next_runs():
    config = load_config(CONFIG, profile="vertex")
    lines = vertex_client.describe_schedule(config, datetime.datetime(2026, 11, 25, 15, tzinfo=datetime.timezone.utc))
    assert lines[0].startswith("schedule 'pix2pix-schedule': cron 'TZ=Europe/Berlin 0 3 * * 1'")
    assert lines[1] == "  next run: 2026-11-30T03:00:00+01:00"


def test_kubeflow_recurring_runs_use_seconds_first_cron_in_utc():
    config = load_config(CONFIG, profile="kubeflow")
    assert kfp_client.kfp_cron(config) == "0 0 3 * * 1"
    berlin = load_config(CONFIG, ["profiles.kubeflow.schedule.time_zone=Europe/Berlin"], profile="kubeflow")
    with pytest.raises(ConfigError, match="Kubeflow Pipelines runs recurring runs in UTC only"):
        kfp_client.kfp_cron(berlin)


def test_kubeflow_submit_needs_a_host():
    config = load_config(CONFIG, ["profiles.kubeflow.kfp_host=null"], profile="kubeflow")
    with pytest.raises(ConfigError, match="profiles.kubeflow.kfp_host: not set"):
        kfp_client.client(config)
