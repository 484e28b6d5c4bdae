"""The curated schema: read from the repository, checked, and refined from an inferred draft.

``python -m pipeline schema`` infers a draft with TFX's SchemaGen on a dataset,
then :func:`curate` applies what matters for paired images, so the file in the
repository says what a usable dataset looks like rather than what one dataset
happened to contain:

* every feature is required, exactly one value per example;
* no value lists for ``pair_id`` or the image bytes (new pairs are not anomalies);
* the encoded images are ``image_domain`` features: StatisticsGen (which reads this
  schema) then skips their top-k and unique-value counts, which would otherwise hold
  every distinct image in memory: the statistics' memory would grow with the data;
* widths and heights at least ``data.min_image_side`` (no upper bound: the
  pixel limit is ``data.max_image_pixels``), channel counts as observed
  (3 = RGB for the embedded dataset, so grayscale is an anomaly), brightness
  in [0, 1].
"""
from __future__ import annotations

from typing import Iterable, Optional

from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components import features
from components.typed_settings import ConfigError

BYTES_FEATURES = (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY, features.PAIR_ID_KEY)
SIZE_PROPERTIES = ("width", "height")
HEADER = ("# The curated schema of the pix2pix Examples (tensorflow_metadata Schema, text format).\n"
          "# Drafted by `python -m pipeline schema` (SchemaGen on a dataset, then components/example_validator/\n"
          "# schema_file.py's curation); edit it by hand to widen or narrow what a usable dataset is.\n"
          "# ExampleValidator checks every run's statistics against it; Transform reads its feature specs.\n")


class SchemaFileError(ConfigError):
    """The schema file (``data_validation.schema_file``) is missing, unparsable or lacks a feature; names it."""


def parse(text: str, where: str) -> schema_pb2.Schema:
    """A text-format Schema with every feature the pipeline writes, or SchemaFileError naming ``where``."""
    schema = schema_pb2.Schema()
    try:
        text_format.Parse(text, schema)
    except text_format.ParseError as error:
        raise SchemaFileError(f"{where}: not a text-format tensorflow_metadata Schema ({error})") from None
    missing = [name for name in (*BYTES_FEATURES, *features.IMAGE_PROPERTY_KEYS)
               if name not in {feature.name for feature in schema.feature}]
    if missing:
        raise SchemaFileError(f"{where}: the schema lacks the feature(s) {missing}, which ExampleGen writes "
                              "(regenerate it with `python -m pipeline schema`)")
    return schema


def read(path: str) -> schema_pb2.Schema:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SchemaFileError(f"{path}: no such schema file (data_validation.schema_file; "
                              "`python -m pipeline schema` drafts one)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaFileError(f"{path}: unreadable ({type(error).__name__}: {error})") from None
    return parse(text, path)


def to_text(schema: schema_pb2.Schema) -> str:
    return HEADER + text_format.MessageToString(schema)


def _observed_int_range(statistics: Optional[statistics_pb2.DatasetFeatureStatisticsList], name: str):
    if statistics is None:
        return None
    values = []
    for dataset in statistics.datasets:
        for feature in dataset.features:
            if (feature.path.step and feature.path.step[-1] == name) or feature.name == name:
                values.append((feature.num_stats.min, feature.num_stats.max))
    if not values:
        return None
    return int(min(low for low, _ in values)), int(max(high for _, high in values))


def image_features_only() -> schema_pb2.Schema:
    """The encoded images alone, as ``image_domain`` bytes: what StatisticsGen needs before a schema is drafted."""
    schema = schema_pb2.Schema()
    for name in features.IMAGE_KEYS:
        feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
        feature.image_domain.SetInParent()
    return schema


def curate(inferred: schema_pb2.Schema, min_image_side: int,
           statistics: Optional[statistics_pb2.DatasetFeatureStatisticsList] = None,
           keep: Iterable[str] = ()) -> schema_pb2.Schema:
    """The project's curation of an inferred schema (see the module doc); ``keep`` features are left as inferred."""
    schema = schema_pb2.Schema()
    schema.CopyFrom(inferred)
    del schema.string_domain[:]          # SchemaGen lists the pair ids it saw: new pairs would be anomalies
    kept = set(keep)
    for feature in schema.feature:
        if feature.name in kept:
            continue
        feature.presence.min_fraction = 1.0
        feature.presence.min_count = 1
        feature.ClearField("value_count")
        feature.shape.Clear()
        feature.shape.dim.add().size = 1
        feature.ClearField("domain_info")
        feature.ClearField("distribution_constraints")
        if feature.name in features.IMAGE_KEYS:
            feature.image_domain.SetInParent()
        role, _, prop = feature.name.partition("_")
        if feature.name not in features.IMAGE_PROPERTY_KEYS:
            continue
        if prop in SIZE_PROPERTIES:
            feature.int_domain.min = min_image_side
        elif prop == "channels":
            observed = _observed_int_range(statistics, feature.name) or (3, 3)
            feature.int_domain.min, feature.int_domain.max = observed
        elif prop == "brightness":
            feature.float_domain.min, feature.float_domain.max = 0.0, 1.0
    return schema
