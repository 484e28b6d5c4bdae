"""Fault injection, settings: a value that would be read wrongly or never pass is refused at load, by key."""
import os

import pytest

from pipeline.config import ConfigError, load_config
from tests.support import paths

ROOT = paths.ROOT
DEFAULT = os.path.join(ROOT, "pipeline_config.yaml")


@pytest.mark.parametrize("override, value", [
    ("trainer.learning_rate=2e-4", 2e-4),      # YAML 1.1 reads this as the string '2e-4'
    ("trainer.learning_rate=2E-4", 2e-4),
    ("trainer.lambda_l1=1e2", 100.0),
    ("trainer.learning_rate=.0002", 2e-4),
])
def test_exponent_notation_is_a_number(override, value):
    key = override.split("=")[0].split(".")[1]
    assert getattr(load_config(DEFAULT, [override]).trainer, key) == pytest.approx(value)
    assert isinstance(getattr(load_config(DEFAULT, [override]).trainer, key), float)


@pytest.mark.parametrize("override, key", [
    ("evaluator.thresholds.l1={statistic: mean, max: .inf}", "evaluator.thresholds.l1.max"),
    ("evaluator.thresholds.psnr={statistic: mean, min: -.inf}", "evaluator.thresholds.psnr.min"),
    ("evaluator.thresholds.ssim={statistic: mean, min: .nan}", "evaluator.thresholds.ssim.min"),
    ("evaluator.regression.l1={statistic: mean, absolute: .inf}", "evaluator.regression.l1.absolute"),
    ("evaluator.thresholds.psnr={statistic: mean, baseline: mean_target, margin: .inf}",
     "evaluator.thresholds.psnr.margin"),
    ("evaluator.thresholds.l1.relative_margin=.nan", "evaluator.thresholds.l1.relative_margin"),
    ("trainer.lambda_l1=.nan", "trainer.lambda_l1"),
])
def test_infinite_or_nan_numbers_are_refused(override, key):
    with pytest.raises(ConfigError, match=rf"{key}: got (inf|-inf|nan); expected a finite number"):
        load_config(DEFAULT, [override])


@pytest.mark.parametrize("name", ["..", "../pix2pix", "a/b", "/abs", ".hidden", "a..b", "with space", "x\\y"])
def test_model_name_is_a_plain_folder_name(name):
    with pytest.raises(ConfigError, match="pusher.model_name: got .*expected a plain name"):
        load_config(DEFAULT, [f"pusher.model_name={name!r}"])


@pytest.mark.parametrize("name", ["pix2pix", "facades-v2", "maps_1.0"])
def test_plain_model_names_load(name):
    assert load_config(DEFAULT, [f"pusher.model_name={name}"]).pusher.model_name == name


@pytest.mark.parametrize("override, key", [
    ("pusher.pinned_versions=[0]", "pusher.pinned_versions[0]"),
    ("pusher.pinned_versions=['x']", "pusher.pinned_versions[0]"),
    ("data.max_file_bytes=10", "data.max_file_bytes"),
])
def test_new_limits_are_validated(override, key):
    with pytest.raises(ConfigError, match=rf"{key.replace('[', '.').replace(']', '.')}"):
        load_config(DEFAULT, [override])


@pytest.mark.parametrize("override", ["evaluator.thresholds.fid={statistic: mean, max: 50}",
                                      "evaluator.regression.fid={statistic: mean, absolute: 1.0}"])
def test_a_fid_gate_without_inception_weights_is_refused_at_load(override):
    section = override.split(".")[1]
    with pytest.raises(ConfigError, match=rf"evaluator\.{section}\.fid: .*fid_inception_weights is null"):
        load_config(DEFAULT, [override])


@pytest.mark.parametrize("override, key", [
    ("evaluator.thresholds.ssim={statistic: mean, min: 5}", "evaluator.thresholds.ssim.min"),
    ("evaluator.thresholds.l1={statistic: mean, max: -1}", "evaluator.thresholds.l1.max"),
    ("evaluator.thresholds.psnr={statistic: mean, min: 1e300}", "evaluator.thresholds.psnr.min"),
    ("evaluator.thresholds.ms_ssim={statistic: p10, min: 1.5}", "evaluator.thresholds.ms_ssim.min"),
    ("evaluator.thresholds.l1.relative_margin=1", "evaluator.thresholds.l1.relative_margin"),
    ("evaluator.thresholds.psnr.margin=101", "evaluator.thresholds.psnr.margin"),
    ("evaluator.thresholds.ssim={statistic: mean, baseline: identity, margin: 2.01}", "evaluator.thresholds.ssim.margin"),
])
def test_a_threshold_no_model_could_pass_is_refused(override, key):
    with pytest.raises(ConfigError, match=rf"{key}: got .*so the gate could never pass"):
        load_config(DEFAULT, [override])


def test_the_metric_bounds_are_the_evaluators():
    from components.evaluator import metrics
    from components.evaluator.metrics import METRIC_BOUNDS, METRIC_NAMES

    assert set(METRIC_BOUNDS) == set(METRIC_NAMES)
    assert METRIC_BOUNDS[metrics.PSNR][1] == metrics.PSNR_CAP_DB
    assert METRIC_BOUNDS[metrics.L1][1] == metrics.PIXEL_MAX
