"""data.split_mode: `auto` is resolved by the local runner from the dataset, before the pipeline is built;
`folders` and `hash` never look at the data, which is what a pipeline compiled today and run on a schedule
later needs. The pipeline definition itself never looks."""
import json
import os

import pytest

from components.example_gen.component import create_paired_image_example_gen
from components.example_gen.layout import HASH_SPLIT_INPUT
from components.typed_settings import pack
from pipeline import dataset
from pipeline.config import ConfigError, load_config
from pipeline.pipeline_def import create_pipeline
from tests.support import images
from tests.support import paths

ROOT = paths.ROOT
DEFAULT = os.path.join(ROOT, "pipeline_config.yaml")


def _config(tmp_path, *overrides):
    return load_config(DEFAULT, [f"data.dataset_dir={tmp_path}", "data.layout=aligned", *overrides])


def _splits(config):
    config = dataset.resolve_split_mode(config).with_resolved_paths()
    gen = create_paired_image_example_gen(pack(data=config.data.example_gen_settings()))
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
        dataset.ensure_dataset(_config(tmp_path, "data.split_mode=folders"))
    assert dataset.ensure_dataset(_config(tmp_path, "data.split_mode=folders",
                                          "data.split_folders={train: train, eval: val}")) == str(tmp_path)


def test_the_pipeline_definition_refuses_an_unresolved_auto_mode(tmp_path):
    config = _config(tmp_path).with_resolved_paths()
    with pytest.raises(ConfigError, match="data.split_mode: auto must be resolved to folders or hash"):
        create_pipeline(config)
    with pytest.raises(ConfigError, match="data.split_mode: auto must be resolved"):
        create_paired_image_example_gen(pack(data=config.data.example_gen_settings()))
