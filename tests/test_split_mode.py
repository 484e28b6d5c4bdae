"""data.split_mode: `auto` looks at the dataset when the pipeline is built; `folders` and `hash` never do,
which is what a pipeline compiled today and run on a schedule later needs."""
import json
import os

import pytest

from components.example_gen.component import create_paired_image_example_gen
from components.example_gen.layout import HASH_SPLIT_INPUT
from pipeline import local_runner
from pipeline.config import ConfigError, load_config
from tests import images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "pipeline_config.yaml")


def _config(tmp_path, *overrides):
    return load_config(DEFAULT, [f"data.dataset_dir={tmp_path}", "data.layout=aligned", *overrides])


def _splits(config):
    gen = create_paired_image_example_gen(config.resolve(config.data.dataset_dir), config.section_dict("data"))
    input_config = gen.exec_properties["input_config"]
    return sorted(split["name"] for split in json.loads(input_config)["splits"])


def test_folders_and_hash_modes_build_the_pipeline_without_looking_at_the_data(tmp_path):
    missing = tmp_path / "not-there-yet"            # e.g. gs://bucket/dataset filled before the scheduled run
    assert _splits(_config(missing, "data.split_mode=folders")) == ["eval", "test", "train"]
    assert _splits(_config(missing, "data.split_mode=hash")) == [HASH_SPLIT_INPUT]


def test_auto_mode_uses_the_folders_that_exist(tmp_path):
    images.write(tmp_path / "train" / "a.png", images.png(width=64))
    images.write(tmp_path / "val" / "a.png", images.png(width=64))
    assert _splits(_config(tmp_path)) == ["eval", "train"]
    assert _splits(_config(tmp_path, "data.split_mode=hash")) == [HASH_SPLIT_INPUT]


def test_folders_mode_checks_every_folder_before_a_local_run(tmp_path):
    images.write(tmp_path / "train" / "a.png", images.png(width=64))
    images.write(tmp_path / "val" / "a.png", images.png(width=64))
    with pytest.raises(ConfigError, match=r"data.split_folders: data.split_mode is folders but .* test/ \(test\)"):
        local_runner.ensure_dataset(_config(tmp_path, "data.split_mode=folders"))
    assert local_runner.ensure_dataset(_config(tmp_path, "data.split_mode=folders",
                                               "data.split_folders={train: train, eval: val}")) == str(tmp_path)
