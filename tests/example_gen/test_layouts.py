"""Where each layout reads, which split folders count, and how every listed file is routed."""
import pytest
from tfx.proto import example_gen_pb2
from tfx.utils import proto_utils

from components.example_gen import layout, quarantine
from components.example_gen.settings import DataSettings
from tests.support import images, ingestion
from tests.support.ingestion import data_section

IMAGES = (".png", ".jpg")
RECORDS = (".tfrecord", ".gz")
FOLDERS = {"train": "train", "eval": "val", "test": "test"}


def _router(kind, split_by_folder, own=IMAGES, other=RECORDS):
    return layout.FileRouter(root="/d", layout=kind, split_by_folder=split_by_folder, input_subdir="input",
                             target_subdir="target", data_extensions=own, other_data_extensions=other)


@pytest.mark.parametrize("kind, folder, pattern", [
    ("two_folder", "", "*/*"), ("two_folder", "val", "val/*/*"), ("aligned", "", "*"),
    ("aligned", "train", "train/*"), ("tfrecord", "Split-eval", "Split-eval/*")])
def test_patterns_and_their_folder(kind, folder, pattern):
    assert layout.files_pattern(kind, folder) == pattern
    assert layout.folder_of_pattern(pattern) == folder


def test_two_folder_routes_with_split_folders():
    router = _router("two_folder", {"train": "train", "val": "eval"})
    assert router.route("/d/val/input/x.png") == layout.Route("eval", "input", "/d/val/input/x.png")
    assert router.route("/d/train/target/x.JPG") == layout.Route("train", "target", "/d/train/target/x.JPG")
    notes = router.route("/d/train/input/notes.txt")
    assert (notes.reason, notes.split) == (quarantine.UNSUPPORTED_EXTENSION, "train")
    for misplaced in ("/d/input/x.png", "/d/train/x.png", "/d/train/input/sub/x.png", "/d/other/input/x.png",
                      "/d/train/x.tfrecord"):
        assert router.route(misplaced).reason == quarantine.OUTSIDE_LAYOUT, misplaced
    assert router.route("/d/train/input/x.tfrecord").reason == quarantine.UNSUPPORTED_EXTENSION
    assert router.route("/d/README.md") is None and router.route("/d/train/.DS_Store") is None


def test_aligned_and_tfrecord_route_files_directly_in_the_split():
    aligned = _router("aligned", {"": "all"})
    assert aligned.route("/d/1.jpg") == layout.Route("all", "aligned", "/d/1.jpg")
    assert aligned.route("/d/sub/1.jpg").reason == quarantine.OUTSIDE_LAYOUT
    records = _router("tfrecord", {"Split-train": "train"}, own=RECORDS, other=IMAGES)
    assert records.route("/d/Split-train/data-0.gz") == layout.Route("train", "records", "/d/Split-train/data-0.gz")
    assert records.route("/d/Split-train/x.png").reason == quarantine.UNSUPPORTED_EXTENSION
    assert "reads {Split-train}/*" in records.route("/d/x.png").detail


def test_split_folders_are_found_only_with_files_and_need_train_and_eval(tmp_path):
    assert layout.find_split_folders(str(tmp_path), FOLDERS, DataSettings.REQUIRED_SPLITS) == {}
    (tmp_path / "test").mkdir()                                     # empty: does not count
    images.write(tmp_path / "train" / "a.png", images.png())
    with pytest.raises(layout.DatasetLayoutError, match=r"found split folder\(s\) train/ \(train\) but not "
                                                        r"val/ \(eval\)"):
        layout.find_split_folders(str(tmp_path), FOLDERS, DataSettings.REQUIRED_SPLITS)
    images.write(tmp_path / "val" / "deep" / "b.png", images.png())
    assert layout.find_split_folders(str(tmp_path), FOLDERS, DataSettings.REQUIRED_SPLITS) == {
        "train": "train", "eval": "val"}


def _configs(gen):
    input_config, output_config = example_gen_pb2.Input(), example_gen_pb2.Output()
    proto_utils.json_to_proto(gen.exec_properties["input_config"], input_config)
    proto_utils.json_to_proto(gen.exec_properties["output_config"], output_config)
    return input_config, output_config


def test_component_input_and_output_config_follow_the_folders(tmp_path):
    inputs, outputs = _configs(ingestion.example_gen(tmp_path, data_section(layout="aligned")))
    assert [(s.name, s.pattern) for s in inputs.splits] == [("all", "*")]
    assert [(s.name, s.hash_buckets) for s in outputs.split_config.splits] == [("train", 8), ("eval", 1), ("test", 1)]
    assert outputs.split_config.partition_feature_name == "pair_id"
    for folder in ("train", "val", "test"):
        images.write(tmp_path / folder / "input" / "a.png", images.png())
    inputs, outputs = _configs(ingestion.example_gen(tmp_path, data_section()))
    assert [(s.name, s.pattern) for s in inputs.splits] == [
        ("train", "train/*/*"), ("eval", "val/*/*"), ("test", "test/*/*")]
    assert not outputs.split_config.splits
