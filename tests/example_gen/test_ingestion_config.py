"""The data section: every ingestion setting is validated and errors name the key and what is allowed."""
import os

import pytest

from pipeline import local_runner
from pipeline.config import ConfigError, load_config
from tests.support import images
from tests.support import paths

ROOT = paths.ROOT
DEFAULT = os.path.join(ROOT, "pipeline_config.yaml")


def test_defaults():
    data = load_config(DEFAULT).data
    assert (data.layout, data.direction, data.size_mismatch) == ("two_folder", "AtoB", "resize")
    assert data.split_folders == {"train": "train", "eval": "val", "test": "test"}
    assert (data.min_image_side, data.max_image_pixels, data.min_valid_fraction) == (32, 16_777_216, 0.5)
    assert data.tfrecord_extensions == [".tfrecord", ".tfrecords", ".gz"]


@pytest.mark.parametrize("override, expected", [
    ("data.layout=folders", "data.layout: got 'folders'; allowed values: ['two_folder', 'aligned', 'tfrecord']"),
    ("data.direction=AB", "data.direction: got 'AB'; allowed values: ['AtoB', 'BtoA']"),
    ("data.size_mismatch=crop", "data.size_mismatch: got 'crop'; allowed values: ['resize', 'reject']"),
    ("data.min_image_side=0", "data.min_image_side: got 0; expected an integer >= 1"),
    ("data.max_image_pixels=100", "data.max_image_pixels: got 100; expected an integer >= min_image_side^2 (1024)"),
    ("data.min_valid_fraction=1.5", "data.min_valid_fraction: got 1.5; expected a number in [0, 1]"),
    ("data.image_extensions=['.tiff']", "data.image_extensions: got '.tiff'; expected extensions among"),
    ("data.tfrecord_extensions=['tfrecord']", "data.tfrecord_extensions: got 'tfrecord'; expected extensions that"),
    ("data.split_folders={train: train}", "data.split_folders: got {'train': 'train'}; expected a mapping with at "
                                          "least the splits 'train' and 'eval'"),
    ("data.split_folders={train: a, eval: a}", "expected a different folder for each split"),
    ("data.split_folders={train: train, eval: val/x}", "data.split_folders.eval: got 'val/x'"),
    ("data.input_subdir=train", "data.input_subdir: got 'train'; expected a folder name without '/' that is not "
                                "one of split_folders"),
])
def test_bad_data_settings_name_the_key(override, expected):
    with pytest.raises(ConfigError) as error:
        load_config(DEFAULT, [override])
    assert expected in str(error.value)


def _config(tmp_path, *overrides):
    return load_config(DEFAULT, [f"data.dataset_dir={tmp_path}", *overrides])


def test_ensure_dataset_checks_split_folders_and_two_folder_subfolders(tmp_path):
    images.write(tmp_path / "train" / "input" / "a.png", images.png())
    with pytest.raises(ConfigError, match=r"data.split_folders: .*found split folder\(s\) train/ \(train\) but "
                                          r"not val/ \(eval\)"):
        local_runner.ensure_dataset(_config(tmp_path))
    images.write(tmp_path / "val" / "input" / "a.png", images.png())
    with pytest.raises(ConfigError, match=r"data.target_subdir: .*/train/target is not a folder"):
        local_runner.ensure_dataset(_config(tmp_path))
    assert local_runner.ensure_dataset(_config(tmp_path, "data.layout=aligned")) == str(tmp_path)


def test_ensure_dataset_generates_only_the_two_folder_dataset(tmp_path):
    with pytest.raises(ConfigError, match="generate_if_missing only makes the embedded two_folder dataset .*"
                                          "python -m data.download facades"):
        local_runner.ensure_dataset(_config(tmp_path / "synthetic_facades", "data.layout=aligned"))
    with pytest.raises(ConfigError, match="does not exist"):
        local_runner.ensure_dataset(_config(tmp_path / "missing", "data.generate_if_missing=false"))
