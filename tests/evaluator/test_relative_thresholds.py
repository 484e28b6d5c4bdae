"""Thresholds relative to a trivial baseline: a gate that means the same on any dataset.

The bound is the baseline's statistic moved towards "better" (lower L1, higher
PSNR/SSIM) by the margin; a baseline that was not scored fails the check, and
a rule that could never pass, or that mixes the absolute and relative forms,
is refused at load naming the key.
"""
import math
import pathlib

import pytest
import yaml

from components.evaluator import baselines, blessing, report
from components.evaluator.settings import EvaluatorSettings, Threshold
from components.typed_settings import ConfigError, build
from tests.support import paths

MEAN_TARGET, IDENTITY = baselines.MEAN_TARGET_BASELINE, baselines.IDENTITY_BASELINE
CANDIDATE = {"l1": {"mean": 12.3}, "psnr": {"mean": 24.0}, "ssim": {"mean": 0.8}}
BASELINES = {MEAN_TARGET: {"l1": {"mean": 32.0}, "psnr": {"mean": 16.0}, "ssim": {"mean": 0.2}},
             IDENTITY: {"l1": {"mean": 112.0}, "psnr": {"mean": 6.0}, "ssim": {"mean": -0.06}}}
FULL_STATS = {"mean": 12.3, "p10": 8.0, "p90": 16.0, "min": 5.0, "max": 20.0, "count": 3}   # as summarize() gives
# The embedded dataset's default run (build/reports/latest/metrics.json, 2026-12-03, 38 eval examples).
EMBEDDED_CANDIDATE = {"l1": {"mean": 11.3117}, "psnr": {"mean": 24.3605}, "ssim": {"mean": 0.8117}}
EMBEDDED_BASELINES = {IDENTITY: {"l1": {"mean": 112.0989}, "psnr": {"mean": 6.0817}, "ssim": {"mean": -0.0599}},
                      MEAN_TARGET: {"l1": {"mean": 31.7365}, "psnr": {"mean": 16.1938}, "ssim": {"mean": 0.1955}}}


def relative(baseline=baselines.MEAN_TARGET, statistic="mean", **margins):
    return Threshold(statistic, baseline=baseline, **margins)


def one_check(metric, threshold, stats=CANDIDATE, scored=BASELINES):
    (check,) = blessing.check_thresholds(stats, {metric: threshold}, scored)
    return check


def test_a_lower_is_better_bound_is_below_the_baseline():
    check = one_check("l1", relative(relative_margin=0.25))
    assert (check["kind"], check["op"], check["threshold"]) == ("relative", "<=", pytest.approx(24.0))
    assert (check["baseline_name"], check["baseline"], check["value"]) == (MEAN_TARGET, 32.0, 12.3)
    assert check["passed"]
    assert not one_check("l1", relative(relative_margin=0.25), stats={"l1": {"mean": 24.01}})["passed"]
    assert one_check("l1", relative(relative_margin=0.25), stats={"l1": {"mean": 24.0}})["passed"]  # inclusive


def test_a_higher_is_better_bound_is_above_the_baseline():
    check = one_check("psnr", relative(margin=1.0))
    assert (check["op"], check["threshold"], check["passed"]) == (">=", pytest.approx(17.0), True)
    assert not one_check("psnr", relative(margin=1.0), stats={"psnr": {"mean": 16.99}})["passed"]
    assert one_check("ssim", relative(relative_margin=0.5))["threshold"] == pytest.approx(0.3)


@pytest.mark.parametrize("metric, margins, bound", [
    ("l1", {"margin": 5.0, "relative_margin": 0.25}, 24.0),     # 25 % of 32 = 8 > 5
    ("l1", {"margin": 10.0, "relative_margin": 0.25}, 22.0),    # 10 > 8
    ("psnr", {"margin": 1.0, "relative_margin": 0.1}, 17.6),    # 10 % of 16 = 1.6 > 1
    ("psnr", {"margin": 2.0, "relative_margin": 0.1}, 18.0),
])
def test_with_both_margins_both_must_hold_so_the_tighter_bound_wins(metric, margins, bound):
    assert one_check(metric, relative(**margins))["threshold"] == pytest.approx(bound)


def test_a_relative_margin_of_a_negative_baseline_still_asks_for_better():
    check = one_check("ssim", relative(baselines.IDENTITY, relative_margin=0.5))
    assert check["baseline_name"] == IDENTITY and check["threshold"] == pytest.approx(-0.03)


