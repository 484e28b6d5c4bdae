"""Drift of the image properties between this run's data and the data of the last blessed model.

TFDV's own comparator measures it: the approximate Jensen-Shannon divergence
between the two histograms of each feature (0: the same distribution, 1:
disjoint, e.g. every image 256 px wide before and 48 px now). The threshold is
the config's (``data_validation.max_drift``), applied here rather than written
into the schema, so the config stays the one place it is set.

A histogram of a handful of continuous values is noisy (brightness of the same
kind of images: 0.5-0.9 at 8 examples, 0.3-0.4 at 16, <= 0.25 at 32), so a
continuous feature stops the run only when both sides have at least
``min_examples`` examples; below that its drift is reported, not gated. The
integer features (sizes, channels) are gated at any size: another size class
is 1.0 with a handful of images.
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

JSD = "jensen_shannon_divergence"
# With no threshold (report only), the comparator still needs one to measure: never exceeded.
REPORT_ONLY_THRESHOLD = 1.0


@dataclasses.dataclass(frozen=True)
class FeatureDrift:
    feature: str
    value: float
    threshold: Optional[float]
    note: str = ""          # why a measured feature is not gated

    @property
    def drifted(self) -> bool:
        return self.threshold is not None and self.value > self.threshold

    def as_dict(self) -> dict:
        return {"feature": self.feature, "value": self.value, "threshold": self.threshold, "drifted": self.drifted,
                "note": self.note}


def measure(current: statistics_pb2.DatasetFeatureStatisticsList,
            previous: statistics_pb2.DatasetFeatureStatisticsList, schema: schema_pb2.Schema,
            feature_names: Sequence[str], max_drift: Optional[float], min_examples: int = 0) -> List[FeatureDrift]:
    """The divergence of each named feature (those present in both), sorted by name; continuous features
    are gated only with at least ``min_examples`` examples on both sides."""
    import tensorflow_data_validation as tfdv  # heavy: only when drift is measured

    comparing = schema_pb2.Schema()
    comparing.CopyFrom(schema)
    wanted = set(feature_names)
    for feature in comparing.feature:
        feature.ClearField("drift_comparator")
        if feature.name in wanted:
            getattr(feature.drift_comparator, JSD).threshold = (
                REPORT_ONLY_THRESHOLD if max_drift is None else max_drift)
    anomalies = tfdv.validate_statistics(current, comparing, previous_statistics=previous)
    fewest = min(_num_examples(current), _num_examples(previous))
    continuous = {feature.name for feature in schema.feature if feature.type == schema_pb2.FLOAT}
    measured = []
    for info in anomalies.drift_skew_info:
        name = info.path.step[-1] if info.path.step else ""
        for measurement in info.drift_measurements:
            if name in wanted and measurement.type == measurement.JENSEN_SHANNON_DIVERGENCE:
                if name in continuous and fewest < min_examples and max_drift is not None:
                    measured.append(FeatureDrift(name, float(measurement.value), None, note=(
                        f"reported only: {fewest} examples < data_validation.min_drift_examples {min_examples} "
                        "(a histogram of so few values is noisy)")))
                else:
                    measured.append(FeatureDrift(name, float(measurement.value), max_drift))
    return sorted(measured, key=lambda drift: drift.feature)


def _num_examples(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> int:
    return int(statistics.datasets[0].num_examples) if statistics.datasets else 0
