"""The pipeline definition wires the components as documented (no run needed)."""
import os

from pipeline.config import load_config
from pipeline.pipeline_def import create_pipeline
from tests.support import paths

ROOT = paths.ROOT
CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
RESOLVED = ["data.split_mode=hash"]  # what the local runner hands over once it has looked at the dataset


def _ids(pipeline):
    return [component.id for component in pipeline.components]


def test_the_default_pipeline_has_every_stage_in_order():
    pipeline = create_pipeline(load_config(CONFIG, RESOLVED))
    assert sorted(_ids(pipeline)) == sorted([
        "FileBasedExampleGen", "StatisticsGen", "CuratedSchemaImporter", "ExampleValidator", "Transform", "Trainer",
        "latest_blessed_model_resolver", "ImageQualityEvaluator", "Pusher"])
    by_id = {c.id: c for c in pipeline.components}
    assert by_id["Transform"].inputs["schema"].producer_component_id == "CuratedSchemaImporter"
    assert by_id["Trainer"].inputs["schema"].producer_component_id == "CuratedSchemaImporter"
    assert by_id["Trainer"].inputs["transform_graph"].producer_component_id == "Transform"
    assert by_id["ImageQualityEvaluator"].inputs["model"].producer_component_id == "Trainer"
    pusher = pipeline.components[-1]
    assert set(pusher.inputs) >= {"model", "model_blessing"}
    assert pusher.inputs["model_blessing"].producer_component_id == "ImageQualityEvaluator"
    evaluator = pipeline.components[-2]
    assert evaluator.inputs["baseline_model"].producer_component_id == "latest_blessed_model_resolver"


def test_validation_of_the_data_comes_before_transform_and_training():
    by_id = {c.id: c for c in create_pipeline(load_config(CONFIG, RESOLVED)).components}
    validator = by_id["ExampleValidator"]
    assert validator.inputs["statistics"].producer_component_id == "StatisticsGen"
    assert validator.inputs["schema"].producer_component_id == "CuratedSchemaImporter"
    assert validator.inputs["baseline_blessing"].producer_component_id == "latest_blessed_model_resolver"
    assert validator in by_id["Transform"].upstream_nodes          # a stopped validation trains nothing
    evaluator = by_id["ImageQualityEvaluator"]
    assert evaluator.inputs["statistics"].producer_component_id == "StatisticsGen"   # the next drift baseline
    assert evaluator.inputs["anomalies"].producer_component_id == "ExampleValidator"


def test_the_pusher_gets_every_artifact_its_lineage_record_names():
    pusher = {c.id: c for c in create_pipeline(load_config(CONFIG, RESOLVED)).components}["Pusher"]
    producers = {role: channel.producer_component_id for role, channel in pusher.inputs.items()}
    assert producers == {"model": "Trainer", "model_blessing": "ImageQualityEvaluator",
                         "examples": "FileBasedExampleGen", "statistics": "StatisticsGen",
                         "schema": "CuratedSchemaImporter", "anomalies": "ExampleValidator",
                         "transform_graph": "Transform", "model_run": "Trainer",
                         "model_evaluation": "ImageQualityEvaluator"}
    import json
    lineage = json.loads(pusher.exec_properties["custom_config"])["lineage"]
    assert lineage["config"]["trainer"]["epochs"] == load_config(CONFIG).trainer.epochs
    assert os.path.isdir(os.path.join(lineage["project_dir"], "components"))


def test_the_curated_schema_travels_as_text_so_an_edit_is_a_new_execution(tmp_path):
    edited = tmp_path / "schema.pbtxt"
    original = open(os.path.join(ROOT, "data", "schema", "schema.pbtxt")).read()
    edited.write_text(original.replace("min: 32", "min: 40"))
    texts = [{c.id: c for c in create_pipeline(load_config(CONFIG, [*RESOLVED, f"data_validation.schema_file={path}"])
                                          ).components}["CuratedSchemaImporter"].exec_properties["schema_text"]
             for path in (os.path.join(ROOT, "data", "schema", "schema.pbtxt"), str(edited))]
    assert "min: 32" in texts[0] and "min: 40" in texts[1]


def test_statistics_gen_reads_the_curated_schema():
    components = {c.id: c for c in create_pipeline(load_config(CONFIG, RESOLVED)).components}
    schema = components["StatisticsGen"].inputs["schema"]
    assert schema.producer_component_id == "CuratedSchemaImporter"


