"""Beam executor of the paired-image ExampleGen.

TFX's FileBasedExampleGen drives it: its driver fingerprints the input splits'
files (so a changed dataset invalidates the cache), then ``Do`` runs one Beam
pipeline that lists the dataset once, routes every file (``layout.py``), reads
and checks files inside the workers (``ingest.py``), splits the examples by
split folder or by a hash of the pair id, and writes each split as GZIP
TFRecords plus the quarantine report and the counts next to them. It uses
Beam's FileSystems only, so the same code runs on the DirectRunner and on
Dataflow. After the pipeline, ``Do`` puts the counts on the Examples artifact
and fails the run when too little of the dataset is usable.
"""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
from typing import Any, Dict

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError
from apache_beam.io.filesystems import FileSystems
from google.protobuf import json_format, struct_pb2
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.util import examples_utils
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.example_gen import ingest, layout, listing, quarantine
from components import typed_settings
from components.example_gen.settings import SECTION, DataSettings

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "paired_image_example_gen"
CUSTOM_CONFIG_JSON = "custom_config_json"   # in FileBasedExampleGen's CustomConfig proto: our custom_config, as JSON
REPORT_DIR_PROPERTY = "_quarantine_report_dir"  # passed from Do to GenerateExamplesByBeam
FAILED_RUNS_FOLDER = "failed_ingestion"  # <pipeline root>/<component>/failed_ingestion/<execution>/
EXAMPLES_FILE_PREFIX = "data_tfrecord"  # TFX's name: <split uri>/data_tfrecord-00000-of-00001.gz
IGNORED = "ignored"
ROUTES = "routes"
# What each (kind, key, count) tuple of the audit counts.
COUNT_EXAMPLES, COUNT_QUARANTINED, COUNT_RESIZED, COUNT_IGNORED = "examples", "quarantined", "resized", "ignored"
# On the Examples artifact, for lineage: {split: content fingerprint}, and TFX's fingerprint of the source files.
FINGERPRINT_PROPERTY, INPUT_FINGERPRINT_PROPERTY = "content_fingerprint", "input_fingerprint"
FINGERPRINTS_FILE = "fingerprints.json"   # beside the quarantine report
FINGERPRINT_MODULUS = 2 ** 256


class IngestionError(RuntimeError):
    """The dataset is not usable enough to train on; names the counts and the report."""


def pack_custom_config(custom_config: Dict[str, Any]) -> example_gen_pb2.CustomConfig:
    """FileBasedExampleGen takes custom_config as a proto: ours travels inside it as JSON
    (a Struct of the values would turn ints into floats)."""
    struct = struct_pb2.Struct()
    struct.update({CUSTOM_CONFIG_JSON: json.dumps(custom_config, sort_keys=True)})
    config = example_gen_pb2.CustomConfig()
    config.custom_config.Pack(struct)
    return config


