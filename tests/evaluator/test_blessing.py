"""The blessing rule: blessed only when every configured threshold passes."""
from components.evaluator import blessing
from components.evaluator.settings import Threshold

STATS = {"l1": {"mean": 12.0, "p90": 30.0}, "psnr": {"mean": 24.0, "p10": 18.0}, "ssim": {"mean": 0.8}}


def test_all_thresholds_pass():
    checks = blessing.check_thresholds(STATS, {"l1": Threshold("mean", max=20.0), "psnr": Threshold("mean", min=20.0)})
    assert [c["passed"] for c in checks] == [True, True]
    blessed, message = blessing.decide(checks)
    assert blessed and message.startswith("blessed: all thresholds passed")
    assert "l1 mean 12 <= 20: pass" in message


def test_one_failing_threshold_refuses_the_blessing_and_says_which():
    checks = blessing.check_thresholds(STATS, {"l1": Threshold("p90", max=25.0), "ssim": Threshold("mean", min=0.5)})
    blessed, message = blessing.decide(checks)
    assert not blessed
    assert "1 of 2 checks failed" in message and "l1 p90 30 <= 25: FAIL" in message


def test_bounds_are_inclusive():
    checks = blessing.check_thresholds(STATS, {"l1": Threshold("mean", max=12.0), "psnr": Threshold("mean", min=24.0)})
    assert all(c["passed"] for c in checks)


def test_a_metric_that_was_not_computed_fails_rather_than_passing_silently():
    checks = blessing.check_thresholds(STATS, {"ms_ssim": Threshold("mean", min=0.1)})
    assert checks[0]["value"] is None and not checks[0]["passed"]
    assert "ms_ssim mean n/a >= 0.1: FAIL" in blessing.decide(checks)[1]


def test_nan_fails():
    checks = blessing.check_thresholds({"l1": {"mean": float("nan")}}, {"l1": Threshold("mean", max=20.0)})
    assert not blessing.decide(checks)[0]


def test_no_thresholds_never_blesses():
    assert blessing.decide([])[0] is False


HIGHER = {"l1": False, "psnr": True, "ssim": True}
BASELINE = {"l1": {"mean": 10.0}, "psnr": {"mean": 25.0}, "ssim": {"p10": 0.70}}


def test_regression_allows_the_configured_worsening_and_no_more():
    from components.evaluator.settings import RegressionThreshold

    rules = {"l1": RegressionThreshold("mean", absolute=1.0, relative=0.05),   # bound = 10 + min(1, 0.5)
             "psnr": RegressionThreshold("mean", absolute=0.5),                # bound = 24.5
             "ssim": RegressionThreshold("p10", relative=0.1)}                 # bound = 0.63
    ok = {"l1": {"mean": 10.5}, "psnr": {"mean": 24.5}, "ssim": {"p10": 0.63}}
    checks = blessing.check_regression(ok, BASELINE, rules, HIGHER)
    assert all(c["passed"] and c["kind"] == "regression" for c in checks), checks
    assert {c["metric"]: round(c["threshold"], 6) for c in checks} == {"l1": 10.5, "psnr": 24.5, "ssim": 0.63}
    worse = {"l1": {"mean": 10.51}, "psnr": {"mean": 24.4}, "ssim": {"p10": 0.62}}
    checks = blessing.check_regression(worse, BASELINE, rules, HIGHER)
    assert not any(c["passed"] for c in checks)
    message = blessing.decide(checks)[1]
    assert "vs last blessed: l1 mean 10.51 <= 10.5 (last blessed 10): FAIL" in message


def test_an_improvement_always_passes_the_regression_check():
    from components.evaluator.settings import RegressionThreshold

    better = {"l1": {"mean": 5.0}, "psnr": {"mean": 30.0}}
    rules = {"l1": RegressionThreshold("mean", absolute=0.0), "psnr": RegressionThreshold("mean", absolute=0.0)}
    assert all(c["passed"] for c in blessing.check_regression(better, BASELINE, rules, HIGHER))


def test_regression_on_a_metric_the_baseline_lacks_fails():
    from components.evaluator.settings import RegressionThreshold

    checks = blessing.check_regression({"ms_ssim": {"mean": 0.9}}, BASELINE,
                                       {"ms_ssim": RegressionThreshold("mean", absolute=0.1)},
                                       {"ms_ssim": True})
    assert not checks[0]["passed"] and checks[0]["threshold"] is None