def test_a_broken_schema_file_is_a_config_error_naming_it(tmp_path):
    import pytest
    from pipeline.config import ConfigError

    broken = tmp_path / "schema.pbtxt"
    broken.write_text("feature {")
    with pytest.raises(ConfigError, match=str(broken)):
        create_pipeline(load_config(CONFIG, [*RESOLVED, f"data_validation.schema_file={broken}"]))


def test_bulk_inference_is_off_by_default_and_follows_the_push_when_set():
    assert "BatchTranslator" not in _ids(create_pipeline(load_config(CONFIG, RESOLVED)))
    by_id = {c.id: c for c in create_pipeline(load_config(CONFIG, [*RESOLVED, "bulk_inference.split=test"])).components}
    translator = by_id["BatchTranslator"]
    assert translator.inputs["pushed_model"].producer_component_id == "Pusher"
    assert translator.inputs["model"].producer_component_id == "Trainer"
    assert '"split": "test"' in translator.exec_properties["custom_config"]


def test_infra_validation_puts_tf_serving_before_the_pusher():
    config = load_config(CONFIG, ["pusher.infra_validation=true", *RESOLVED])
    pipeline = create_pipeline(config)
    assert "InfraValidator" in _ids(pipeline)
    validator = next(c for c in pipeline.components if c.id == "InfraValidator")
    assert "tensorflow_serving" in validator.exec_properties["serving_spec"]
    assert config.pusher.serving_image_tag in validator.exec_properties["serving_spec"]
    pusher = next(c for c in pipeline.components if c.id == "Pusher")
    assert pusher.inputs["infra_blessing"].producer_component_id == "InfraValidator"


def test_settings_reach_the_components_from_the_config():
    config = load_config(CONFIG, ["pusher.keep_versions=2", "trainer.epochs=3", *RESOLVED])
    pipeline = create_pipeline(config)
    by_id = {c.id: c for c in pipeline.components}
    assert '"keep_versions": 2' in by_id["Pusher"].exec_properties["custom_config"]
    assert '"epochs": 3' in by_id["Trainer"].exec_properties["custom_config"]
    assert pipeline.beam_pipeline_args == config.beam.pipeline_args()


def test_every_component_gets_its_sections_one_way_as_custom_config():
    """{section: plain data} in custom_config, each rebuilt by the section's own type, paths absolute."""
    import json

    from components.evaluator.settings import EvaluatorSettings
    from components.example_gen import executor as example_gen_executor
    from components.pusher.settings import PusherSettings
    from components.trainer.settings import ServingSettings, TrainerSettings
    from components.transform.settings import TransformSettings
    from components.typed_settings import unpack

    config = load_config(CONFIG, RESOLVED)
    by_id = {c.id: c for c in create_pipeline(config).components}

    def custom_config(component_id):
        value = by_id[component_id].exec_properties["custom_config"]
        return json.loads(value) if isinstance(value, str) else value

    data = example_gen_executor.settings_from_exec_properties(by_id["FileBasedExampleGen"].exec_properties)
    assert data.dataset_dir == config.resolve(config.data.dataset_dir) and os.path.isabs(data.dataset_dir)
    assert unpack(custom_config("Transform"), "transform", TransformSettings) == config.transform
    trainer = custom_config("Trainer")
    assert unpack(trainer, "trainer", TrainerSettings) == config.trainer
    assert unpack(trainer, "transform", TransformSettings) == config.transform
    assert unpack(trainer, "serving", ServingSettings) == config.serving
    assert trainer["checkpoint_root"] == config.resolve(config.pipeline.root) + "/Trainer/checkpoints"
    assert unpack(custom_config("ImageQualityEvaluator"), "evaluator", EvaluatorSettings) == config.evaluator
    from components.example_validator.settings import DataValidationSettings
    validation = unpack(custom_config("ExampleValidator"), "data_validation", DataValidationSettings)
    assert validation == config.with_resolved_paths().data_validation
    pusher = unpack(custom_config("Pusher"), "pusher", PusherSettings)
    assert pusher.serving_dir == config.resolve(config.pusher.serving_dir)
    assert pusher.model_config_file == config.resolve(config.pusher.model_config_file)


def test_the_definition_names_module_code_by_dotted_path_and_reads_no_file():
    """It imports component classes only: run_fn and the executors are named, not imported, by pipeline_def."""
    import ast

    source = open(os.path.join(ROOT, "pipeline", "pipeline_def.py"), encoding="utf-8").read()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    assert not any(name.endswith(("run_fn", "executor", "preprocessing")) for name in imported), imported
    assert "open(" not in source and "listdir" not in source and "find_split_folders" not in source
