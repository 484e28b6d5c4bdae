"""Pairing input and target files by stem, and the pair's tf.train.Example format.

Pure functions, no Beam: the executor wires them into a pipeline, the tests
call them directly.
"""
from __future__ import annotations

import posixpath
import warnings
from typing import List, Mapping, Optional, Tuple, Union

import numpy as np

import tensorflow as tf
from google.protobuf.message import DecodeError

from components import features
from components.example_gen import quarantine
from components.example_gen.layout import INPUT_ROLE, TARGET_ROLE

EXAMPLE_FEATURES = (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY, features.PAIR_ID_KEY)


class BadRecord(ValueError):
    """A serialized record that is not a pair in the project's Example format."""


def match_pair(pair_id: str, paths_by_role: dict) -> Tuple[Optional[Tuple[str, str]], List[quarantine.Rejection]]:
    """Decides whether the files sharing one stem form exactly one pair."""
    inputs = sorted(paths_by_role.get(INPUT_ROLE, ()))
    targets = sorted(paths_by_role.get(TARGET_ROLE, ()))
    if len(inputs) == 1 and len(targets) == 1:
        return (inputs[0], targets[0]), []
    if len(inputs) > 1 or len(targets) > 1:
        names = ", ".join(posixpath.basename(p) for p in inputs + targets)
        detail = (f"stem {pair_id!r} appears {len(inputs)}x in input and {len(targets)}x in target "
                  f"({names}): the pair is ambiguous")
        return None, [quarantine.Rejection(p, quarantine.DUPLICATE_STEM, detail) for p in inputs + targets]
    missing = TARGET_ROLE if inputs else INPUT_ROLE
    return None, [quarantine.Rejection(p, quarantine.UNPAIRED, f"no {missing} file with stem {pair_id!r}")
                  for p in inputs + targets]


def make_example(pair_id: str, input_bytes: bytes, target_bytes: bytes,
                 properties: Optional[Mapping[str, Union[int, float]]] = None) -> tf.train.Example:
    """Images are stored encoded, never as decoded pixels: small records, exact bytes.

    ``properties`` (``image_properties.of_pair``: sizes, channels, brightness) are
    added as int64 / float features for StatisticsGen and ExampleValidator; the
    Trainer and the served model read the image bytes only.
    """

    def _bytes(value: bytes) -> tf.train.Feature:
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _number(value: Union[int, float]) -> tf.train.Feature:
        if isinstance(value, (int, np.integer)):
            return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))

    feature_map = {
        features.INPUT_IMAGE_KEY: _bytes(input_bytes),
        features.TARGET_IMAGE_KEY: _bytes(target_bytes),
        features.PAIR_ID_KEY: _bytes(pair_id.encode("utf-8")),
    }
    feature_map.update({key: _number(value) for key, value in (properties or {}).items()})
    return tf.train.Example(features=tf.train.Features(feature=feature_map))


def parse_example(serialized: bytes) -> Tuple[str, bytes, bytes]:
    """(pair_id, input bytes, target bytes) of a record in :func:`make_example`'s format.

    Each of the three features must hold exactly one non-empty bytes value;
    other features are not part of the format and are dropped on import.
    """
    try:
        with warnings.catch_warnings(record=True) as caught:  # protobuf only warns when it stops half-way
            warnings.simplefilter("always", RuntimeWarning)
            example = tf.train.Example.FromString(serialized)
    except DecodeError as error:
        raise BadRecord(f"not a serialized tf.train.Example ({error})") from None
    if caught:
        raise BadRecord(f"not a serialized tf.train.Example ({caught[0].message})")
    feature_map = example.features.feature
    values = []
    for key in EXAMPLE_FEATURES:
        if key not in feature_map:
            raise BadRecord(f"feature {key!r} is missing; the format is {list(EXAMPLE_FEATURES)}")
        feature = feature_map[key]
        if feature.WhichOneof("kind") != "bytes_list" or len(feature.bytes_list.value) != 1:
            raise BadRecord(f"feature {key!r} must hold exactly one bytes value, got "
                            f"{feature.WhichOneof('kind') or 'nothing'} with "
                            f"{len(getattr(feature, feature.WhichOneof('kind') or 'bytes_list').value)} values")
        values.append(feature.bytes_list.value[0])
    input_bytes, target_bytes, pair_id = values
    try:
        pair_id_text = pair_id.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRecord(f"{features.PAIR_ID_KEY!r} is not UTF-8 text: {pair_id[:40]!r}") from None
    if not pair_id_text.strip():
        raise BadRecord(f"{features.PAIR_ID_KEY!r} is empty")
    return pair_id_text, input_bytes, target_bytes
