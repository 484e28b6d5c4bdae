"""The ``transform`` section: the size and channels every image is decoded to, for training and serving."""
from __future__ import annotations

import dataclasses
from typing import Literal

from components.transform import preprocessing
from components.typed_settings import require

SECTION = "transform"


@dataclasses.dataclass(frozen=True)
class TransformSettings:
    image_size: int
    channels: Literal[preprocessing.SUPPORTED_CHANNELS]

    def validate(self, key: str) -> None:
        require(self.image_size >= 16 and self.image_size % 4 == 0, f"{key}.image_size", self.image_size,
                "a multiple of 4 >= 16 (a power of two for the U-Net generator)")
