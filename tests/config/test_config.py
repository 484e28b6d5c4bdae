"""The config is the one source of truth: it loads, and bad settings fail fast and clearly."""
import os

import pytest
import yaml

from components.trainer.settings import TrainerSettings
from components.typed_settings import build, pack, unpack
from pipeline.config import Config, ConfigError, load_config
from tests.support import paths

ROOT = paths.ROOT
DEFAULT = os.path.join(ROOT, "pipeline_config.yaml")


def test_default_config_loads_typed_values():
    config = load_config(DEFAULT)
    assert isinstance(config, Config)
    assert config.trainer.lambda_l1 == 100.0 and isinstance(config.trainer.lambda_l1, float)
    assert config.trainer.learning_rate == pytest.approx(2e-4)
    assert config.trainer.beta_1 == 0.5
    assert config.evaluator.thresholds["l1"].baseline == "mean_target"   # relative to a trivial baseline


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    raw = yaml.safe_load(open(DEFAULT))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    config = load_config(str(path))
    assert config.resolve(config.pipeline.root) == os.path.join(str(tmp_path), "build", "tfx_root")
    assert config.resolve("/abs/x") == "/abs/x"
    assert config.resolve("gs://bucket/x") == "gs://bucket/x"


def test_overrides_are_parsed_as_yaml():
    config = load_config(DEFAULT, ["trainer.epochs=1", "trainer.lambda_l1=10", "trainer.jitter=false",
                                   "beam.extra_args=['--foo=1']"])
    assert config.trainer.epochs == 1
    assert config.trainer.lambda_l1 == 10.0
    assert config.trainer.jitter is False
    assert config.beam.extra_args == ["--foo=1"]


@pytest.mark.parametrize("override, expected", [
    ("trainer.epochz=1", "unknown key 'epochz'"),
    ("trainer.epochs=many", "trainer.epochs: expected an integer, got 'many'"),
    ("trainer.epochs=-1", "trainer.epochs: got -1; expected an integer >= 0"),
    ("trainer.norm=group", "trainer.norm: got 'group'; allowed values: ['batch', 'instance', 'none']"),
    ("trainer.jitter=1", "trainer.jitter: expected true or false, got 1"),
    ("transform.image_size=100", "transform.image_size: got 100; expected a power of two with trainer.generator: unet"),
    ("transform.image_size=30", "transform.image_size: got 30; expected a multiple of 4"),
    ("data.split_ratios={train: 9}", "data.split_ratios"),
    ("evaluator.thresholds.lpips={statistic: mean, min: 1}", "metric names among"),
    ("evaluator.regression.l1={statistic: mean}", "at least one of 'absolute' or 'relative'"),
    ("pusher.keep_versions=0", "pusher.keep_versions: got 0"),
    ("transform.image_size=16", "trainer.n_layers_d: got 3; expected a PatchGAN depth"),
    ("evaluator.thresholds.l1={statistic: mean, min: 1, max: 2}", "exactly one of 'min' or 'max'"),
    ("evaluator.thresholds.l1={statistic: median, max: 2}", "evaluator.thresholds.l1.statistic"),
    ("evaluator.thresholds.l1={statistic: mean, baseline: mean_target}",
     "evaluator.thresholds.l1: got {'statistic': 'mean', 'min': None, 'max': None, 'baseline': 'mean_target', "
     "'margin': None, 'relative_margin': None}; expected at least one of 'margin' (metric units) or 'relative_margin'"),
    ("evaluator.thresholds.psnr={statistic: mean, min: 20, baseline: mean_target, margin: 1}",
     "evaluator.thresholds.psnr.min: got 20.0; expected no 'min' with 'baseline'"),
    ("evaluator.thresholds.psnr={statistic: mean, margin: 1}",
     "evaluator.thresholds.psnr.baseline: got None; expected one of ['identity', 'mean_target'] when 'margin' is set"),
    ("evaluator.thresholds.l1.baseline=median", "evaluator.thresholds.l1.baseline: got 'median'; allowed values: "
                                                "['identity', 'mean_target']"),
    ("nosuch.key=1", "'nosuch' is not a section"),
    ("trainer.cache_dataset=true", "trainer.cache_dataset: replaced by cache: auto | memory | disk | none "
                                   "(cache_dataset: true was memory"),
    ("trainer.cache=ram", "trainer.cache: got 'ram'; allowed values: ['auto', 'memory', 'disk', 'none']"),
    ("trainer.cache_memory_mb=-1", "trainer.cache_memory_mb: got -1.0; expected a number of MiB >= 0"),
    ("trainer.shuffle_buffer_mb=0", "trainer.shuffle_buffer_mb: got 0.0; expected a number of MiB > 0"),
    ("trainer.epochs", "expected section.key=value"),
    ("serving.inference=crop", "serving.inference: got 'crop'; allowed values: ['resize', 'tiled']"),
    ("serving.tile_scale=2", "serving.tile_scale: got 2.0; expected a number in (0, 1.0]"),
    ("serving.tile_scale=0", "serving.tile_scale: got 0.0"),
    ("serving.tile_overlap=0.9", "serving.tile_overlap: got 0.9; expected a fraction of the tile side in [0, 0.5]"),
])
def test_bad_settings_name_the_key_and_what_is_allowed(override, expected):
    with pytest.raises(ConfigError) as error:
        load_config(DEFAULT, [override])
    assert expected in str(error.value)


def test_missing_and_unknown_sections(tmp_path):
    raw = yaml.safe_load(open(DEFAULT))
    del raw["trainer"]["batch_size"]
    raw["extra"] = {}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"bad.yaml: top level: unknown key 'extra'"):
        load_config(str(path))
    del raw["extra"]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"trainer: missing key 'batch_size'"):
        load_config(str(path))


def test_unreadable_files_are_reported(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(str(tmp_path / "none.yaml"))
    bad = tmp_path / "broken.yaml"
    bad.write_text("trainer: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_sections_round_trip_through_plain_dicts():
    config = load_config(DEFAULT)
    custom_config = pack(trainer=config.trainer)
    assert unpack(custom_config, "trainer", TrainerSettings) == config.trainer
    with pytest.raises(ConfigError, match="trainer.batch_size"):
        build(TrainerSettings, {**custom_config["trainer"], "batch_size": 0}, "trainer")
    with pytest.raises(ConfigError, match="custom_config: missing the 'trainer' section"):
        unpack({"transform": {}}, "trainer", TrainerSettings)
