"""The ``evaluator`` section: the gate a model must pass to be blessed, and what the report shows.

Metric and statistic names, and the values a metric can take, are the ones
``metrics.py`` computes, so a rule can only name something that is measured
and a threshold no model could pass is refused at start.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Literal, Optional

from components.evaluator import baselines, metrics
from components.typed_settings import require

SECTION = "evaluator"
ABSOLUTE_KEYS = ("min", "max")
RELATIVE_KEYS = ("margin", "relative_margin")


@dataclasses.dataclass(frozen=True)
class Threshold:
    """One gate on the candidate's ``statistic`` of a metric: absolute, or relative to a trivial baseline.

    Absolute: exactly one of ``min``/``max``, in the metric's units. Relative: a
    ``baseline`` (one of ``baselines.NAMES``) the candidate must beat on the same
    examples by ``margin`` (metric units) and/or ``relative_margin`` (a fraction
    of the baseline's value); both set, both must hold. Relative rules mean the
    same on any dataset, where absolute numbers are tuned to one.
    """
    statistic: Literal[metrics.STATISTICS]
    min: Optional[float] = None
    max: Optional[float] = None
    baseline: Optional[Literal[baselines.NAMES]] = None
    margin: Optional[float] = None
    relative_margin: Optional[float] = None

    @property
    def is_relative(self) -> bool:
        return self.baseline is not None

    def validate(self, key: str) -> None:
        if not self.is_relative:
            for name in RELATIVE_KEYS:
                require(getattr(self, name) is None, f"{key}.baseline", None,
                        f"one of {list(baselines.NAMES)} when '{name}' is set ('{name}' is measured from "
                        "that baseline), or no 'margin'/'relative_margin' for an absolute rule")
            require((self.min is None) != (self.max is None), key, dataclasses.asdict(self),
                    f"exactly one of 'min' or 'max' (an absolute rule), or 'baseline' with 'margin' and/or "
                    f"'relative_margin' (a rule relative to a trivial baseline: {list(baselines.NAMES)})")
            return
        for name in ABSOLUTE_KEYS:
            require(getattr(self, name) is None, f"{key}.{name}", getattr(self, name),
                    f"no '{name}' with 'baseline': a rule is either absolute ('min' or 'max') or relative to a "
                    "baseline ('margin' and/or 'relative_margin'), one rule per metric")
        require(self.margin is not None or self.relative_margin is not None, key, dataclasses.asdict(self),
                f"at least one of 'margin' (metric units) or 'relative_margin' (a fraction of the baseline's "
                f"value) with 'baseline': {self.baseline!r}, saying how much better than it the candidate must be")
        require(self.margin is None or self.margin >= 0.0, f"{key}.margin", self.margin,
                "a number >= 0 (how much better than the baseline, in the metric's units)")
        require(self.relative_margin is None or self.relative_margin >= 0.0, f"{key}.relative_margin",
                self.relative_margin, "a fraction >= 0 of the baseline's value (0.25 = 25 % better)")


@dataclasses.dataclass(frozen=True)
class RegressionThreshold:
    """How much worse than the last blessed model a candidate may be on one metric.

    ``absolute`` is in the metric's units, ``relative`` a fraction of the
    baseline's value; "worse" follows the metric's direction (higher L1 is
    worse, lower PSNR/SSIM is worse). When both are set, both must hold.
    """
    statistic: Literal[metrics.STATISTICS]
    absolute: Optional[float] = None
    relative: Optional[float] = None

    def validate(self, key: str) -> None:
        require(self.absolute is not None or self.relative is not None, key,
                dataclasses.asdict(self), "at least one of 'absolute' or 'relative'")
        for name in ("absolute", "relative"):
            value = getattr(self, name)
            require(value is None or value >= 0.0, f"{key}.{name}", value, "a number >= 0 (allowed worsening)")


@dataclasses.dataclass(frozen=True)
class EvaluatorSettings:
    batch_size: int
    thresholds: Dict[str, Threshold]
    regression: Dict[str, RegressionThreshold]
    sample_images: int
    worst_images: int
    fid_inception_weights: Optional[str] = None

    def validate(self, key: str) -> None:
        require(self.batch_size >= 1, f"{key}.batch_size", self.batch_size, "an integer >= 1")
        require(bool(self.thresholds), f"{key}.thresholds", self.thresholds,
                "at least one threshold (a model is blessed only by passing them)")
        for section in ("thresholds", "regression"):
            rules = getattr(self, section)
            for metric in rules:
                require(metric in metrics.METRIC_NAMES, f"{key}.{section}", metric,
                        f"metric names among {list(metrics.METRIC_NAMES)}")
            # FID is computed only with Inception weights: without them a fid rule could never pass.
            require(bool(self.fid_inception_weights) or metrics.FID not in rules, f"{key}.{section}.fid",
                    dataclasses.asdict(rules[metrics.FID]) if metrics.FID in rules else None,
                    f"no fid rule while {key}.fid_inception_weights is null (FID is then never computed, so the "
                    f"rule could never pass), or a local InceptionV3 notop .h5 file in {key}.fid_inception_weights")
        for metric, threshold in self.thresholds.items():
            rule = f"{key}.thresholds.{metric}"
            low, high = metrics.METRIC_BOUNDS[metric]
            require(threshold.min is None or threshold.min <= high, f"{rule}.min", threshold.min,
                    f"at most {high} ({metric} never exceeds it, so the gate could never pass)")
            require(threshold.max is None or threshold.max >= low, f"{rule}.max", threshold.max,
                    f"at least {low} ({metric} is never below it, so the gate could never pass)")
            if threshold.is_relative:
                self._validate_relative(rule, metric, threshold)
        require(self.sample_images >= 1, f"{key}.sample_images", self.sample_images, "an integer >= 1")
        require(self.worst_images >= 0, f"{key}.worst_images", self.worst_images, "an integer >= 0")

    @staticmethod
    def _validate_relative(rule: str, metric: str, threshold: Threshold) -> None:
        """Refuses the relative rules no candidate could pass, whatever the baseline scores."""
        require(metric != metrics.FID, f"{rule}.baseline", threshold.baseline,
                "null: FID is not computed for the trivial baselines, so a rule relative to one could never "
                "pass; use 'max' for an absolute FID bound")
        low, high = metrics.METRIC_BOUNDS[metric]
        span = high - low
        require(threshold.margin is None or threshold.margin <= span, f"{rule}.margin", threshold.margin,
                f"at most {span} ({metric} lies in [{low}, {high}]: no model beats any baseline by more, so the "
                "gate could never pass)")
        lower_is_better = not metrics.HIGHER_IS_BETTER[metric]
        require(not lower_is_better or threshold.relative_margin is None or threshold.relative_margin < 1.0,
                f"{rule}.relative_margin", threshold.relative_margin,
                f"a fraction in [0, 1) for {metric} (lower is better: the bound is the baseline's value times "
                f"(1 - relative_margin); 1 or more asks for {metric} <= 0, every output equal to its target, so "
                "the gate could never pass)")
