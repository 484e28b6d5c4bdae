"""The classic pix2pix "aligned" image: A and B side by side in one file.

``direction`` names which half is the generator's input: ``AtoB`` means the left
half (A) is the input and the right half (B) the target; ``BtoA`` the reverse.
The ExampleGen and the layout converter both cut and join here, so the two
cannot disagree about which half is which.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

from components.example_gen import image_checks, quarantine

A_TO_B = "AtoB"
B_TO_A = "BtoA"
DIRECTIONS = (A_TO_B, B_TO_A)


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction: got {direction!r}; expected one of {list(DIRECTIONS)}")


def split_halves(pixels: np.ndarray, direction: str) -> Tuple[np.ndarray, np.ndarray]:
    """[H, 2W, C] -> (input, target), each [H, W, C]."""
    _check_direction(direction)
    width = pixels.shape[1]
    if width % 2:
        raise ValueError(f"an aligned image needs an even width, got {width}")
    left, right = pixels[:, : width // 2], pixels[:, width // 2:]
    return (left, right) if direction == A_TO_B else (right, left)


def join_halves(input_pixels: np.ndarray, target_pixels: np.ndarray, direction: str) -> np.ndarray:
    """(input, target) -> [H, 2W, C]; the inverse of :func:`split_halves`."""
    _check_direction(direction)
    if input_pixels.shape != target_pixels.shape:
        raise ValueError(f"input {input_pixels.shape} and target {target_pixels.shape} differ in shape "
                         "(size, channels or bit depth); an aligned image needs identical halves")
    left, right = (input_pixels, target_pixels) if direction == A_TO_B else (target_pixels, input_pixels)
    return np.concatenate([left, right], axis=1)


def check_aligned(data: bytes, limits: image_checks.ImageLimits, direction: str) -> Tuple[bytes, bytes]:
    """An aligned file -> (input PNG, target PNG), or :class:`image_checks.ImageRejected`.

    Halves are lossless PNGs of the decoded pixels (16-bit stays 16-bit).
    """
    input_pixels, target_pixels = checked_halves(data, limits, direction)
    return image_checks.encode_png(input_pixels), image_checks.encode_png(target_pixels)


def checked_halves(data: bytes, limits: image_checks.ImageLimits, direction: str) -> Tuple[np.ndarray, np.ndarray]:
    """An aligned file -> (input pixels, target pixels), or :class:`image_checks.ImageRejected`.

    The pixel limit applies to the whole file, the minimum side to each half.
    The halves are cut from the image turned upright by its EXIF orientation.
    """
    header = image_checks.read_header(data)
    width, height = header.upright_size
    if width % 2:
        raise image_checks.ImageRejected(
            quarantine.ODD_WIDTH, f"{width}x{height}: an odd width has no two equal halves")
    image_checks.check_limits(header, limits, min_side_of=(width // 2, height))
    pixels = image_checks.upright(image_checks.decode_pixels(data, header), header)
    return split_halves(pixels, direction)
