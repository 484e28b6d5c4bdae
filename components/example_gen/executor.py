"""Beam executor of the paired-image ExampleGen.

TFX's FileBasedExampleGen drives it: it fingerprints the input files (so a
changed dataset invalidates the cache), calls this PTransform once per input
split, hash-partitions the examples on ``pair_id`` into train/eval and writes
GZIP TFRecords. Files are matched and read inside Beam, one pair at a time, so
the dataset is never held in memory and the same code runs on Dataflow.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from apache_beam.io import fileio
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystems import FileSystems
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components.example_gen import pairing

METRICS_NAMESPACE = "paired_image_example_gen"


def settings_from_exec_properties(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """Unpacks the layout settings that the component packed into CustomConfig."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        raise ValueError("paired-image ExampleGen needs custom_config with the dataset layout")
    config = example_gen_pb2.CustomConfig()
    json_format.Parse(raw, config) if isinstance(raw, str) else config.CopyFrom(raw)
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return json_format.MessageToDict(struct)


class _ReadPairFn(beam.DoFn):
    """Reads and checks both images of a stem; emits an Example or rejections."""

    REJECTED = "rejected"

    def process(self, element):
        pair_id, tagged_paths = element
        paths_by_role: Dict[str, list] = {}
        for role, path in tagged_paths:
            paths_by_role.setdefault(role, []).append(path)
        pair, rejections = pairing.match_pair(pair_id, paths_by_role)
        if pair is not None:
            blobs = []
            for path in pair:
                with FileSystems.open(path) as handle:
                    data = handle.read()
                rejection = pairing.check_image(path, data)
                if rejection:
                    rejections.append(rejection)
                blobs.append(data)
            if not rejections:
                beam.metrics.Metrics.counter(METRICS_NAMESPACE, "pairs").inc()
                yield pairing.make_example(pair_id, *blobs)
                return
        for rejection in rejections:
            beam.metrics.Metrics.counter(METRICS_NAMESPACE, rejection.reason).inc()
            yield beam.pvalue.TaggedOutput(self.REJECTED, rejection)


def _key_by_stem(path: str, role: str, extensions):
    if pairing.has_image_extension(path, extensions):
        yield pairing.pair_id_of(path), (role, path)
    else:
        yield beam.pvalue.TaggedOutput(_ReadPairFn.REJECTED, pairing.Rejection(
            path, pairing.REASON_UNSUPPORTED_EXTENSION, f"allowed: {list(extensions)}"))


def _fail_if_empty(count: int, rejection_counts: dict, split_dir: str) -> int:
    if count == 0:
        raise ValueError(
            f"no valid image pair in {split_dir}: rejected files by reason {rejection_counts or '{}'}; "
            "expected matching stems in the input and target folders")
    return count


def _log_rejection(rejection: pairing.Rejection) -> pairing.Rejection:
    logging.warning("ExampleGen rejected %s: %s (%s)", rejection.path, rejection.reason, rejection.detail)
    return rejection


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def PairedImagesToExample(  # pylint: disable=invalid-name
        pipeline: beam.Pipeline, exec_properties: Dict[str, Any], split_pattern: str):
    """Matches ``<split>/<input_subdir>/*`` with ``<split>/<target_subdir>/*`` by stem."""
    settings = settings_from_exec_properties(exec_properties)
    split_dir = pairing.split_root(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    extensions = settings["image_extensions"]
    logging.info("Pairing images under %s (%s/ -> %s/)", split_dir,
                 settings["input_subdir"], settings["target_subdir"])

    keyed, rejected = [], []
    for role, subdir in ((pairing.INPUT_ROLE, settings["input_subdir"]),
                         (pairing.TARGET_ROLE, settings["target_subdir"])):
        matched = (
            pipeline
            | f"Match{role}" >> fileio.MatchFiles(os.path.join(split_dir, subdir, "*"),
                                                 empty_match_treatment=EmptyMatchTreatment.ALLOW)
            | f"Key{role}" >> beam.FlatMap(lambda m, r=role: _key_by_stem(m.path, r, extensions))
            .with_outputs(_ReadPairFn.REJECTED, main="keyed"))
        keyed.append(matched.keyed)
        rejected.append(matched[_ReadPairFn.REJECTED])

    read = (keyed
            | "FlattenRoles" >> beam.Flatten()
            | "GroupByStem" >> beam.GroupByKey()
            | "ReadPairs" >> beam.ParDo(_ReadPairFn()).with_outputs(_ReadPairFn.REJECTED, main="examples"))
    rejected.append(read[_ReadPairFn.REJECTED])

    rejection_counts = (
        rejected
        | "FlattenRejected" >> beam.Flatten()
        | "LogRejected" >> beam.Map(_log_rejection)
        | "Reason" >> beam.Map(lambda r: r.reason)
        | "CountByReason" >> beam.combiners.Count.PerElement()
        | "ToDict" >> beam.combiners.ToDict())
    _ = (read.examples
         | "CountPairs" >> beam.combiners.Count.Globally()
         | "FailIfEmpty" >> beam.Map(_fail_if_empty, beam.pvalue.AsSingleton(rejection_counts), split_dir))
    return read.examples


class Executor(BaseExampleGenExecutor):
    """Generic TFX ExampleGen executor for folders of paired images."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return PairedImagesToExample