def settings_from_exec_properties(exec_properties: Dict[str, Any]) -> DataSettings:
    """Unpacks and re-validates the data section of the custom_config that the component packed."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        raise ValueError("paired-image ExampleGen needs custom_config with the config's data section")
    config = example_gen_pb2.CustomConfig()
    json_format.Parse(raw, config) if isinstance(raw, str) else config.CopyFrom(raw)
    struct = struct_pb2.Struct()
    config.custom_config.Unpack(struct)
    return typed_settings.unpack(json.loads(struct[CUSTOM_CONFIG_JSON]), SECTION, DataSettings)


class _RouteFile(beam.DoFn):
    """Listed file -> Route, Rejection (wrong place or type) or ignored path."""

    def __init__(self, router: layout.FileRouter):
        self._router = router

    def process(self, metadata):
        routed = self._router.route(metadata.path)
        if isinstance(routed, layout.Route):
            yield dataclasses.replace(routed, size=metadata.size_in_bytes)
        elif isinstance(routed, quarantine.Rejection):
            yield beam.pvalue.TaggedOutput(ingest.REJECTED, routed)
        else:
            log.debug("ExampleGen ignores %s: outside the layout and not a data file", metadata.path)
            yield beam.pvalue.TaggedOutput(IGNORED, metadata.path)


def _count_and_log(rejection: quarantine.Rejection) -> quarantine.Rejection:
    beam.metrics.Metrics.counter(METRICS_NAMESPACE, rejection.reason).inc()
    log.debug("ExampleGen quarantined %s: %s (%s)", rejection.path, rejection.reason, rejection.detail)
    return rejection


class _AuditFn(beam.CombineFn):
    """(kind, key, count) tuples -> one IngestionAudit."""

    def __init__(self, template: quarantine.IngestionAudit, items_per_example: int):
        self._template = template
        self._items_per_example = items_per_example

    def create_accumulator(self):
        return {}

    def add_input(self, accumulator, element):
        kind, key, count = element
        accumulator[(kind, key)] = accumulator.get((kind, key), 0) + count
        return accumulator

    def merge_accumulators(self, accumulators):
        merged: Dict = {}
        for accumulator in accumulators:
            for key, count in accumulator.items():
                merged[key] = merged.get(key, 0) + count
        return merged

    def extract_output(self, accumulator):
        audit = quarantine.IngestionAudit.from_json(self._template.to_json())
        for (kind, key), count in accumulator.items():
            if kind == COUNT_EXAMPLES:
                audit.examples[key] = count
            elif kind == COUNT_QUARANTINED:
                audit.quarantined[key] = count
            elif kind == COUNT_RESIZED:
                audit.resized_pairs += count
            elif kind == COUNT_IGNORED:
                audit.ignored_files += count
        audit.valid_items = audit.pairs * self._items_per_example
        return audit


def _write_report(report_dir: str, audit_template: quarantine.IngestionAudit, items_per_example: int,
                  example_splits: Dict[str, beam.PCollection], rejected, resized, ignored) -> None:
    """quarantine.csv (one row per rejected file/record) and summary.json (the counts)."""
    counts = [pcoll
              | f"CountExamples[{name}]" >> beam.combiners.Count.Globally()
              | f"TagCount[{name}]" >> beam.Map(lambda n, split=name: (COUNT_EXAMPLES, split, n))
              for name, pcoll in example_splits.items()]
    counts.append(rejected | "TagRejected" >> beam.Map(lambda r: (COUNT_QUARANTINED, r.reason, 1)))
    counts.append(resized | "TagResized" >> beam.Map(lambda split: (COUNT_RESIZED, split, 1)))
    counts.append(ignored | "TagIgnored" >> beam.Map(lambda path: (COUNT_IGNORED, "", 1)))
    _ = (counts
         | "FlattenCounts" >> beam.Flatten()
         | "Audit" >> beam.CombineGlobally(_AuditFn(audit_template, items_per_example))
         | "AuditJson" >> beam.Map(lambda audit: audit.to_json())
         | "WriteSummary" >> beam.io.WriteToText(FileSystems.join(report_dir, quarantine.SUMMARY_FILE),
                                                 num_shards=1, shard_name_template=""))
    _ = (rejected
         | "ReportRows" >> beam.Map(lambda r: r.csv_row())
         | "WriteReport" >> beam.io.WriteToText(FileSystems.join(report_dir, quarantine.REPORT_FILE),
                                                header=quarantine.csv_header(), num_shards=1,
                                                shard_name_template=""))


def read_audit(report_dir: str) -> quarantine.IngestionAudit:
    with FileSystems.open(FileSystems.join(report_dir, quarantine.SUMMARY_FILE)) as handle:
        return quarantine.IngestionAudit.from_json(handle.read().decode("utf-8"))


def _keep_report_of_failed_run(report_dir: str, examples_uri: str) -> str:
    """TFX deletes a failed component's outputs: keep the report beside them, return its path."""
    output_dir, execution = FileSystems.split(examples_uri.rstrip("/"))
    component_dir, _ = FileSystems.split(output_dir)
    kept_dir = FileSystems.join(component_dir, FAILED_RUNS_FOLDER, execution)
    try:
        FileSystems.mkdirs(kept_dir)
    except (BeamIOError, OSError):
        pass  # exists already, or an object store without folders
    names = (quarantine.REPORT_FILE, quarantine.SUMMARY_FILE)
    FileSystems.copy([FileSystems.join(report_dir, name) for name in names],
                     [FileSystems.join(kept_dir, name) for name in names])
    return FileSystems.join(kept_dir, quarantine.REPORT_FILE)


def example_digest(example) -> int:
    """One Example's SHA-256 (of its deterministic serialization) as an integer, for :class:`_FingerprintFn`."""
    return int.from_bytes(hashlib.sha256(example.SerializeToString(deterministic=True)).digest(), "big")