def test_the_rule_s_statistic_is_read_on_the_baseline_too():
    scored = {MEAN_TARGET: {"l1": {"mean": 32.0, "p90": 40.0}}}
    check = one_check("l1", relative("mean_target", "p90", margin=4.0), stats={"l1": {"p90": 35.0}}, scored=scored)
    assert (check["baseline"], check["threshold"], check["passed"]) == (40.0, 36.0, True)


@pytest.mark.parametrize("scored", [None, {}, {MEAN_TARGET: {}}, {MEAN_TARGET: {"l1": {"p90": 40.0}}},
                                    {IDENTITY: BASELINES[IDENTITY]}])
def test_a_missing_baseline_statistic_fails_closed(scored):
    check = one_check("l1", relative(relative_margin=0.25), scored=scored)
    assert check["baseline"] is None and check["threshold"] is None and not check["passed"]
    assert blessing.describe_check(check) == "l1 mean 12.3 <= n/a (mean target image n/a, 25 % better): FAIL"
    assert not blessing.decide([check])[0]


def test_a_nan_baseline_or_candidate_fails():
    nan = {"l1": {"mean": math.nan}}
    assert not one_check("l1", relative(margin=1.0), scored={MEAN_TARGET: nan})["passed"]
    assert not one_check("l1", relative(margin=1.0), stats=nan)["passed"]
    assert not one_check("l1", relative(margin=1.0), stats={})["passed"]


@pytest.mark.parametrize("threshold, text", [
    (relative(relative_margin=0.25), "l1 mean 12.3 <= 24 (mean target image 32, 25 % better): pass"),
    (relative(margin=2.5), "l1 mean 12.3 <= 29.5 (mean target image 32, better by 2.5): pass"),
    (relative(margin=2.5, relative_margin=0.125),
     "l1 mean 12.3 <= 28 (mean target image 32, better by 2.5 and 12.5 % better): pass"),
    (relative(baselines.IDENTITY, relative_margin=0.9), "l1 mean 12.3 <= 11.2 (identity (output = input) 112, "
                                                        "90 % better): FAIL"),
])
def test_the_description_names_the_bound_the_baseline_and_the_margin(threshold, text):
    assert blessing.describe_check(one_check("l1", threshold)) == text


def test_absolute_and_relative_rules_are_judged_together():
    checks = blessing.check_thresholds(CANDIDATE, {"l1": relative(relative_margin=0.25),
                                                   "psnr": Threshold("mean", min=30.0)}, BASELINES)
    assert [c["kind"] for c in checks] == ["relative", "absolute"]
    blessed, message = blessing.decide(checks)
    assert not blessed and "1 of 2 checks failed" in message and "psnr mean 24 >= 30: FAIL" in message
    assert "baseline" not in checks[1]  # absolute checks keep their fields as before


def default_settings() -> EvaluatorSettings:
    """The default config's evaluator section alone (the other sections are not needed to judge the gate)."""
    with open(paths.DEFAULT_CONFIG, encoding="utf-8") as handle:
        return build(EvaluatorSettings, yaml.safe_load(handle)["evaluator"], "evaluator")


def test_the_defaults_are_relative_to_the_mean_target_image():
    thresholds = default_settings().thresholds
    assert {metric: (t.baseline, t.min, t.max) for metric, t in thresholds.items()} == {
        metric: (baselines.MEAN_TARGET, None, None) for metric in ("l1", "psnr", "ssim")}
    assert thresholds["l1"].relative_margin == 0.25 and thresholds["psnr"].margin == 1.0


def test_the_defaults_bless_the_embedded_dataset_s_trained_model_and_no_trivial_baseline():
    thresholds = default_settings().thresholds
    checks = blessing.check_thresholds(EMBEDDED_CANDIDATE, thresholds, EMBEDDED_BASELINES)
    assert blessing.decide(checks)[0], blessing.decide(checks)[1]
    for name, stats in EMBEDDED_BASELINES.items():
        checks = blessing.check_thresholds(stats, thresholds, EMBEDDED_BASELINES)
        assert not any(check["passed"] for check in checks), (name, checks)


def evaluator_with(**rule):
    with open(paths.DEFAULT_CONFIG, encoding="utf-8") as handle:
        section = yaml.safe_load(handle)["evaluator"]
    metric = rule.pop("metric", "l1")
    section["thresholds"] = {metric: {"statistic": "mean", **rule}}
    return build(EvaluatorSettings, section, "evaluator")


