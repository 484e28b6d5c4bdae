"""``python -m pipeline schema``: drafts the curated schema from a dataset.

Runs ExampleGen, StatisticsGen and TFX's SchemaGen on the config's dataset (in
a throwaway pipeline root and ML Metadata store, so nothing of the real
pipeline's history changes), then applies the project's curation
(``components/example_validator/schema_file.py``) and writes the text file that
``data_validation.schema_file`` names. An existing file is a curated one: it is
replaced only with ``--force``, and then atomically.
"""
from __future__ import annotations

import os
import tempfile

from pipeline.config import Config, ConfigError

SCHEMA_FILE_NAME = "schema.pbtxt"


def draft_schema(config: Config, output: str, force: bool = False) -> str:
    """Writes the curated draft to ``output`` and returns its path."""
    from tfx import v1 as tfx
    from tensorflow_metadata.proto.v0 import statistics_pb2

    from components.example_gen.component import create_paired_image_example_gen
    from components.example_validator import schema_file
    from components.typed_settings import pack
    from pipeline.dataset import ensure_dataset, resolve_split_mode

    output = os.path.abspath(output)
    if os.path.lexists(output) and not force:
        raise ConfigError(f"{output} exists (a curated schema?): pass --force to replace it with a new draft")
    if os.path.isdir(output):
        raise ConfigError(f"{output} is a folder; expected a schema file path")
    ensure_dataset(config)
    config = resolve_split_mode(config).with_resolved_paths()
    with tempfile.TemporaryDirectory(prefix="pix2pix-schema-") as work:
        example_gen = create_paired_image_example_gen(custom_config=pack(data=config.data.example_gen_settings()))
        # The encoded images as image_domain from the start: without it TFDV keeps every distinct image's
        # bytes for its top-k and unique counts, which grows with the dataset (docs/benchmarks.md#scale).
        seed_path = os.path.join(work, "image_features.pbtxt")
        with open(seed_path, "w", encoding="utf-8") as handle:
            handle.write(schema_file.to_text(schema_file.image_features_only()))
        seed = tfx.components.ImportSchemaGen(schema_file=seed_path).with_id("ImageFeaturesSchema")
        statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"],
                                                      schema=seed.outputs["schema"])
        schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"],
                                              infer_feature_shape=True)
        tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
            pipeline_name="pix2pix-schema-draft", pipeline_root=os.path.join(work, "root"),
            components=[example_gen, seed, statistics_gen, schema_gen], enable_cache=False,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                os.path.join(work, "metadata.sqlite")),
            beam_pipeline_args=config.beam.pipeline_args()))
        inferred = schema_file.parse(_read(_only_file(os.path.join(work, "root", "SchemaGen"), SCHEMA_FILE_NAME)),
                                     "SchemaGen's inferred schema")
        statistics = statistics_pb2.DatasetFeatureStatisticsList()
        for path in _all_files(os.path.join(work, "root", "StatisticsGen"), "FeatureStats.pb"):
            with open(path, "rb") as handle:
                part = statistics_pb2.DatasetFeatureStatisticsList.FromString(handle.read())
            statistics.datasets.extend(part.datasets)
    curated = schema_file.curate(inferred, config.data.min_image_side, statistics)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    staging = f"{output}.draft-{os.getpid()}"
    with open(staging, "w", encoding="utf-8") as handle:
        handle.write(schema_file.to_text(curated))
    os.replace(staging, output)
    return output


def _all_files(root: str, name: str):
    return sorted(os.path.join(folder, name) for folder, _, files in os.walk(root) if name in files)


def _only_file(root: str, name: str) -> str:
    found = _all_files(root, name)
    if len(found) != 1:
        raise RuntimeError(f"expected one {name} under {root}, found {found}")
    return found[0]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()
