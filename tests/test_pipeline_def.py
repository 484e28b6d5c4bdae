"""The pipeline definition wires the components as documented (no run needed)."""
import os

from pipeline.config import load_config
from pipeline.pipeline_def import create_pipeline

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "pipeline_config.yaml")


def _ids(pipeline):
    return [component.id for component in pipeline.components]


def test_the_default_pipeline_has_every_stage_in_order():
    pipeline = create_pipeline(load_config(CONFIG))
    assert sorted(_ids(pipeline)) == sorted([
        "FileBasedExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer",
        "latest_blessed_model_resolver", "ImageQualityEvaluator", "Pusher"])
    by_id = {c.id: c for c in pipeline.components}
    assert by_id["Transform"].inputs["schema"].producer_component_id == "SchemaGen"
    assert by_id["Trainer"].inputs["transform_graph"].producer_component_id == "Transform"
    assert by_id["ImageQualityEvaluator"].inputs["model"].producer_component_id == "Trainer"
    pusher = pipeline.components[-1]
    assert set(pusher.inputs) >= {"model", "model_blessing"}
    assert pusher.inputs["model_blessing"].producer_component_id == "ImageQualityEvaluator"
    evaluator = pipeline.components[-2]
    assert evaluator.inputs["baseline_model"].producer_component_id == "latest_blessed_model_resolver"


def test_infra_validation_puts_tf_serving_before_the_pusher():
    config = load_config(CONFIG, ["pusher.infra_validation=true"])
    pipeline = create_pipeline(config)
    assert "InfraValidator" in _ids(pipeline)
    validator = next(c for c in pipeline.components if c.id == "InfraValidator")
    assert "tensorflow_serving" in validator.exec_properties["serving_spec"]
    assert config.pusher.serving_image_tag in validator.exec_properties["serving_spec"]
    pusher = next(c for c in pipeline.components if c.id == "Pusher")
    assert pusher.inputs["infra_blessing"].producer_component_id == "InfraValidator"


def test_settings_reach_the_components_from_the_config():
    config = load_config(CONFIG, ["pusher.keep_versions=2", "trainer.epochs=3"])
    pipeline = create_pipeline(config)
    by_id = {c.id: c for c in pipeline.components}
    assert '"keep_versions": 2' in by_id["Pusher"].exec_properties["custom_config"]
    assert '"epochs": 3' in by_id["Trainer"].exec_properties["custom_config"]
    assert pipeline.beam_pipeline_args == config.beam.pipeline_args()
