"""The ``data_validation`` section: the curated schema and the drift rule that stop bad data before training."""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from components import features
from components.typed_settings import require

SECTION = "data_validation"


@dataclasses.dataclass(frozen=True)
class DataValidationSettings:
    schema_file: str                 # the curated schema (text-format tensorflow_metadata Schema)
    stop_on_anomalies: bool          # schema anomalies stop the run before Transform and the Trainer
    max_drift: Optional[float]       # Jensen-Shannon divergence above which drift stops the run; None: report only
    drift_features: List[str] = dataclasses.field(default_factory=lambda: list(features.IMAGE_PROPERTY_KEYS))
    drift_split: str = "train"       # compared with the same split of the last blessed model's data
    min_drift_examples: int = 30     # continuous features (brightness) gate drift only with this many examples

    def validate(self, key: str) -> None:
        require(bool(self.schema_file), f"{key}.schema_file", self.schema_file, "a path to a schema .pbtxt")
        require(self.max_drift is None or 0.0 <= self.max_drift <= 1.0, f"{key}.max_drift", self.max_drift,
                "a Jensen-Shannon divergence in [0, 1] (0: identical distributions, 1: disjoint), or null "
                "(drift is reported and never stops the run)")
        for index, name in enumerate(self.drift_features):
            require(name in features.IMAGE_PROPERTY_KEYS, f"{key}.drift_features[{index}]", name,
                    f"one of the image-property features {list(features.IMAGE_PROPERTY_KEYS)}")
        require(self.min_drift_examples >= 0, f"{key}.min_drift_examples", self.min_drift_examples,
                "an integer >= 0 (0: continuous features are always gated)")
        require(len(set(self.drift_features)) == len(self.drift_features), f"{key}.drift_features",
                self.drift_features, "each feature once")
