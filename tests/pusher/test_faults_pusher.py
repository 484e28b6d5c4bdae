"""Fault injection for the Pusher: concurrent pushes, retention and pins, broken model config files, crashes.

Issue #12 items 5 and 6. Each test builds its own serving folder and models; the concurrency test pushes
from two real processes into one serving_dir and loads every version it finds with TensorFlow.
"""
import dataclasses
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.pusher import executor as pusher
from pipeline.config import load_config
from components.typed_settings import unpack
from components.pusher.settings import PusherSettings
from pipeline.pipeline_def import create_pipeline
from tests.support.pusher import custom_config_json
from tests.support.pusher import fake_saved_model
from tests.support import paths

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

ROOT = paths.ROOT
CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
MODEL_NAME = "pix2pix"
PUSHES_PER_PROCESS = 10
PROCESS_TIMEOUT_S = 120


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def base_dir(tmp_path):
    return str(tmp_path / "serving" / MODEL_NAME)


def push(tmp_path, payload: bytes, run: int, **custom_config):
    """One blessed push through the executor; returns the pushed version."""
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model{run}")
    fake_saved_model(os.path.join(model.uri, "Format-Serving"), payload)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"blessing{run}")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed{run}")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_dir(tmp_path)))
    pusher.Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}, {
        "push_destination": proto_utils.proto_to_json(destination), "custom_config": custom_config_json(**custom_config)})
    return int(pushed.get_string_custom_property("pushed_version"))


def push_many(tmp_path, count: int, start: int = 0, **custom_config):
    return [push(tmp_path, f"model-{run}".encode(), run, **custom_config) for run in range(start, start + count)]


def write_model_config(path, body: str) -> str:
    """A TF Serving model config file for MODEL_NAME with ``body`` inside its config { }."""
    path.write_text(textwrap.dedent(f"""\
        model_config_list {{
          config {{
            name: "{MODEL_NAME}"
            base_path: "/models/{MODEL_NAME}"
            model_platform: "tensorflow"
            {body}
          }}
        }}
        """))
    return str(path)


def tree(path):
    """Every file and folder under ``path`` with the bytes of each file: what "nothing changed" compares."""
    found = {}
    for folder, dirs, files in os.walk(path):
        for name in dirs:
            found[os.path.relpath(os.path.join(folder, name), path)] = None
        for name in files:
            with open(os.path.join(folder, name), "rb") as handle:
                found[os.path.relpath(os.path.join(folder, name), path)] = handle.read()
    return found


def files_of(path):
    return {name: data for name, data in tree(path).items() if data is not None}


# --------------------------------------------------------------------------- #
# 5. Concurrent pushes
# --------------------------------------------------------------------------- #
# A child process: imports the executor, says it is ready, waits for the start signal, then pushes each
# model it is given through Executor.Do as fast as it can, and prints {model folder: pushed version}.
CHILD = textwrap.dedent("""\
    import json, os, sys, time
    from tfx.proto import pusher_pb2
    from tfx.types import standard_artifacts
    from tfx.utils import proto_utils
    from components.pusher import executor
    from tests.support.pusher import custom_config_json

    base, work, ready, go, *models = sys.argv[1:]
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    pushed_versions = {}
    for run, model_dir in enumerate(models):
        model = standard_artifacts.Model()
        model.uri = model_dir
        blessing = standard_artifacts.ModelBlessing()
        blessing.uri = os.path.join(work, f"blessing{run}")
        blessing.set_int_custom_property("blessed", 1)
        pushed = standard_artifacts.PushedModel()
        pushed.uri = os.path.join(work, f"pushed{run}")
        destination = pusher_pb2.PushDestination(
            filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
        executor.Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}, {
            "push_destination": proto_utils.proto_to_json(destination),
            "custom_config": custom_config_json(keep_versions=1000)})
        pushed_versions[model_dir] = pushed.get_string_custom_property("pushed_version")
    print(json.dumps(pushed_versions))
    """)