@pytest.mark.parametrize("rule, expected", [
    ({"baseline": "mean_target"},
     "evaluator.thresholds.l1: got {'statistic': 'mean', 'min': None, 'max': None, 'baseline': 'mean_target', "
     "'margin': None, 'relative_margin': None}; expected at least one of 'margin' (metric units) or "
     "'relative_margin'"),
    ({"margin": 1.0}, "evaluator.thresholds.l1.baseline: got None; expected one of ['identity', 'mean_target'] "
                      "when 'margin' is set"),
    ({"relative_margin": 0.25, "max": 20.0}, "evaluator.thresholds.l1.baseline: got None; expected one of "
                                             "['identity', 'mean_target'] when 'relative_margin' is set"),
    ({"baseline": "mean_target", "max": 20.0, "margin": 1.0},
     "evaluator.thresholds.l1.max: got 20.0; expected no 'max' with 'baseline': a rule is either absolute"),
    ({"baseline": "mean_target", "min": 1.0}, "evaluator.thresholds.l1.min: got 1.0; expected no 'min' with "
                                              "'baseline'"),
    ({"baseline": "median", "margin": 1.0},
     "evaluator.thresholds.l1.baseline: got 'median'; allowed values: ['identity', 'mean_target']"),
    ({"baseline": "mean_target", "margin": -1.0}, "evaluator.thresholds.l1.margin: got -1.0; expected a number >= 0"),
    ({"baseline": "mean_target", "relative_margin": -0.1},
     "evaluator.thresholds.l1.relative_margin: got -0.1; expected a fraction >= 0"),
    ({"baseline": "mean_target", "relative_margin": 1.0},
     "evaluator.thresholds.l1.relative_margin: got 1.0; expected a fraction in [0, 1) for l1 (lower is better"),
    ({"baseline": "mean_target", "margin": 256.0},
     "evaluator.thresholds.l1.margin: got 256.0; expected at most 255.0 (l1 lies in [0.0, 255.0]: no model beats "
     "any baseline by more, so the gate could never pass)"),
    ({"metric": "ssim", "baseline": "identity", "margin": 2.5},
     "evaluator.thresholds.ssim.margin: got 2.5; expected at most 2.0"),
    ({"metric": "psnr", "baseline": "mean_target", "margin": "lots"},
     "evaluator.thresholds.psnr.margin: expected a number, got 'lots'"),
    ({}, "expected exactly one of 'min' or 'max' (an absolute rule), or 'baseline' with 'margin'"),
])
def test_a_rule_neither_absolute_nor_relative_or_one_that_could_never_pass_is_refused(rule, expected):
    with pytest.raises(ConfigError) as error:
        evaluator_with(**rule)
    assert expected in str(error.value)


def test_a_relative_fid_rule_is_refused_because_the_baselines_have_no_fid(tmp_path):
    weights = tmp_path / "inception.h5"
    weights.write_bytes(b"")
    with open(paths.DEFAULT_CONFIG, encoding="utf-8") as handle:
        section = yaml.safe_load(handle)["evaluator"]
    section.update(fid_inception_weights=str(weights),
                   thresholds={"fid": {"statistic": "mean", "baseline": "mean_target", "margin": 1.0}})
    with pytest.raises(ConfigError, match=r"evaluator\.thresholds\.fid\.baseline: got 'mean_target'; expected null: "
                                          r"FID is not computed for the trivial baselines"):
        build(EvaluatorSettings, section, "evaluator")


@pytest.mark.parametrize("rule", [{"baseline": "identity", "margin": 0.0},
                                  {"baseline": "mean_target", "relative_margin": 0.99},
                                  {"metric": "psnr", "baseline": "mean_target", "relative_margin": 3.0},
                                  {"metric": "ssim", "baseline": "mean_target", "margin": 2.0}])
def test_relative_rules_at_the_edges_of_the_allowed_ranges_load(rule):
    assert evaluator_with(**rule).thresholds


def test_the_report_says_what_a_relative_bound_was_derived_from(tmp_path):
    checks = blessing.check_thresholds(CANDIDATE, {"l1": relative(relative_margin=0.25),
                                                   "psnr": relative(margin=1.0)}, BASELINES)
    path = report.write_report(tmp_path, title="t", metrics={"candidate": {"l1": FULL_STATS}},
                               baselines={}, checks=checks, blessed=True, sample_grid_png=None)
    page = pathlib.Path(path).read_text(encoding="utf-8")
    assert ("<td>relative</td><td>mean &lt;= 24.00 (mean target image 32.00, 25 % better)</td>"
            "<td>12.30</td>") in page
    assert "<td>mean &gt;= 17.00 (mean target image 16.00, better by 1)</td>" in page
    assert "relative: a bound derived from a trivial baseline" in page
