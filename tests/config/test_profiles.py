"""Profiles choose where the same pipeline runs; a bad profile fails at load, naming the key."""
import pytest
import yaml

from pipeline.config import ConfigError, load_config

DEFAULT = "pipeline_config.yaml"


def test_without_a_profile_the_local_runner_and_local_paths_are_used():
    config = load_config(DEFAULT)
    assert config.profile_name == "local" and config.profile.runner == "local"
    assert config.pipeline.root == "build/tfx_root" and config.data.split_mode == "auto"


def test_the_vertex_profile_overrides_storage_and_says_how_to_run():
    config = load_config(DEFAULT, profile="vertex")
    profile = config.profile
    assert profile.runner == "vertex" and profile.project and profile.region and profile.image
    assert config.pipeline.root.startswith("gs://") and config.data.dataset_dir.startswith("gs://")
    assert config.pusher.serving_dir.startswith("gs://") and config.data.split_mode == "folders"
    assert profile.dataflow.temp_location.startswith("gs://") and profile.dataflow.max_num_workers >= 1
    assert profile.trainer_resources.accelerator_type and profile.trainer_resources.accelerator_count >= 1
    assert profile.schedule.cron and profile.schedule.time_zone
    # The training itself is the same, except that a scheduled run continues from the last blessed model.
    assert config.trainer.warm_start is True
    local = load_config(DEFAULT, ["trainer.warm_start=true"]).trainer
    assert config.trainer == local


def test_a_profile_or_the_command_line_can_turn_the_scheduled_warm_start_off():
    assert load_config(DEFAULT, ["trainer.warm_start=false"], profile="vertex").trainer.warm_start is False
    assert load_config(DEFAULT).trainer.warm_start is False            # no schedule: trained from scratch


def test_set_on_the_command_line_wins_over_the_profile():
    config = load_config(DEFAULT, ["pipeline.root=/tmp/compile-root"], profile="vertex")
    assert config.pipeline.root == "/tmp/compile-root"
    assert config.data.dataset_dir.startswith("gs://")


def test_profile_values_can_be_set_on_the_command_line():
    config = load_config(DEFAULT, ["profiles.vertex.region=europe-west4"], profile="vertex")
    assert config.profile.region == "europe-west4"


def _write(tmp_path, mutate):
    raw = yaml.safe_load(open(DEFAULT))
    mutate(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize("profile, mutate, message", [
    ("nope", lambda raw: None, r"--profile 'nope': no such profile; profiles in the config: \['kubeflow', 'local', 'vertex'\]"),
    ("vertex", lambda raw: raw["profiles"]["vertex"].pop("project"), r"profiles.vertex.project: got None; expected the GCP project id"),
    ("vertex", lambda raw: raw["profiles"]["vertex"].pop("image"), r"profiles.vertex.image: got None; expected the container image"),
    ("vertex", lambda raw: raw["profiles"]["vertex"].update(runner="airflow"), r"profiles.vertex.runner: got 'airflow'; allowed values"),
    ("vertex", lambda raw: raw["profiles"]["vertex"].update(zone="x"), r"profiles.vertex: unknown key 'zone'"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["schedule"].update(cron="0 25 * * *"), r"profiles.vertex.schedule.cron: got '0 25 \* \* \*'; hour field '25'"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["schedule"].update(time_zone="Mars/Olympus"), r"profiles.vertex.schedule.time_zone: got 'Mars/Olympus'"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["dataflow"].update(temp_location="/tmp/x"), r"profiles.vertex.dataflow.temp_location: got '/tmp/x'; expected a gs:// URI"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["trainer_resources"].update(accelerator_count=0), r"accelerator_count: got 0; expected an integer >= 1 when accelerator_type is set"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["trainer_resources"].update(accelerator_type="nvidia t4"), r"accelerator_type: got 'nvidia t4'"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["overrides"].update({"trainer.epochz": 3}), r"trainer: unknown key 'epochz'"),
    ("vertex", lambda raw: raw["profiles"]["vertex"]["overrides"].update({"nosuch.key": 3}), r"profiles.vertex.overrides.nosuch.key: 'nosuch' is not a section"),
    ("vertex", lambda raw: raw["profiles"]["vertex"].update(overrides=["pipeline.root"]), r"profiles.vertex.overrides: expected a mapping"),
    ("local", lambda raw: raw["profiles"]["local"].update(image="x"), r"profiles.local.image: got 'set'; expected nothing for the local runner"),
])
def test_a_bad_profile_names_the_key(tmp_path, profile, mutate, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, mutate), profile=profile)


def test_a_config_without_profiles_still_runs_locally(tmp_path):
    config = load_config(_write(tmp_path, lambda raw: raw.pop("profiles")))
    assert config.profile.runner == "local"
