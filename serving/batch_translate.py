"""Batch inference as a Beam job: a folder (or glob) of images, or the project's TFRecords, to PNGs.

``python -m serving.batch_translate --input DIR_OR_PATTERN --output DIR [--model-dir serving_model/pix2pix]
[--version N] [--format auto|images|tfrecord] [--batch-size 16] [--overwrite-inputs] [Beam pipeline args...]``

* images: every .png/.jpg/.jpeg/.bmp/.gif in DIR (or matching the glob) ->
  ``DIR/<stem>.png``; two sources with one stem keep their extension apart.
* tfrecord: ``tf.Example`` records as ExampleGen writes them (GZIP detected by
  the ``.gz`` suffix): the ``input_image`` feature -> ``DIR/<pair_id>.png``.

It runs Beam's RunInference with a ModelHandler that calls the model's
``serving_default`` signature (see beam_model_handler.py), so outputs are
byte-for-byte what TF Serving returns. A file that is not an image, or that the
model refuses, is listed with the reason in ``DIR/_failures.txt`` and does not
stop the job. An ``--output`` that is, holds or lies in the input's folder is
refused before the job starts, unless ``--overwrite-inputs``. Runs on
DirectRunner by default; other runners take their usual arguments unchanged,
e.g. ``--runner=DataflowRunner --project=... --region=...
--temp_location=gs://...`` with gs:// input, output and model paths; remote
workers need this repository's ``components`` and ``serving`` packages (ship
them with Beam's ``--setup_file``/``--extra_package`` or a worker container).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Iterator, Optional, Sequence, Tuple

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import apache_beam as beam  # noqa: E402
from apache_beam.io import fileio  # noqa: E402
from apache_beam.io.filesystem import CompressionTypes  # noqa: E402
from apache_beam.io.filesystems import FileSystems  # noqa: E402
from apache_beam.metrics import Metrics  # noqa: E402
from apache_beam.metrics.metric import MetricsFilter  # noqa: E402
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from components import features  # noqa: E402
from serving import image_files  # noqa: E402
from serving.beam_model_handler import DEFAULT_MAX_BATCH_SIZE, ServingDefaultModelHandler  # noqa: E402
from serving.local_model import DEFAULT_MODEL_BASE, version_dir  # noqa: E402

FORMAT_AUTO, FORMAT_IMAGES, FORMAT_TFRECORD = "auto", "images", "tfrecord"
FAILURES_FILE = "_failures.txt"   # "<source>\t<reason>" per image that produced no PNG
FAILED = "failed"
METRICS_NAMESPACE = "pix2pix_batch_translate"
TRANSLATED_COUNTER, FAILED_COUNTER = "translated", "failed"
EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE = 0, 1, 2

Key = Tuple[str, str]  # (output file name, source), carried through RunInference


def resolve_input(input_arg: str, input_format: str = FORMAT_AUTO) -> Tuple[str, str]:
    """(format, file pattern): a folder means its images; otherwise the suffix decides unless told."""
    is_folder = input_arg.endswith("/") or os.path.isdir(input_arg)
    pattern = FileSystems.join(input_arg.rstrip("/"), "*") if is_folder else input_arg
    if input_format != FORMAT_AUTO:
        return input_format, pattern
    return (FORMAT_IMAGES if is_folder or image_files.has_image_extension(input_arg) else FORMAT_TFRECORD), pattern


def unique_output_names(stem_and_paths) -> Iterator[Tuple[str, str]]:
    """(stem, [paths]) -> (output name, path) with no two names alike (see image_files.output_names)."""
    _, paths = stem_and_paths
    paths = sorted(paths)
    return zip(image_files.output_names(paths), paths)


class ReadImage(beam.DoFn):
    """(name, path) -> ((name, path), bytes) once the header says it is a supported image."""

    def process(self, name_and_path):
        name, path = name_and_path
        try:
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
                data = image_files.servable(handle.read(), path)
        except (image_files.NotAnImageError, OSError) as error:
            yield beam.pvalue.TaggedOutput(FAILED, (path, str(error)))
            return
        yield (name, path), data


class ExampleToImage(beam.DoFn):
    """Serialized raw tf.Example -> ((pair_id.png, source), input image bytes)."""

    def __init__(self, pattern: str):
        self._pattern = pattern

    def process(self, record: bytes):
        import tensorflow as tf

        try:
            feature_map = tf.train.Example.FromString(record).features.feature
        except Exception as error:  # protobuf's DecodeError: not a tf.Example
            yield beam.pvalue.TaggedOutput(FAILED, (self._pattern, f"a record is not a tf.Example: {error}"))
            return
        pair_id = b"".join(feature_map[features.PAIR_ID_KEY].bytes_list.value[:1]).decode("utf-8", "replace")
        source = f"{self._pattern}#{pair_id or '<no pair_id>'}"
        images = feature_map[features.INPUT_IMAGE_KEY].bytes_list.value
        if not pair_id or len(images) != 1:
            yield beam.pvalue.TaggedOutput(FAILED, (source, f"expected one {features.INPUT_IMAGE_KEY!r} and a "
                                                            f"{features.PAIR_ID_KEY!r}, got {len(images)} image(s)"))
            return
        name = pair_id.replace("/", "_") + image_files.OUTPUT_EXTENSION
        yield (name, source), images[0]


class WritePng(beam.DoFn):
    """((name, source), PredictionResult) -> ``output_dir/name``; a refused image goes to the failures."""

    def __init__(self, output_dir: str):
        self._output_dir = output_dir
        self._translated = Metrics.counter(METRICS_NAMESPACE, TRANSLATED_COUNTER)

    def process(self, keyed_result):
        (name, source), result = keyed_result
        outcome = result.inference
        if not outcome.ok:
            yield beam.pvalue.TaggedOutput(FAILED, (source, f"refused by the model: {outcome.error}"))
            return
        path = FileSystems.join(self._output_dir, name)
        with FileSystems.create(path, mime_type="image/png") as handle:
            handle.write(outcome.png)
        self._translated.inc()
        yield path


def count_failure(source_and_reason) -> str:
    Metrics.counter(METRICS_NAMESPACE, FAILED_COUNTER).inc()
    source, reason = source_and_reason
    return f"{source}\t{reason}"


def build_pipeline(pipeline: beam.Pipeline, input_pattern: str, input_format: str, output_dir: str,
                   model_dir: str, max_batch_size: int = DEFAULT_MAX_BATCH_SIZE):
    """Adds the job to ``pipeline``; returns the PCollection of written PNG paths."""
    if input_format == FORMAT_IMAGES:
        read = (pipeline
                | "MatchImages" >> fileio.MatchFiles(input_pattern)
                | "Paths" >> beam.Map(lambda metadata: metadata.path)
                | "OnlyImageExtensions" >> beam.Filter(image_files.has_image_extension)
                | "KeyByOutputName" >> beam.Map(lambda path: (image_files.output_name(path), path))
                | "GroupSameNames" >> beam.GroupByKey()
                | "UniqueOutputNames" >> beam.FlatMap(unique_output_names)
                | "Redistribute" >> beam.Reshuffle()
                | "ReadImages" >> beam.ParDo(ReadImage()).with_outputs(FAILED, main="images"))
    elif input_format == FORMAT_TFRECORD:
        read = (pipeline
                | "ReadTFRecords" >> beam.io.ReadFromTFRecord(input_pattern, compression_type=CompressionTypes.AUTO)
                | "InputImages" >> beam.ParDo(ExampleToImage(input_pattern)).with_outputs(FAILED, main="images"))
    else:
        raise ValueError(f"input format: got {input_format!r}; expected {FORMAT_IMAGES!r} or {FORMAT_TFRECORD!r}")

    handler = KeyedModelHandler(ServingDefaultModelHandler(model_dir, max_batch_size=max_batch_size))
    written = (read.images
               | "Translate" >> RunInference(handler)
               | "WritePngs" >> beam.ParDo(WritePng(output_dir)).with_outputs(FAILED, main="written"))
    _ = ((read[FAILED], written[FAILED])
         | "AllFailures" >> beam.Flatten()
         | "FailureLines" >> beam.Map(count_failure)
         | "WriteFailures" >> beam.io.WriteToText(FileSystems.join(output_dir, FAILURES_FILE),
                                                  shard_name_template="", num_shards=1))
    return written.written


def _counter(result, name: str) -> int:
    counters = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE).with_name(name))["counters"]
    return sum((counter.committed or 0) for counter in counters)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.batch_translate", description=__doc__.splitlines()[0],
                                     epilog="Other arguments go to Beam (e.g. --runner, --direct_num_workers).")
    parser.add_argument("--input", required=True, help="folder or glob of images, or a TFRecord file pattern")
    parser.add_argument("--output", required=True, help="folder for the PNGs and " + FAILURES_FILE)
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_BASE,
                        help="pushed model base, or one version's folder (default: %(default)s)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    parser.add_argument("--format", choices=(FORMAT_AUTO, FORMAT_IMAGES, FORMAT_TFRECORD), default=FORMAT_AUTO,
                        help="auto: a folder or an image suffix means images, anything else TFRecords")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_MAX_BATCH_SIZE,
                        help="largest batch per model call (default: %(default)s)")
    parser.add_argument(image_files.OVERWRITE_INPUTS_FLAG, action="store_true",
                        help="allow --output to be, hold or lie in the input's folder; its files may be replaced")
    args, beam_args = parser.parse_known_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    input_format, pattern = resolve_input(args.input, args.format)
    try:
        if not args.overwrite_inputs:
            image_files.check_output_apart(args.output, [image_files.pattern_folder(pattern)])
        model_dir = version_dir(args.model_dir, args.version)
    except (FileNotFoundError, image_files.OutputOverlapsInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    nothing = f"error: nothing to translate: no {input_format} input matches {pattern}"
    try:
        pipeline = beam.Pipeline(options=PipelineOptions(beam_args))
        build_pipeline(pipeline, pattern, input_format, args.output, model_dir, args.batch_size)
        result = pipeline.run()
        result.wait_until_finish()
    except Exception as error:  # ReadFromTFRecord checks its pattern when the pipeline is built
        if "No files found" in str(error):
            print(nothing, file=sys.stderr)
            return EXIT_UNUSABLE
        raise
    translated, failed = _counter(result, TRANSLATED_COUNTER), _counter(result, FAILED_COUNTER)
    if translated + failed == 0:
        print(nothing + f" (image extensions: {', '.join(image_files.IMAGE_EXTENSIONS)})"
              if input_format == FORMAT_IMAGES else nothing, file=sys.stderr)
        return EXIT_UNUSABLE
    failures = FileSystems.join(args.output, FAILURES_FILE)
    print(f"translated {translated} image(s) with {model_dir} into {args.output}"
          + (f"; {failed} failed, listed in {failures}" if failed else ""))
    return EXIT_SOME_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    logging.getLogger().setLevel(logging.WARNING)
    sys.exit(main())
