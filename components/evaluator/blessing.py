"""The blessing decision: a model is blessed only if every threshold passes.

Pure functions over metric statistics, so the rule is tested without a model.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Tuple


def check_thresholds(stats: Mapping[str, Mapping[str, float]], thresholds: Mapping) -> List[dict]:
    """One check per configured threshold: ``stats[metric][statistic]`` vs its bound.

    A metric that was not computed (e.g. MS-SSIM on images too small for it)
    fails its check rather than passing silently.
    """
    checks = []
    for metric, threshold in sorted(thresholds.items()):
        bound, op = (threshold.min, ">=") if threshold.min is not None else (threshold.max, "<=")
        value = stats.get(metric, {}).get(threshold.statistic)
        passed = value is not None and (value >= bound if op == ">=" else value <= bound)
        checks.append({"metric": metric, "statistic": threshold.statistic, "op": op,
                       "threshold": float(bound), "value": None if value is None else float(value),
                       "passed": bool(passed), "kind": "absolute"})
    return checks


def check_regression(candidate: Mapping[str, Mapping[str, float]], baseline: Mapping[str, Mapping[str, float]],
                     regression: Mapping, higher_is_better: Mapping[str, bool]) -> List[dict]:
    """One check per metric: the candidate may be worse than the baseline by at most the allowance.

    The allowed bound is the tighter of ``absolute`` and ``relative * |baseline|``
    when both are set. A metric missing on either side fails.
    """
    checks = []
    for metric, rule in sorted(regression.items()):
        base = baseline.get(metric, {}).get(rule.statistic)
        value = candidate.get(metric, {}).get(rule.statistic)
        allowances = [a for a in (rule.absolute, None if base is None or rule.relative is None
                                  else rule.relative * abs(base)) if a is not None]
        higher = higher_is_better[metric]
        bound = None if base is None or not allowances else (
            base - min(allowances) if higher else base + min(allowances))
        op = ">=" if higher else "<="
        passed = (value is not None and bound is not None
                  and (value >= bound if higher else value <= bound))
        checks.append({"metric": metric, "statistic": rule.statistic, "op": op,
                       "threshold": None if bound is None else float(bound),
                       "value": None if value is None else float(value),
                       "baseline": None if base is None else float(base),
                       "passed": bool(passed), "kind": "regression"})
    return checks


def describe_check(check: dict) -> str:
    value = "n/a" if check["value"] is None else f"{check['value']:.4g}"
    bound = "n/a" if check["threshold"] is None else f"{check['threshold']:.4g}"
    verdict = "pass" if check["passed"] else "FAIL"
    against = f" (last blessed {check['baseline']:.4g})" if check.get("baseline") is not None else ""
    prefix = "vs last blessed: " if check["kind"] == "regression" else ""
    return f"{prefix}{check['metric']} {check['statistic']} {value} {check['op']} {bound}{against}: {verdict}"


def decide(checks: List[dict]) -> Tuple[bool, str]:
    """Blessed iff all checks pass; the message lists every check with its numbers."""
    blessed = bool(checks) and all(check["passed"] for check in checks)
    failed = [c for c in checks if not c["passed"]]
    head = "blessed: all thresholds passed" if blessed else f"not blessed: {len(failed)} of {len(checks)} checks failed"
    return blessed, head + " (" + "; ".join(describe_check(c) for c in checks) + ")"


def stats_table(stats: Mapping[str, Mapping[str, float]]) -> Dict[str, float]:
    """Flat ``metric_statistic -> value`` view, for logs and the run summary."""
    return {f"{metric}_{name}": value for metric, values in stats.items() for name, value in values.items()
            if name in ("mean", "p10", "p90")}
