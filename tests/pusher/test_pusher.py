"""The Pusher publishes versions atomically, never twice, and prunes old ones."""
import os

import pytest
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components.pusher import executor as pusher
from tests.support.pusher import custom_config_json, fake_saved_model


def run_pusher(tmp_path, payload: bytes, blessed: bool, keep: int = 3, run: int = 0):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"model{run}")
    fake_saved_model(os.path.join(model.uri, "Format-Serving"), payload)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"blessing{run}")
    blessing.set_int_custom_property("blessed", int(blessed))
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed{run}")
    destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
        base_directory=str(tmp_path / "serving" / "pix2pix")))
    pusher.Executor().Do({"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]}, {
        "push_destination": proto_utils.proto_to_json(destination),
        "custom_config": custom_config_json(keep_versions=keep)})
    return pushed


def versions(tmp_path):
    return sorted(os.listdir(tmp_path / "serving" / "pix2pix"))


def test_a_blessed_model_is_published_under_a_numeric_version(tmp_path):
    pushed = run_pusher(tmp_path, b"A", blessed=True)
    assert pushed.get_int_custom_property("pushed") == 1
    (version,) = versions(tmp_path)
    assert version.isdigit()
    assert pushed.get_string_custom_property("pushed_destination").endswith(version)
    assert open(tmp_path / "serving" / "pix2pix" / version / "saved_model.pb", "rb").read() == b"graphA"


def test_an_unblessed_model_is_never_pushed(tmp_path):
    pushed = run_pusher(tmp_path, b"A", blessed=False)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not (tmp_path / "serving").exists()


def test_the_same_model_is_not_published_twice(tmp_path):
    first = run_pusher(tmp_path, b"A", blessed=True, run=1)
    second = run_pusher(tmp_path, b"A", blessed=True, run=2)
    assert len(versions(tmp_path)) == 1
    assert second.get_string_custom_property("pushed_destination") == \
        first.get_string_custom_property("pushed_destination")


def test_versions_increase_and_only_the_newest_are_kept(tmp_path):
    for run, payload in enumerate([b"A", b"B", b"C", b"D"]):
        run_pusher(tmp_path, payload, blessed=True, keep=2, run=run)
    kept = versions(tmp_path)
    assert len(kept) == 2 and kept == sorted(kept, key=int)
    newest = tmp_path / "serving" / "pix2pix" / kept[-1] / "saved_model.pb"
    assert open(newest, "rb").read() == b"graphD"


def test_next_version_is_strictly_newer_than_existing_ones(tmp_path):
    base = tmp_path / "m"
    (base / "100").mkdir(parents=True)
    (base / ".staging-7").mkdir()
    (base / "notes").mkdir()
    assert pusher.next_version(str(base), now=50) == 101
    assert pusher.next_version(str(base), now=500) == 500
    assert pusher.served_versions(str(base)) == [100]


def test_prune_never_deletes_the_newest_version(tmp_path):
    for version in (1, 2, 3):
        (tmp_path / str(version)).mkdir()
        (tmp_path / str(version) / pusher.PUSHED_MARKER).touch()
    assert pusher.prune_versions(str(tmp_path), keep=0) == [1, 2]
    assert os.listdir(tmp_path) == ["3"]


def test_a_failed_copy_leaves_no_version_visible(tmp_path, monkeypatch):
    source = fake_saved_model(str(tmp_path / "src"), b"A")
    base = tmp_path / "serving"

    def copy_then_fail(src, dst, **kwargs):
        os.makedirs(dst, exist_ok=True)
        open(os.path.join(dst, "partial"), "w").close()
        raise OSError("disk full")

    monkeypatch.setattr(pusher.io_utils, "copy_dir", copy_then_fail)
    with pytest.raises(OSError, match="disk full"):
        pusher.publish_atomically(source, str(base))
    assert pusher.served_versions(str(base)) == []
    assert os.listdir(base) == []                        # this push's staging folder is removed too
