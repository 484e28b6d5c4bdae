"""Fault injection for the Evaluator: it fails closed, so no model is blessed on less than the config asks for.

Each test builds its hostile situation itself: an eval split with zero records, a
last blessed model whose folder or saved_model.pb is gone (or damaged) after it was
blessed, a gate on FID that can never be computed. The models are the tiny real
exports of ``tests.serving_doubles`` (16x16 U-Net); FID runs with an untrained
InceptionV3 saved locally, as in ``tests/evaluator/test_fid.py``.
"""
import dataclasses
import json
import os
import shutil

import pytest
import tensorflow as tf

from components import features
from components.evaluator import evaluation, executor, fid, metrics
from components.evaluator.settings import EvaluatorSettings
from components.typed_settings import build, pack
from pipeline.config import ConfigError, load_config
from tests.support import images
from tests.support.serving_doubles import exported_model
from tests.support import paths

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

CONFIG_FILE = paths.DEFAULT_CONFIG
NUM_EVAL = 4
# Lenient absolute gates (an untrained tiny model passes them), so only the check under test can refuse.
LENIENT = ["evaluator.batch_size=4", "evaluator.sample_images=2", "evaluator.worst_images=1",
           "evaluator.thresholds={l1: {statistic: mean, max: 255}}"]


def settings_with(*overrides) -> EvaluatorSettings:
    return load_config(CONFIG_FILE, LENIENT + list(overrides)).evaluator


def write_split(folder, num_examples: int) -> str:
    """A GZIP TFRecord eval split as the ExampleGen writes it; returns its file pattern."""
    os.makedirs(folder, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "data_tfrecord-00000-of-00001.gz"),
                              tf.io.TFRecordOptions(compression_type="GZIP")) as writer:
        for i in range(num_examples):
            feature = {features.INPUT_IMAGE_KEY: images.png(16, 16, seed=2 * i),
                       features.TARGET_IMAGE_KEY: images.png(16, 16, seed=2 * i + 1),
                       features.PAIR_ID_KEY: f"pair{i}".encode()}
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
                for key, value in feature.items()})).SerializeToString())
    return os.path.join(folder, "*")


def model_artifact_dir(root, name: str, export_dir: str) -> str:
    """``<root>/<name>/Format-Serving``, the Trainer's Model artifact layout; returns the artifact URI."""
    uri = os.path.join(str(root), name)
    shutil.copytree(export_dir, os.path.join(uri, "Format-Serving"))
    return uri


@pytest.fixture(scope="module")
def candidate_export(transform_output_dir, tmp_path_factory):
    return exported_model(transform_output_dir, tmp_path_factory)[0]


@pytest.fixture(scope="module")
def eval_pattern(tmp_path_factory):
    return write_split(str(tmp_path_factory.mktemp("examples") / "Split-eval"), NUM_EVAL)


def test_an_empty_eval_split_is_an_error_naming_the_split_and_the_minimum(candidate_export, tmp_path):
    empty = write_split(str(tmp_path / "Split-eval"), 0)
    with pytest.raises(ValueError, match=r"eval split .*Split-eval/\*: 0 examples in 1 file\(s\); "
                                         r"expected at least 1 .*data\.split_ratios") as raised:
        evaluation.evaluate(empty, candidate_export, str(tmp_path / "evaluation"), settings_with())
    assert raised.type is evaluation.EvaluationInputError
    assert not (tmp_path / "evaluation").exists()  # no report, no metrics, no blessing


def _delete_folder(model_dir):
    shutil.rmtree(model_dir)


def _delete_saved_model_pb(model_dir):
    os.remove(os.path.join(model_dir, "saved_model.pb"))


