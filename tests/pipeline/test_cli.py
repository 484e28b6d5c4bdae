"""The command line fails fast and clearly on bad config, before any component runs."""
import os
import subprocess
import sys

import pytest
from tests.support import paths

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

ROOT = paths.ROOT


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_an_unknown_key_fails_fast_naming_the_key():
    result = run_cli("run", "--set", "trainer.epochz=3")
    assert result.returncode == 2
    assert "config error" in result.stderr and "unknown key 'epochz'" in result.stderr
    assert "allowed keys" in result.stderr


def test_a_bad_value_names_the_key_the_value_and_what_is_allowed():
    result = run_cli("run", "--set", "trainer.gan_mode=wasserstein")
    assert result.returncode == 2
    assert "trainer.gan_mode: got 'wasserstein'; allowed values: ['vanilla', 'lsgan', 'wgangp']" in result.stderr


def test_a_missing_config_file_is_reported():
    result = run_cli("run", "--config", "no/such.yaml")
    assert result.returncode == 2 and "config file not found: no/such.yaml" in result.stderr


def test_model_summary_prints_the_reference_parameter_counts_at_256():
    result = run_cli("model-summary", "--image-size", "256", "--set", "trainer.ngf=64", "--set", "trainer.ndf=64")
    assert result.returncode == 0, result.stderr
    assert "54,425,859 parameters" in result.stdout
    assert "2,770,433 parameters" in result.stdout


def test_a_failing_component_ends_with_its_message_and_the_log_path_not_a_traceback(tmp_path):
    (tmp_path / "data" / "input").mkdir(parents=True)
    (tmp_path / "data" / "target").mkdir()
    (tmp_path / "data" / "input" / "lonely.png").write_bytes(b"not even an image")
    settings = [f"data.dataset_dir={tmp_path}/data", "data.generate_if_missing=false",
                f"pipeline.root={tmp_path}/root", f"pipeline.metadata_path={tmp_path}/m.sqlite",
                f"pipeline.log_dir={tmp_path}/logs", f"pipeline.report_dir={tmp_path}/report",
                f"pusher.serving_dir={tmp_path}/serving"]
    result = run_cli("run", *[arg for setting in settings for arg in ("--set", setting)])
    assert result.returncode == 1
    assert "pipeline failed:" in result.stderr and str(tmp_path / "data") in result.stderr
    assert "Traceback" not in result.stderr
    log_file = result.stderr.rsplit("full log, with the traceback: ", 1)[1].strip()
    assert "Traceback" in open(log_file).read()


def test_compile_for_vertex_writes_the_pipeline_job_offline(tmp_path):
    output = tmp_path / "pix2pix_pipeline.json"
    result = run_cli("compile", "--profile", "vertex", "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert f"compiled for vertex (profile vertex" in result.stdout and output.exists()
    assert '"pipelineSpec"' in output.read_text()


def test_schedule_dry_run_shows_the_next_runs_and_sends_nothing(tmp_path):
    result = run_cli("schedule", "--profile", "vertex", "--dry-run", "--output", str(tmp_path / "job.json"))
    assert result.returncode == 0, result.stderr
    assert "cron 'TZ=Europe/Berlin 0 3 * * 1'" in result.stdout and "next run: " in result.stdout
    assert "nothing sent" in result.stdout


def test_run_refuses_a_remote_profile_and_compile_a_local_one():
    result = run_cli("run", "--profile", "vertex")
    assert result.returncode == 2 and "use `python -m pipeline submit --profile vertex`" in result.stderr.lower()
    result = run_cli("compile", "--profile", "local")
    assert result.returncode == 2 and "compile/submit/schedule need a profile whose runner is" in result.stderr


def test_image_prints_the_profile_image_for_make():
    result = run_cli("image", "--profile", "vertex")
    assert result.returncode == 0
    assert result.stdout.strip() == "us-central1-docker.pkg.dev/my-gcp-project/pix2pix/pix2pix-tfx:latest"


def test_compile_for_kubeflow_defaults_to_a_yaml_package(tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline", "compile", "--config",
                             os.path.join(ROOT, "pipeline_config.yaml"), "--profile", "kubeflow"],
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": ROOT}, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "build" / "pix2pix_pipeline.yaml").exists()