class _FingerprintFn(beam.CombineFn):
    """Examples' digests -> "sha256-sum:<count>:<hex>": the same set of examples gives the same fingerprint,
    whatever order the workers wrote them in (a sum modulo 2^256 of each example's SHA-256)."""

    def create_accumulator(self):
        return 0, 0

    def add_input(self, accumulator, digest):
        return accumulator[0] + 1, (accumulator[1] + digest) % FINGERPRINT_MODULUS

    def merge_accumulators(self, accumulators):
        count, total = 0, 0
        for part_count, part_total in accumulators:
            count, total = count + part_count, (total + part_total) % FINGERPRINT_MODULUS
        return count, total

    def extract_output(self, accumulator):
        return f"sha256-sum:{accumulator[0]}:{accumulator[1]:064x}"


def _write_fingerprints(report_dir: str, example_splits: Dict[str, beam.PCollection]) -> None:
    fingerprints = [split
                    | f"Digest[{name}]" >> beam.Map(example_digest)
                    | f"Fingerprint[{name}]" >> beam.CombineGlobally(_FingerprintFn())
                    | f"TagFingerprint[{name}]" >> beam.Map(lambda value, split=name: (split, value))
                    for name, split in example_splits.items()]
    _ = (fingerprints
         | "FlattenFingerprints" >> beam.Flatten()
         | "OneFingerprintList" >> beam.combiners.ToList()
         | "FingerprintJson" >> beam.Map(lambda pairs: json.dumps(dict(sorted(pairs)), sort_keys=True))
         | "WriteFingerprints" >> beam.io.WriteToText(FileSystems.join(report_dir, FINGERPRINTS_FILE),
                                                      num_shards=1, shard_name_template=""))