def _truncate_saved_model_pb(model_dir):
    path = os.path.join(model_dir, "saved_model.pb")
    with open(path, "r+b") as handle:
        handle.truncate(os.path.getsize(path) // 2)


BASELINE_DAMAGE = {
    "folder deleted": (_delete_folder, "its folder does not exist"),
    "saved_model.pb deleted": (_delete_saved_model_pb, "saved_model.pb is missing"),
    "saved_model.pb truncated": (_truncate_saved_model_pb, "cannot be loaded"),
}


def _run_tfx_executor(tmp_path, candidate_uri, baseline_uri, eval_dir, settings):
    """The Evaluator's TFX executor on real artifacts, as the pipeline runs it after the resolver."""
    from tfx.types import standard_artifacts

    examples = standard_artifacts.Examples()
    examples.uri, examples.split_names = eval_dir, json.dumps(["eval"])
    model, baseline = standard_artifacts.Model(), standard_artifacts.Model()
    model.uri, model.id, baseline.uri, baseline.id = candidate_uri, 2, baseline_uri, 1
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    executor.Executor().Do(
        {executor.EXAMPLES: [examples], executor.MODEL: [model], executor.BASELINE_MODEL: [baseline]},
        {executor.EVALUATION: [evaluation], executor.BLESSING: [blessing]},
        {executor.CUSTOM_CONFIG: json.dumps(pack(evaluator=settings))})
    return blessing


@pytest.mark.parametrize("damage", sorted(BASELINE_DAMAGE))
def test_a_last_blessed_model_whose_files_are_gone_fails_closed_naming_its_uri(
        damage, candidate_export, eval_pattern, tmp_path):
    candidate_uri = model_artifact_dir(tmp_path, "Trainer/model/7", candidate_export)
    baseline_uri = model_artifact_dir(tmp_path, "Trainer/model/3", candidate_export)
    make_damage, what = BASELINE_DAMAGE[damage]
    make_damage(os.path.join(baseline_uri, "Format-Serving"))
    with pytest.raises(ValueError) as raised:
        _run_tfx_executor(tmp_path, candidate_uri, baseline_uri, os.path.dirname(os.path.dirname(eval_pattern)),
                          settings_with())
    assert raised.type is evaluation.EvaluationInputError
    message = str(raised.value)
    assert f"last blessed model (the regression baseline) at {baseline_uri}/Format-Serving: {what}" in message
    assert "no blessing" in message and "evaluator.regression to {}" in message
    assert not os.listdir(tmp_path / "blessing")  # neither BLESSED nor NOT_BLESSED: the Pusher cannot run


def test_without_regression_rules_a_gone_baseline_is_not_needed_and_the_message_says_so(
        candidate_export, eval_pattern, tmp_path):
    baseline_dir = os.path.join(model_artifact_dir(tmp_path, "baseline", candidate_export), "Format-Serving")
    shutil.rmtree(baseline_dir)
    result = evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation"),
                               settings_with("evaluator.regression={}"), baseline_model_dir=baseline_dir)
    assert result.blessed and result.baseline_model is None
    assert [check["kind"] for check in result.checks] == ["absolute"]
    assert f"{baseline_dir}: its folder does not exist" in result.message
    assert "judged on evaluator.thresholds alone" in result.message


def test_relative_rules_are_judged_on_the_baselines_scored_on_the_same_examples(
        candidate_export, eval_pattern, tmp_path):
    """Issue #15: the Evaluator hands its own baseline scores to the gate; metrics.json records where each
    relative bound came from, beside the fields it always had."""
    result = evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation"), settings_with(
        "evaluator.regression={}",
        "evaluator.thresholds={l1: {statistic: mean, baseline: identity, relative_margin: 0.0}, "
        "ms_ssim: {statistic: mean, baseline: mean_target, margin: 0.0}}"))
    l1, ms_ssim = result.checks
    identity_l1 = result.baselines[evaluation.IDENTITY_BASELINE][metrics.L1]["mean"]
    assert (l1["kind"], l1["baseline_name"], l1["baseline"]) == ("relative", evaluation.IDENTITY_BASELINE,
                                                                 pytest.approx(identity_l1))
    assert l1["threshold"] == pytest.approx(identity_l1) and l1["passed"] == (l1["value"] <= l1["threshold"])
    # 16x16 images are too small for MS-SSIM: no baseline value, so the rule fails closed.
    assert (ms_ssim["baseline"], ms_ssim["threshold"], ms_ssim["passed"]) == (None, None, False)
    assert not result.blessed
    with open(os.path.join(tmp_path, "evaluation", evaluation.METRICS_FILE), encoding="utf-8") as handle:
        recorded = json.load(handle)["checks"]
    assert recorded[0].items() >= {"metric": "l1", "statistic": "mean", "op": "<=", "kind": "relative",
                                   "baseline_name": evaluation.IDENTITY_BASELINE, "passed": l1["passed"]}.items()
    page = open(result.report_path, encoding="utf-8").read()
    assert f"({evaluation.IDENTITY_BASELINE} " in page and "0 % better" in page


