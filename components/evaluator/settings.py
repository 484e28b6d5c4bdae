"""The ``evaluator`` section: the gate a model must pass to be blessed, and what the report shows.

Metric and statistic names, and the values a metric can take, are the ones
``metrics.py`` computes, so a rule can only name something that is measured
and a threshold no model could pass is refused at start.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Literal, Optional

from components.evaluator import metrics
from components.typed_settings import require

SECTION = "evaluator"


@dataclasses.dataclass(frozen=True)
class Threshold:
    statistic: Literal[metrics.STATISTICS]
    min: Optional[float] = None
    max: Optional[float] = None

    def validate(self, key: str) -> None:
        require((self.min is None) != (self.max is None), key,
                dataclasses.asdict(self), "exactly one of 'min' or 'max'")


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
            low, high = metrics.METRIC_BOUNDS[metric]
            require(threshold.min is None or threshold.min <= high, f"{key}.thresholds.{metric}.min", threshold.min,
                    f"at most {high} ({metric} never exceeds it, so the gate could never pass)")
            require(threshold.max is None or threshold.max >= low, f"{key}.thresholds.{metric}.max", threshold.max,
                    f"at least {low} ({metric} is never below it, so the gate could never pass)")
        require(self.sample_images >= 1, f"{key}.sample_images", self.sample_images, "an integer >= 1")
        require(self.worst_images >= 0, f"{key}.worst_images", self.worst_images, "an integer >= 0")
