"""The blessing decision: a model is blessed only if every threshold passes.

Pure functions over metric statistics, so the rule is tested without a model.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Tuple

from components.evaluator import baselines as trivial, metrics

# A check's ``kind``: a fixed bound, a bound derived from a trivial baseline, or vs the last blessed model.
ABSOLUTE, RELATIVE, REGRESSION = "absolute", "relative", "regression"
PERCENT = 100.0


def check_thresholds(stats: Mapping[str, Mapping[str, float]], thresholds: Mapping,
                     baselines: Optional[Mapping[str, Mapping[str, Mapping[str, float]]]] = None,
                     higher_is_better: Mapping[str, bool] = metrics.HIGHER_IS_BETTER) -> List[dict]:
    """One check per configured threshold: ``stats[metric][statistic]`` vs its bound.

    ``baselines`` are the trivial baselines' stats by display name (as the
    Evaluator reports them); a relative rule's bound is derived from its
    baseline's same statistic. A metric that was not computed (e.g. MS-SSIM on
    images too small for it), on the candidate or on the baseline, fails its
    check rather than passing silently.
    """
    checks = []
    for metric, threshold in sorted(thresholds.items()):
        value = stats.get(metric, {}).get(threshold.statistic)
        if threshold.is_relative:
            check = _relative_check(metric, threshold, baselines or {}, higher_is_better[metric])
        else:
            bound, op = (threshold.min, ">=") if threshold.min is not None else (threshold.max, "<=")
            check = {"metric": metric, "statistic": threshold.statistic, "op": op, "threshold": float(bound),
                     "kind": ABSOLUTE}
        bound = check["threshold"]
        passed = value is not None and bound is not None and (
            value >= bound if check["op"] == ">=" else value <= bound)
        checks.append({**check, "value": None if value is None else float(value), "passed": bool(passed)})
    return checks


def _relative_check(metric: str, threshold, baselines: Mapping, higher: bool) -> dict:
    """The bound of a relative rule: the baseline's value moved towards "better" by the larger margin.

    Both margins set, both must hold, so the larger of ``margin`` and
    ``relative_margin * |baseline|`` wins; no baseline value, no bound.
    """
    name = trivial.DISPLAY_NAMES[threshold.baseline]
    base = baselines.get(name, {}).get(metric, {}).get(threshold.statistic)
    bound = None
    if base is not None:
        margins = [m for m in (threshold.margin, None if threshold.relative_margin is None
                               else threshold.relative_margin * abs(base)) if m is not None]
        bound = base + max(margins) if higher else base - max(margins)
    return {"metric": metric, "statistic": threshold.statistic, "op": ">=" if higher else "<=",
            "threshold": None if bound is None else float(bound), "kind": RELATIVE,
            "baseline": None if base is None else float(base), "baseline_name": name,
            "margin": threshold.margin, "relative_margin": threshold.relative_margin}


def margin_text(check: dict) -> str:
    """How much better than its baseline a relative check asks for, e.g. ``25 % better``."""
    parts = []
    if check.get("margin") is not None:
        parts.append(f"better by {check['margin']:g}")
    if check.get("relative_margin") is not None:
        parts.append(f"{check['relative_margin'] * PERCENT:g} % better")
    return " and ".join(parts)


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
                       "passed": bool(passed), "kind": REGRESSION})
    return checks


def describe_check(check: dict) -> str:
    """One line per check, with the numbers its bound came from."""
    value = "n/a" if check["value"] is None else f"{check['value']:.4g}"
    bound = "n/a" if check["threshold"] is None else f"{check['threshold']:.4g}"
    verdict = "pass" if check["passed"] else "FAIL"
    base = "n/a" if check.get("baseline") is None else f"{check['baseline']:.4g}"
    against, prefix = "", ""
    if check["kind"] == REGRESSION:
        prefix = "vs last blessed: "
        against = f" (last blessed {base})" if check.get("baseline") is not None else ""
    elif check["kind"] == RELATIVE:
        against = f" ({check['baseline_name']} {base}, {margin_text(check)})"
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
