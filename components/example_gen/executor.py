"""Beam executor of the paired-image ExampleGen.

TFX's FileBasedExampleGen drives it: its driver fingerprints the input splits'
files (so a changed dataset invalidates the cache), then ``Do`` runs one Beam
pipeline that lists the dataset once (with a span pattern: the newest span's
folder, which the driver resolved, and the train folders of the earlier spans
of ``data.spans.window``, see ``spans.py``), routes every file (``layout.py``), reads
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
from typing import Any, Dict, List, Optional

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

from components.example_gen import ingest, layout, listing, quarantine, spans
from components import typed_settings
from components.example_gen.settings import SECTION, TRAIN_SPLIT, DataSettings

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
SPANS_FILE = "spans.json"
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
        sources = _sources(settings, input_config, exec_properties)
        newest = sources[0]
        log.info("reading %s (%s layout; splits: %s)%s", newest.root, settings.layout,
                 ", ".join(f"{s.name} <- {s.pattern}" for s in input_config.splits),
                 "".join(f"; {spans.EARLIER_TRAIN_SPLIT} <- {source.span.describe()}" for source in sources[1:]))

        routes, rejected, ignored = [], [], []
        for index, source in enumerate(sources):
            label = f"[{source.label}]" if index else ""   # the newest keeps the stage names of a plain run
            listed = pipeline | f"ListDataset{label}" >> listing.ListDataset(source.list_root)
            routed = (listed[listing.FILES]
                      | f"Route{label}" >> beam.ParDo(_RouteFile(source.router)).with_outputs(
                          ingest.REJECTED, IGNORED, main=ROUTES))
            rejected += [listed[listing.PROBLEMS] | f"SplitOfUnlisted{label}" >> beam.Map(
                lambda rejection, router=source.router: dataclasses.replace(
                    rejection, split=router.split_name_of(rejection.path))), routed[ingest.REJECTED]]
            routes.append(routed[ROUTES])
            ignored.append(routed[IGNORED])
        all_routes = routes[0] if len(routes) == 1 else routes | "FlattenRoutes" >> beam.Flatten()
        all_ignored = ignored[0] if len(ignored) == 1 else ignored | "FlattenIgnored" >> beam.Flatten()
        ingested = all_routes | "Ingest" >> ingest.INGEST_BY_LAYOUT[settings.layout](settings)
        rejected = ((*rejected, ingested[ingest.REJECTED])
                    | "FlattenRejected" >> beam.Flatten()
                    | "CountAndLog" >> beam.Map(_count_and_log))
        example_splits = _split(ingested[ingest.EXAMPLES], input_config, output_config,
                                with_earlier=settings.spans.window > 1)

        report_dir = exec_properties.get(REPORT_DIR_PROPERTY)
        if report_dir:
            template = quarantine.IngestionAudit(
                dataset=newest.root, layout=settings.layout, unit=ingest.ITEM_UNIT[settings.layout],
                examples={name: 0 for name in example_splits},
                report=FileSystems.join(report_dir, quarantine.REPORT_FILE))
            _write_report(report_dir, template, ingest.ITEMS_PER_EXAMPLE[settings.layout], example_splits,
                          rejected, ingested[ingest.RESIZED], all_ignored)
            _write_fingerprints(report_dir, example_splits)
            _write_spans(pipeline, report_dir, sources)
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
        settings = settings_from_exec_properties(exec_properties)
        split_names = example_gen_utils.generate_output_split_names(input_config, output_config)
        if settings.spans.window > 1:
            split_names.append(spans.EARLIER_TRAIN_SPLIT)   # empty while there is no earlier span
        examples.split_names = artifact_utils.encode_split_names(split_names)
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

        audit = read_audit(report_dir)
        examples.set_string_custom_property(quarantine.AUDIT_PROPERTY, audit.to_json())
        examples.set_string_custom_property(FINGERPRINT_PROPERTY, json.dumps(read_fingerprints(report_dir)))
        input_fingerprint = exec_properties.get(example_gen_utils.FINGERPRINT_PROPERTY_NAME)
        if input_fingerprint:
            examples.set_string_custom_property(INPUT_FINGERPRINT_PROPERTY, str(input_fingerprint))
        if settings.span_location() is not None:
            read = read_spans(report_dir)
            examples.set_string_custom_property(spans.SPANS_PROPERTY, json.dumps(read))
            # TFX's driver sets the span and version as custom properties; the typed ones too, so that
            # StatisticsGen (statistics.span = examples.span) and span resolvers see them.
            examples.span = read[0]["span"]
            if read[0]["version"] is not None:
                examples.version = read[0]["version"]
        failure = audit.failure(settings.min_valid_fraction,
                                [name for name in split_names if name != spans.EARLIER_TRAIN_SPLIT])
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


@dataclasses.dataclass(frozen=True)
class _Source:
    """One folder the run reads: the dataset (or the newest span), or an earlier span's train pairs."""

    root: str                       # the dataset folder, or the span's folder
    list_root: str                  # what is listed (an earlier span: its train folder only)
    router: layout.FileRouter
    span: Optional[spans.Span]      # None without a span pattern
    label: str                      # Beam stage suffix

    def as_dict(self, role: str) -> Dict[str, Any]:
        return {**self.span.as_dict(), "role": role}


