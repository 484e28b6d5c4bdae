"""The pix2pix TFX pipeline: components and their wiring, nothing else.

Runners (local, Kubeflow/Vertex) build it from the same config, so every
environment runs the same graph. Every component gets its settings the same
way, as TFX's own Trainer does: ``custom_config``, a mapping of config section
-> plain data (``typed_settings.pack``) that its module code rebuilds into the
section's type. Module code is named by dotted path. The one file read here is
the curated schema, whose text the pipeline (and a compiled spec) carries; the
runner resolves ``data.split_mode: auto`` before calling this.
"""
from __future__ import annotations

import os
from typing import List, Optional

from tfx import v1 as tfx
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy
from tfx.types import standard_artifacts

from components import features
from components.bulk_inference.component import BatchTranslator
from components.evaluator.component import ImageQualityEvaluator
from components.example_gen import spans
from components.example_gen.component import create_paired_image_example_gen
from components.example_validator import schema_file
from components.example_validator.component import GatingExampleValidator
from components.example_validator.schema_importer import CuratedSchemaImporter
from components.pusher import lineage_record
from components.pusher.component import AtomicPusher
from components.trainer.settings import CHECKPOINT_ROOT, GATE_SPLIT
from components.typed_settings import pack
from pipeline.config import Config

PREPROCESSING_FN = "components.transform.preprocessing.preprocessing_fn"
RUN_FN = "components.trainer.run_fn.run_fn"
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # for the code version (git)


