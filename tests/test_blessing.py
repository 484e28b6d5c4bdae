"""The blessing rule: blessed only when every configured threshold passes."""
from components.evaluator import blessing
from pipeline.config import Threshold

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