def _sources(settings: DataSettings, input_config: example_gen_pb2.Input,
             exec_properties: Dict[str, Any]) -> List[_Source]:
    """The newest span (or the dataset) first, then the earlier spans of the window, found now."""
    base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    location = settings.span_location()
    if location is None:
        return [_Source(base, base, _router(base, settings, input_config), None, "dataset")]
    # The orchestrator's input_base is the truth at run time (a compiled spec may be pointed elsewhere).
    location = dataclasses.replace(location, base=base)
    root = location.root_of(input_config.splits[0].pattern)   # the driver filled in the span and version
    local = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
        name=split.name, pattern=location.inner_of(split.pattern)) for split in input_config.splits])
    newest = spans.Span(int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0),
                        _optional_int(exec_properties.get(example_gen_utils.VERSION_PROPERTY_NAME)), root)
    sources = [_Source(root, root, _router(root, settings, local), newest, f"span-{newest.number}")]
    train_folder = (settings.split_folders[TRAIN_SPLIT]
                    if settings.split_mode == layout.SPLIT_FOLDERS else "")
    for span in spans.earlier(location, layout.files_pattern(settings.layout, train_folder), newest.number,
                              settings.spans.window - 1):
        split = example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(
            name=spans.earlier_input_split(span), pattern=layout.files_pattern(settings.layout, train_folder))])
        sources.append(_Source(span.root, FileSystems.join(span.root, train_folder) if train_folder else span.root,
                               _router(span.root, settings, split), span, f"span-{span.number}"))
    return sources


def _optional_int(value) -> Optional[int]:
    return None if value is None or value == "" else int(value)


def _write_spans(pipeline, report_dir: str, sources: List[_Source]) -> None:
    """spans.json beside the report: what the Examples' ``spans`` property lists (known before the run)."""
    if sources[0].span is None:
        return
    listed = [source.as_dict("newest" if index == 0 else spans.EARLIER_TRAIN_SPLIT)
              for index, source in enumerate(sources)]
    _ = (pipeline
         | "Spans" >> beam.Create([json.dumps(listed)])
         | "WriteSpans" >> beam.io.WriteToText(FileSystems.join(report_dir, SPANS_FILE),
                                               num_shards=1, shard_name_template=""))


def read_spans(report_dir: str) -> List[Dict[str, Any]]:
    with FileSystems.open(FileSystems.join(report_dir, SPANS_FILE)) as handle:
        return json.loads(handle.read().decode("utf-8"))


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


def _split(examples, input_config: example_gen_pb2.Input, output_config: example_gen_pb2.Output,
           with_earlier: bool = False) -> Dict[str, beam.PCollection]:
    """Output splits: a hash of pair_id (TFX's own partition function), or the split folders; the earlier
    spans' train pairs (input splits ``earlier@<span>``) become ``earlier_train``."""
    if with_earlier:
        newest, earlier = examples | "NewestOrEarlierSpan" >> beam.Partition(
            lambda kv, n: int(spans.is_earlier_input(kv[0])), 2)
    else:
        newest, earlier = examples, None
    if output_config.split_config.splits:
        names = [split.name for split in output_config.split_config.splits]
        parts = dict(zip(names, _hash_partition(newest, output_config, "")))
        if earlier is not None:   # the same hash: an earlier span's pair trains only if it was in its train split
            parts[spans.EARLIER_TRAIN_SPLIT] = _hash_partition(earlier, output_config, "[earlier]")[
                names.index(TRAIN_SPLIT)]
        return parts
    names = [split.name for split in input_config.splits]
    parts = newest | "SplitByFolder" >> beam.Partition(lambda kv, n: names.index(kv[0]), len(names))
    splits = {name: part | f"Values[{name}]" >> beam.Values() for name, part in zip(names, parts)}
    if earlier is not None:
        splits[spans.EARLIER_TRAIN_SPLIT] = earlier | f"Values[{spans.EARLIER_TRAIN_SPLIT}]" >> beam.Values()
    return splits


def _hash_partition(examples, output_config: example_gen_pb2.Output, label: str) -> List[beam.PCollection]:
    buckets = list(itertools.accumulate(split.hash_buckets for split in output_config.split_config.splits))
    return list(examples
                | f"DropInputSplit{label}" >> beam.Values()
                | f"SplitByPairIdHash{label}" >> beam.Partition(
                    base_example_gen_executor._PartitionFn,  # pylint: disable=protected-access
                    len(buckets), buckets, output_config.split_config))
