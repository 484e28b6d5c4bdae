"""Pairing input and target image files and encoding a pair as a tf.train.Example.

Pure functions, no Beam: the executor wires them into a pipeline, the tests
call them directly.
"""
from __future__ import annotations

import dataclasses
import io
import os
from typing import Iterable, List, Optional, Sequence, Tuple

import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from components import features

INPUT_ROLE = "input"
TARGET_ROLE = "target"

# Reasons a file is left out of the examples; counted and logged by the executor.
REASON_UNPAIRED = "unpaired"
REASON_DUPLICATE_STEM = "duplicate_stem"
REASON_EMPTY_FILE = "empty_file"
REASON_NOT_AN_IMAGE = "not_an_image"
REASON_UNSUPPORTED_EXTENSION = "unsupported_extension"


@dataclasses.dataclass(frozen=True)
class Rejection:
    """One file that did not become (part of) an example, and why."""

    path: str
    reason: str
    detail: str = ""


def pair_id_of(path: str) -> str:
    """A pair is identified by the file stem: ``input/x.png`` pairs ``target/x.jpg``."""
    return os.path.splitext(os.path.basename(path))[0]


def has_image_extension(path: str, extensions: Sequence[str]) -> bool:
    return os.path.splitext(path)[1].lower() in {e.lower() for e in extensions}


def split_root(input_base: str, split_pattern: str) -> str:
    """The folder of one split: the pattern's components before the first wildcard.

    ``*/*`` (the whole dataset) maps to ``input_base``; ``train/*/*`` to
    ``input_base/train``. The pattern itself is what TFX fingerprints for caching.
    """
    fixed: List[str] = []
    for part in split_pattern.split("/"):
        if any(ch in part for ch in "*?["):
            break
        fixed.append(part)
    return os.path.join(input_base, *fixed) if fixed else input_base


def match_pair(pair_id: str, paths_by_role: dict) -> Tuple[Optional[Tuple[str, str]], List[Rejection]]:
    """Decides whether the files sharing one stem form exactly one valid pair."""
    inputs = sorted(paths_by_role.get(INPUT_ROLE, ()))
    targets = sorted(paths_by_role.get(TARGET_ROLE, ()))
    if len(inputs) == 1 and len(targets) == 1:
        return (inputs[0], targets[0]), []
    if len(inputs) > 1 or len(targets) > 1:
        detail = f"stem {pair_id!r} appears {len(inputs)}x in input and {len(targets)}x in target"
        return None, [Rejection(p, REASON_DUPLICATE_STEM, detail) for p in inputs + targets]
    missing = TARGET_ROLE if inputs else INPUT_ROLE
    return None, [Rejection(p, REASON_UNPAIRED, f"no {missing} image with stem {pair_id!r}")
                  for p in inputs + targets]


def check_image(path: str, data: bytes) -> Optional[Rejection]:
    """Fully decodes the bytes once, so a truncated or fake image never reaches training."""
    if not data:
        return Rejection(path, REASON_EMPTY_FILE, "zero bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        return Rejection(path, REASON_NOT_AN_IMAGE, str(error))
    return None


def make_example(pair_id: str, input_bytes: bytes, target_bytes: bytes) -> tf.train.Example:
    """Images are stored encoded, never as decoded pixels: small records, exact bytes."""

    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    return tf.train.Example(features=tf.train.Features(feature={
        features.INPUT_IMAGE_KEY: _bytes(input_bytes),
        features.TARGET_IMAGE_KEY: _bytes(target_bytes),
        features.PAIR_ID_KEY: _bytes(pair_id.encode("utf-8")),
    }))


def summarize_rejections(rejections: Iterable[Rejection]) -> dict:
    """Counts by reason, for logs and the run summary."""
    counts: dict = {}
    for rejection in rejections:
        counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
    return counts