def create_pipeline(config: Config, metadata_connection_config=None,
                    beam_pipeline_args: Optional[List[str]] = None) -> tfx.dsl.Pipeline:
    """Paired images -> Examples -> stats -> validation (curated schema, drift) -> Transform -> GAN -> gate -> push."""
    config = config.with_resolved_paths()  # components run elsewhere: every path absolute or a URI
    # Splits: train/ val/ test/ folders (val/ -> "eval"), or a hash of the pair id. The Trainer trains on
    # "train" and selects its best epoch on "eval"; the Evaluator gates on "test" (else "eval", see gate_split).
    example_gen = create_paired_image_example_gen(custom_config=pack(data=config.data.example_gen_settings()))

    # The curated schema in the repository, not one inferred from whatever data arrived.
    schema_importer = CuratedSchemaImporter(
        schema_text=schema_file.to_text(schema_file.read(config.data_validation.schema_file))
    ).with_id("CuratedSchemaImporter")

    # With a span window, the earlier spans' train pairs are trained on but not described again here: the
    # statistics (and the drift check) are the newest span's. The schema marks the encoded images as images, so
    # TFDV does not count their unique values (which would hold every image in memory).
    window = config.data.spans.window > 1
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"], schema=schema_importer.outputs["schema"],
        exclude_splits=[spans.EARLIER_TRAIN_SPLIT] if window else None)

    latest_blessed_model = tfx.dsl.Resolver(
        strategy_class=LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")

    # Anomalies against the schema, or drift from the last blessed model's data, stop the run here.
    example_validator = GatingExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_importer.outputs["schema"],
        baseline_blessing=latest_blessed_model.outputs["model_blessing"],
        custom_config=pack(data_validation=config.data_validation)).with_id("ExampleValidator")

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_importer.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        custom_config=pack(transform=config.transform),
        materialize=False,          # decoded float images are ~100x the encoded bytes
        disable_statistics=True)    # per-pixel statistics of images say little
    transform.add_upstream_node(example_validator)   # nothing is transformed or trained before validation passed

    trainer = tfx.components.Trainer(
        run_fn=RUN_FN,
        examples=example_gen.outputs["examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_importer.outputs["schema"],
        base_model=latest_blessed_model.outputs["model"] if config.trainer.warm_start else None,
        train_args=tfx.proto.TrainArgs(splits=["train", *([spans.EARLIER_TRAIN_SPLIT] if window else [])]),
        eval_args=tfx.proto.EvalArgs(splits=["eval"]),
        custom_config=trainer_custom_config(config))

    evaluator = ImageQualityEvaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        model_run=trainer.outputs["model_run"],
        baseline_model=latest_blessed_model.outputs["model"],
        statistics=statistics_gen.outputs["statistics"],       # named on the blessing: the next drift baseline
        anomalies=example_validator.outputs["anomalies"],      # the report shows the data's validation
        custom_config=pack(evaluator=config.evaluator))

    infra_validator = None
    if config.pusher.infra_validation:
        # Loads the candidate in the official tensorflow/serving image and sends it
        # real requests before anything is pushed (needs a Docker engine).
        infra_validator = tfx.components.InfraValidator(
            model=trainer.outputs["model"],
            examples=example_gen.outputs["examples"],
            serving_spec=tfx.proto.ServingSpec(
                tensorflow_serving=tfx.proto.TensorFlowServing(tags=[config.pusher.serving_image_tag]),
                local_docker=tfx.proto.LocalDockerConfig()),
            request_spec=tfx.proto.RequestSpec(
                tensorflow_serving=tfx.proto.TensorFlowServingRequestSpec(
                    signature_names=[features.SERVING_EXAMPLES]),
                split_name="eval", num_examples=4))

    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"] if infra_validator else None,
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=serving_base_directory(config))),
        custom_config=pack(pusher=config.pusher, **{lineage_record.LINEAGE_KEY: lineage_settings(config, metadata_connection_config)}),
        lineage={lineage_record.EXAMPLES: example_gen.outputs["examples"],
                 lineage_record.STATISTICS: statistics_gen.outputs["statistics"],
                 lineage_record.SCHEMA: schema_importer.outputs["schema"],
                 lineage_record.ANOMALIES: example_validator.outputs["anomalies"],
                 lineage_record.TRANSFORM_GRAPH: transform.outputs["transform_graph"],
                 lineage_record.MODEL_RUN: trainer.outputs["model_run"],
                 lineage_record.MODEL_EVALUATION: evaluator.outputs["evaluation"]}).with_id("Pusher")

    batch_translator = None
    if config.bulk_inference.split:
        batch_translator = BatchTranslator(
            examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
            pushed_model=pusher.outputs["pushed_model"],
            custom_config=pack(bulk_inference=config.bulk_inference)).with_id("BatchTranslator")

    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=config.pipeline.root,
        components=[example_gen, statistics_gen, schema_importer, latest_blessed_model, example_validator,
                    transform, trainer,
                    evaluator, *([infra_validator] if infra_validator else []), pusher,
                    *([batch_translator] if batch_translator else [])],
        enable_cache=config.pipeline.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args if beam_pipeline_args is not None else config.beam.pipeline_args())


def trainer_custom_config(config: Config) -> dict:
    """What the Trainer's ``run_fn`` reads from ``fn_args.custom_config``: its settings and where it checkpoints."""
    return pack(trainer=config.trainer, transform=config.transform, serving=config.serving,
                **{CHECKPOINT_ROOT: f"{config.pipeline.root}/Trainer/checkpoints",
                   GATE_SPLIT: config.data.gate_split()})


def lineage_settings(config: Config, metadata_connection_config=None) -> dict:
    """What the Pusher writes into each version's lineage record besides its input artifacts."""
    sqlite = getattr(metadata_connection_config, "sqlite", None)
    return {"config": config.as_dict(), "pipeline": {"name": config.pipeline.name, "root": config.pipeline.root},
            "metadata_path": sqlite.filename_uri if sqlite is not None and sqlite.filename_uri else None,
            "project_dir": PROJECT_DIR}


def serving_base_directory(config: Config) -> str:
    """TF Serving's layout: ``<serving_dir>/<model_name>/<version>/``."""
    return f"{config.resolve(config.pusher.serving_dir)}/{config.pusher.model_name}"
