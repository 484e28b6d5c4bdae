"""The image properties ExampleGen records beside each image: width, height, channels, brightness.

StatisticsGen then describes them (the distribution of sizes, channel counts and
brightness of a dataset), ExampleValidator checks them against the curated schema
(e.g. RGB where RGB is expected) and compares them with the data of the last
blessed model (drift). They describe the decoded pixels as the file stores them,
upright, before Transform resizes anything.
"""
from __future__ import annotations

from typing import Dict, Union

import numpy as np

from components import features

ALPHA_CHANNEL_COUNTS = (2, 4)   # LA and RGBA: the last channel is opacity, not brightness


def of_pixels(role: str, pixels: np.ndarray) -> Dict[str, Union[int, float]]:
    """{<role>_width, _height, _channels, _brightness} of decoded [H, W, C] pixels (8- or 16-bit)."""
    if role not in features.IMAGE_ROLES:
        raise ValueError(f"role: got {role!r}; expected one of {list(features.IMAGE_ROLES)}")
    height, width, channels = pixels.shape
    colour = pixels[..., :-1] if channels in ALPHA_CHANNEL_COUNTS else pixels
    full_scale = float(np.iinfo(pixels.dtype).max) if np.issubdtype(pixels.dtype, np.integer) else 1.0
    brightness = float(colour.mean(dtype=np.float64) / full_scale) if colour.size else 0.0
    return {f"{role}_width": int(width), f"{role}_height": int(height), f"{role}_channels": int(channels),
            f"{role}_brightness": brightness}


def of_pair(input_pixels: np.ndarray, target_pixels: np.ndarray) -> Dict[str, Union[int, float]]:
    return {**of_pixels(features.IMAGE_ROLES[0], input_pixels), **of_pixels(features.IMAGE_ROLES[1], target_pixels)}