@pytest.mark.parametrize("section, rule", [("thresholds", "{statistic: mean, max: 500}"),
                                           ("regression", "{statistic: mean, absolute: 1.0}")])
def test_a_gate_on_fid_without_inception_weights_is_refused_naming_the_key(
        section, rule, candidate_export, eval_pattern, tmp_path):
    with pytest.raises(ConfigError, match=rf"evaluator\.{section}\.fid: .*evaluator\.fid_inception_weights"):
        # Refused by the config's validation or, at the latest, before the Evaluator scores anything.
        settings = build(EvaluatorSettings, dataclasses.asdict(settings_with(
            f"evaluator.{section}.fid={rule}", "evaluator.fid_inception_weights=null")), "evaluator")
        evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation"), settings,
                          baseline_model_dir=candidate_export)
    assert not (tmp_path / "evaluation").exists()


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """An untrained InceptionV3 notop saved locally (nothing is downloaded): FID is then a real, if arbitrary,
    distance between Inception features."""
    tf.keras.utils.set_random_seed(0)
    path = str(tmp_path_factory.mktemp("inception") / "inception_notop.h5")
    tf.keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg").save_weights(path)
    return path


def test_the_fid_regression_rule_compares_with_the_last_blessed_models_own_fid(
        transform_output_dir, tmp_path_factory, candidate_export, inception_weights, tmp_path):
    eval_pattern = write_split(str(tmp_path / "Split-eval"), fid.MIN_EXAMPLES)  # Inception on CPU is slow
    baseline_export = exported_model(transform_output_dir, tmp_path_factory, seed=1)[0]
    settings = settings_with(f"evaluator.fid_inception_weights={inception_weights}",
                             "evaluator.regression={fid: {statistic: mean, absolute: 0.0}}")
    result = evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation"), settings,
                               baseline_model_dir=baseline_export)
    candidate_fid = result.candidate[metrics.FID]["mean"]
    baseline_fid = result.baseline_model[metrics.FID]["mean"]
    assert result.baseline_model[metrics.FID]["count"] == fid.MIN_EXAMPLES
    assert baseline_fid != pytest.approx(candidate_fid)  # the baseline's own images, not the candidate's
    (check,) = [c for c in result.checks if c["kind"] == "regression"]
    assert (check["metric"], check["op"]) == ("fid", "<=")  # lower FID is better
    assert check["baseline"] == pytest.approx(baseline_fid) and check["threshold"] == pytest.approx(baseline_fid)
    assert check["passed"] == (candidate_fid <= baseline_fid) and result.blessed == check["passed"]

    # Against itself the rule passes exactly (same images, same features): the rule can be met.
    same = evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation_same"), settings,
                             baseline_model_dir=candidate_export)
    assert same.blessed, same.message
    assert same.baseline_model[metrics.FID]["mean"] == same.candidate[metrics.FID]["mean"]


def test_the_paper_s_stochastic_mode_is_scored_beside_the_candidate_and_never_gated(
        candidate_export, eval_pattern, tmp_path):
    """Issue #14: the report shows what the paper's test mode (dropout on) costs or gains; the gate stays on
    the deterministic serving_default the users get."""
    result = evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation"),
                                 settings_with("evaluator.regression={}"))
    assert result.candidate_stochastic is not None
    assert set(result.candidate_stochastic) >= {metrics.L1, metrics.PSNR, metrics.SSIM}
    assert result.candidate_stochastic[metrics.L1]["mean"] != result.candidate[metrics.L1]["mean"]
    assert all(check["value"] in [stats[check["statistic"]] for stats in result.candidate.values()]
               for check in result.checks)   # every checked value is the deterministic candidate's
    page = open(result.report_path, encoding="utf-8").read()
    assert "Candidate, stochastic" in page and "not gated" in page
    again = evaluation.evaluate(eval_pattern, candidate_export, str(tmp_path / "evaluation2"),
                                settings_with("evaluator.regression={}"))
    assert again.candidate_stochastic == result.candidate_stochastic   # a fixed seed: the same numbers every run