def read_fingerprints(report_dir: str) -> Dict[str, str]:
    with FileSystems.open(FileSystems.join(report_dir, FINGERPRINTS_FILE)) as handle:
        return json.loads(handle.read().decode("utf-8"))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
    """ExampleGen for paired images (two_folder, aligned) and Example TFRecords, with a quarantine."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        raise NotImplementedError("this executor overrides GenerateExamplesByBeam: ingestion reads the "
                                  "whole dataset at once, so that every file is accounted for")

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline,
                               exec_properties: Dict[str, Any]) -> Dict[str, beam.PCollection]:
        settings = settings_from_exec_properties(exec_properties)
        input_config, output_config = _split_configs(exec_properties)
        root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        router = _router(root, settings, input_config)
        log.info("reading %s (%s layout; splits: %s)", root, settings.layout,
                 ", ".join(f"{s.name} <- {s.pattern}" for s in input_config.splits))

        listed = pipeline | "ListDataset" >> listing.ListDataset(root)
        routed = (listed[listing.FILES]
                  | "Route" >> beam.ParDo(_RouteFile(router)).with_outputs(ingest.REJECTED, IGNORED, main=ROUTES))
        unlisted = listed[listing.PROBLEMS] | "SplitOfUnlisted" >> beam.Map(
            lambda rejection: dataclasses.replace(rejection, split=router.split_name_of(rejection.path)))
        ingested = routed[ROUTES] | "Ingest" >> ingest.INGEST_BY_LAYOUT[settings.layout](settings)
        rejected = ((unlisted, routed[ingest.REJECTED], ingested[ingest.REJECTED])
                    | "FlattenRejected" >> beam.Flatten()
                    | "CountAndLog" >> beam.Map(_count_and_log))
        example_splits = _split(ingested[ingest.EXAMPLES], input_config, output_config)

        report_dir = exec_properties.get(REPORT_DIR_PROPERTY)
        if report_dir:
            template = quarantine.IngestionAudit(
                dataset=root, layout=settings.layout, unit=ingest.ITEM_UNIT[settings.layout],
                examples={name: 0 for name in example_splits},
                report=FileSystems.join(report_dir, quarantine.REPORT_FILE))
            _write_report(report_dir, template, ingest.ITEMS_PER_EXAMPLE[settings.layout], example_splits,
                          rejected, ingested[ingest.RESIZED], routed[IGNORED])
            _write_fingerprints(report_dir, example_splits)
        return example_splits

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        """BaseExampleGenExecutor.Do, writing each split as it streams by, then the verdict.

        TFX's own ``WriteSplit`` reshuffles every serialized Example before
        writing; on the DirectRunner that holds the whole encoded dataset in
        memory. Here a split is written straight from the workers that check it
        (shards as bundles come; the Trainer shuffles anyway).
        """
        self._log_startup(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(output_dict[standard_component_specs.EXAMPLES_KEY])
        report_dir = FileSystems.join(examples.uri, quarantine.REPORT_FOLDER)
        input_config, output_config = _split_configs(exec_properties)
        examples.split_names = artifact_utils.encode_split_names(
            example_gen_utils.generate_output_split_names(input_config, output_config))
        with self._make_beam_pipeline() as pipeline:
            splits = self.GenerateExamplesByBeam(pipeline, {**exec_properties, REPORT_DIR_PROPERTY: report_dir})
            for name, split in splits.items():
                _ = (split
                     | f"Serialize[{name}]" >> beam.Map(lambda example: example.SerializeToString())
                     | f"WriteSplit[{name}]" >> beam.io.WriteToTFRecord(
                         FileSystems.join(artifact_utils.get_split_uri([examples], name), EXAMPLES_FILE_PREFIX),
                         file_name_suffix=".gz"))
        examples_utils.set_payload_format(examples, example_gen_pb2.FORMAT_TF_EXAMPLE)
        examples_utils.set_file_format(examples, write_split.to_file_format_str(example_gen_pb2.FORMAT_TFRECORDS_GZIP))

        settings = settings_from_exec_properties(exec_properties)
        audit = read_audit(report_dir)
        examples.set_string_custom_property(quarantine.AUDIT_PROPERTY, audit.to_json())
        examples.set_string_custom_property(FINGERPRINT_PROPERTY, json.dumps(read_fingerprints(report_dir)))
        input_fingerprint = exec_properties.get(example_gen_utils.FINGERPRINT_PROPERTY_NAME)
        if input_fingerprint:
            examples.set_string_custom_property(INPUT_FINGERPRINT_PROPERTY, str(input_fingerprint))
        failure = audit.failure(settings.min_valid_fraction,
                                artifact_utils.decode_split_names(examples.split_names))
        if failure:
            report = _keep_report_of_failed_run(report_dir, examples.uri)
            message = (f"dataset {audit.dataset} ({audit.layout} layout): {failure}. "
                       f"{audit.describe()}. Quarantine report: {report}")
            log.error("%s", message)
            raise IngestionError(message)
        log.info("%s (%s layout): %s; quarantine report: %s",
                 audit.dataset, audit.layout, audit.describe(), audit.report)


def _split_configs(exec_properties: Dict[str, Any]):
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    output_config = example_gen_pb2.Output()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
    return input_config, output_config


def _router(root: str, settings: DataSettings, input_config: example_gen_pb2.Input) -> layout.FileRouter:
    image_extensions = tuple(ext.lower() for ext in settings.image_extensions)
    record_extensions = tuple(ext.lower() for ext in settings.tfrecord_extensions)
    own, other = ((record_extensions, image_extensions) if settings.layout == layout.TFRECORD
                  else (image_extensions, record_extensions))
    return layout.FileRouter(
        root=root, layout=settings.layout,
        split_by_folder={layout.folder_of_pattern(split.pattern): split.name for split in input_config.splits},
        input_subdir=settings.input_subdir, target_subdir=settings.target_subdir,
        data_extensions=own, other_data_extensions=other)


def _split(examples, input_config: example_gen_pb2.Input,
           output_config: example_gen_pb2.Output) -> Dict[str, beam.PCollection]:
    """Output splits: a hash of pair_id (TFX's own partition function), or the split folders."""
    if output_config.split_config.splits:
        names = [split.name for split in output_config.split_config.splits]
        buckets = list(itertools.accumulate(split.hash_buckets for split in output_config.split_config.splits))
        parts = (examples
                 | "DropInputSplit" >> beam.Values()
                 | "SplitByPairIdHash" >> beam.Partition(
                     base_example_gen_executor._PartitionFn,  # pylint: disable=protected-access
                     len(buckets), buckets, output_config.split_config))
        return dict(zip(names, parts))
    names = [split.name for split in input_config.splits]
    parts = examples | "SplitByFolder" >> beam.Partition(lambda kv, n: names.index(kv[0]), len(names))
    return {name: part | f"Values[{name}]" >> beam.Values() for name, part in zip(names, parts)}