@pytest.fixture(scope="module")
def tiny_saved_models(tmp_path_factory):
    """2 x PUSHES_PER_PROCESS real SavedModels, one variable each, all different: {TFX model uri: value}."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("models")
    models = {}
    for index in range(2 * PUSHES_PER_PROCESS):
        module = tf.Module()
        module.weight = tf.Variable(float(index))
        uri = str(root / f"model{index}")
        tf.saved_model.save(module, os.path.join(uri, "Format-Serving"))
        models[uri] = float(index)
    return models


def test_two_processes_pushing_to_one_serving_dir_get_distinct_complete_versions(tmp_path, tiny_saved_models):
    import tensorflow as tf

    base = base_dir(tmp_path)
    uris = list(tiny_saved_models)
    go = str(tmp_path / "go")
    children, readies = [], []
    for child in range(2):
        work = tmp_path / f"child{child}"
        work.mkdir()
        readies.append(str(work / "ready"))
        mine = uris[child * PUSHES_PER_PROCESS:(child + 1) * PUSHES_PER_PROCESS]
        children.append(subprocess.Popen(
            [sys.executable, "-c", CHILD, base, str(work), readies[-1], go, *mine],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT}, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    deadline = time.monotonic() + PROCESS_TIMEOUT_S
    while not all(os.path.exists(ready) for ready in readies):
        assert time.monotonic() < deadline and all(c.poll() is None for c in children), "a child did not start"
        time.sleep(0.01)
    open(go, "w").close()                                   # both start pushing at the same moment
    pushed = {}
    for child in children:
        out, err = child.communicate(timeout=PROCESS_TIMEOUT_S)
        assert child.returncode == 0, err.decode()[-3000:]
        pushed.update(json.loads(out.decode().strip().splitlines()[-1]))

    # Every push got its own version, and the serving folder holds exactly those versions.
    assert len(set(pushed.values())) == len(uris) == 2 * PUSHES_PER_PROCESS
    assert sorted(pusher.served_versions(base)) == sorted(int(v) for v in pushed.values())
    assert not [name for name in os.listdir(base) if name.startswith(pusher.STAGING_PREFIX)]
    for uri, version in pushed.items():
        served = os.path.join(base, version)
        assert pusher.pushed_by_us(served)
        added = {pusher.PUSHED_MARKER, "assets.extra/lineage.json", "assets.extra/model_card.html"}
        copied = {name: data for name, data in files_of(served).items() if name not in added}
        assert copied == files_of(os.path.join(uri, "Format-Serving")), f"version {version} incomplete"
        assert float(tf.saved_model.load(served).weight.numpy()) == tiny_saved_models[uri]


def test_staging_folders_are_never_shared_and_never_all_digits():
    names = {pusher.staging_name(1_800_000_000) for _ in range(100)}
    assert len(names) == 100
    assert not any(name.isdigit() for name in names)
    assert all(pusher.STAGING_NAME.fullmatch(name) for name in names)


def test_a_stale_staging_folder_is_removed_and_a_fresh_one_is_kept(tmp_path):
    base = tmp_path / "serving" / MODEL_NAME
    now = int(time.time())
    stale = base / pusher.staging_name(now - pusher.STALE_STAGING_AGE_S - 60)       # a push that crashed
    legacy = base / f"{pusher.STAGING_PREFIX}{now - pusher.STALE_STAGING_AGE_S - 60}"  # the old naming
    fresh = base / pusher.staging_name(now - 60)                                    # a push still copying
    foreign = base / ".staging-notes"                                               # not a push's folder
    for folder in (stale, legacy, fresh, foreign):
        fake_saved_model(str(folder), b"partial")
    push(tmp_path, b"A", run=0)
    left = set(os.listdir(base))
    assert stale.name not in left and legacy.name not in left
    assert {fresh.name, foreign.name} <= left
    assert files_of(fresh) == files_of(fake_saved_model(str(tmp_path / "expected"), b"partial"))


# --------------------------------------------------------------------------- #
# 6. Retention never deletes a pinned version, nor the newest
# --------------------------------------------------------------------------- #
def test_a_version_pinned_in_the_model_config_file_survives_keep_versions_1(tmp_path):
    (pinned,) = push_many(tmp_path, 1, keep_versions=1)
    config_file = write_model_config(tmp_path / "models.config",
                                     f"model_version_policy {{ specific {{ versions: {pinned} }} }}")
    newer = push_many(tmp_path, 5, start=1, keep_versions=1, model_config_file=config_file)
    assert pusher.served_versions(base_dir(tmp_path)) == [pinned, newer[-1]]


def test_pinned_versions_survive_keep_versions_1(tmp_path):
    first, second = push_many(tmp_path, 2, keep_versions=1, pinned_versions=[])
    assert pusher.served_versions(base_dir(tmp_path)) == [second]
    third, *_, newest = push_many(tmp_path, 4, start=2, keep_versions=1, pinned_versions=[second])
    assert pusher.served_versions(base_dir(tmp_path)) == [second, newest]


def test_a_labelled_version_survives(tmp_path):
    stable, canary = push_many(tmp_path, 2, keep_versions=5)
    config_file = write_model_config(tmp_path / "models.config", textwrap.dedent(f"""\
        model_version_policy {{ latest {{ num_versions: 1 }} }}
        version_labels {{ key: "stable" value: {stable} }}
        version_labels {{ key: "canary" value: {canary} }}"""))
    *_, newest = push_many(tmp_path, 3, start=2, keep_versions=1, model_config_file=config_file)
    assert pusher.served_versions(base_dir(tmp_path)) == [stable, canary, newest]


def test_the_newest_is_kept_even_when_the_config_serves_an_older_version(tmp_path):
    (old,) = push_many(tmp_path, 1, keep_versions=1)
    config_file = write_model_config(tmp_path / "models.config",
                                     f"model_version_policy {{ specific {{ versions: {old} }} }}")
    versions = push_many(tmp_path, 3, start=1, keep_versions=1, model_config_file=config_file,
                         pinned_versions=[old])
    assert pusher.served_versions(base_dir(tmp_path)) == [old, versions[-1]]
    assert pusher.prune_versions(base_dir(tmp_path), keep=0, pinned=[old]) == []


def test_a_latest_policy_serving_more_versions_than_keep_versions_keeps_them(tmp_path):
    config_file = write_model_config(tmp_path / "models.config", "model_version_policy { latest { num_versions: 3 } }")
    versions = push_many(tmp_path, 5, keep_versions=1, model_config_file=config_file)
    assert pusher.served_versions(base_dir(tmp_path)) == versions[-3:]


BROKEN_CONFIGS = {
    "missing": None,
    "truncated": 'model_config_list { config { name: "pix2pix" base_path: "/models/pix2pix"',
    "binary junk": b"\x89PNG\r\n\x1a\n\x00\xff\xfe",
    "a misspelt field": 'model_config_list { config { name: "pix2pix" model_version_polcy { latest { } } } }',
    "another model only": 'model_config_list { config { name: "facades" base_path: "/models/facades" } }',
    "empty": "",
    "a folder": "DIRECTORY",
}


@pytest.mark.parametrize("case", sorted(BROKEN_CONFIGS))
def test_a_broken_model_config_file_fails_the_push_before_anything_changes(tmp_path, case):
    versions = push_many(tmp_path, 3, keep_versions=5)
    stale = tmp_path / "serving" / MODEL_NAME / pusher.staging_name(int(time.time()) - 2 * pusher.STALE_STAGING_AGE_S)
    stale.mkdir()
    config_file = tmp_path / "models.config"
    content = BROKEN_CONFIGS[case]
    if content == "DIRECTORY":
        config_file.mkdir()
    elif isinstance(content, bytes):
        config_file.write_bytes(content)
    elif content is not None:
        config_file.write_text(content)
    before = tree(tmp_path / "serving")
    with pytest.raises(pusher.PushConfigError, match=f"pusher.model_config_file: {config_file}"):
        push(tmp_path, b"new", run=9, keep_versions=1, model_config_file=str(config_file))
    assert tree(tmp_path / "serving") == before                 # no copy, no prune, no cleanup
    assert pusher.served_versions(base_dir(tmp_path)) == versions
    assert not (tmp_path / "pushed9").exists()


def _pusher_settings(config) -> PusherSettings:
    """The pusher section the pipeline hands the Pusher, read back as its executor reads it."""
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, split_mode="hash"))
    pusher_component = next(c for c in create_pipeline(config).components if c.id == "Pusher")
    return unpack(json.loads(pusher_component.exec_properties["custom_config"]), "pusher", PusherSettings)


def test_the_pipeline_passes_retention_settings_with_an_absolute_config_file():
    config = load_config(CONFIG, ["pusher.pinned_versions=[1795610202]", "pusher.keep_versions=2"])
    settings = _pusher_settings(config)
    assert settings.pinned_versions == [1795610202]
    assert settings.keep_versions == 2
    assert settings.model_config_file == os.path.join(ROOT, "serving", "models.config")
    pusher.serving_config_pins(settings.model_config_file, config.pusher.model_name)  # it parses
    assert _pusher_settings(load_config(CONFIG, ["pusher.model_config_file=null"])).model_config_file is None


def test_retention_never_deletes_a_version_this_pusher_did_not_publish(tmp_path, caplog):
    """serving_dir pointed at an existing model repository: its versions are not the project's to delete."""
    base = tmp_path / "serving" / MODEL_NAME
    for version in (1, 2):  # put there by hand or by another tool: no marker
        fake_saved_model(str(base / str(version)), f"theirs {version}".encode())
    pushed = [os.path.basename(pusher.publish_atomically(fake_saved_model(str(tmp_path / f"m{i}"), bytes([i])),
                                                         str(base))) for i in range(3)]
    assert all(pusher.pushed_by_us(str(base / version)) for version in pushed)
    assert pusher.prune_versions(str(base), keep=1) == [int(v) for v in pushed[:-1]]
    assert sorted(os.listdir(base)) == sorted(["1", "2", pushed[-1]])
    assert "not published by this Pusher" in caplog.text


def test_an_all_versions_policy_keeps_every_version(tmp_path):
    """model_version_policy { all {} }: TF Serving serves every version, so retention deletes none."""
    config_file = write_model_config(tmp_path / "models.config", "model_version_policy { all {} }")
    versions = push_many(tmp_path, 4, keep_versions=1, model_config_file=config_file)
    assert pusher.served_versions(base_dir(tmp_path)) == versions
