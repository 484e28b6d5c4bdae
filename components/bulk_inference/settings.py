"""The ``bulk_inference`` section: translate a whole split after the push, as artifacts with lineage."""
from __future__ import annotations

import dataclasses
from typing import Optional

from components.typed_settings import require

SECTION = "bulk_inference"


@dataclasses.dataclass(frozen=True)
class BulkInferenceSettings:
    split: Optional[str] = None       # e.g. test; None: no batch translation in the pipeline
    batch_size: int = 16              # the largest batch per model call
    contact_sheet_images: int = 8     # rows of input | generated on the contact sheet

    def validate(self, key: str) -> None:
        require(self.split is None or bool(self.split.strip()), f"{key}.split", self.split,
                "a split name of the Examples (train, eval, test) or null")
        require(self.batch_size >= 1, f"{key}.batch_size", self.batch_size, "an integer >= 1")
        require(self.contact_sheet_images >= 1, f"{key}.contact_sheet_images", self.contact_sheet_images,
                "an integer >= 1")
