"""End to end: `python -m pipeline run` on a tiny config, as a user runs it.

Runs the real TFX components with LocalDagRunner and Beam's DirectRunner on a
freshly generated tiny dataset, then checks what reached serving_model/ and ML
Metadata. The first run has impossible thresholds and must not push; the second
re-uses its cached upstream components, is blessed and pushed, and its version
carries a lineage record that `python -m pipeline lineage` checks against ML
Metadata. A later run on grayscale images is stopped by data validation.
"""
import os
import json
import re
import subprocess
import sys

import pytest
import tensorflow as tf

from components import features
from pipeline import memory_allocator
from tests.support import images
from tests.support import paths

pytestmark = pytest.mark.e2e  # runs the whole pipeline (or its compiled tasks) end to end

ROOT = paths.ROOT


def run_pipeline(workdir, *overrides, check=True):
    paths = [f"data.dataset_dir={workdir}/synthetic_facades", f"pipeline.root={workdir}/tfx_root",
             f"pipeline.metadata_path={workdir}/metadata.sqlite", f"pipeline.report_dir={workdir}/report",
             f"pipeline.log_dir={workdir}/logs", f"pusher.serving_dir={workdir}/serving_model"]
    tiny = ["data.synthetic.num_pairs=24", "data.synthetic.image_size=48", "transform.image_size=32",
            "trainer.ngf=8", "trainer.ndf=8", "trainer.epochs=2", "trainer.epochs_decay=1", "trainer.min_steps=0",
            "trainer.batch_size=4", "trainer.samples_every_epochs=1", "evaluator.sample_images=2"]
    command = [sys.executable, "-m", "pipeline", "run", "--config", os.path.join(ROOT, "pipeline_config.yaml")]
    for setting in paths + tiny + list(overrides):
        command += ["--set", setting]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        pytest.fail(f"pipeline failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


LENIENT = ["evaluator.thresholds={l1: {statistic: mean, max: 255}, psnr: {statistic: mean, min: 0}}"]
IMPOSSIBLE = ["evaluator.thresholds={l1: {statistic: mean, max: 0.001}}"]


@pytest.fixture(scope="module")
def unblessed_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    return workdir, run_pipeline(workdir, *IMPOSSIBLE)


@pytest.fixture(scope="module")
def first_run(unblessed_run):
    """The first blessed run: the same data and training (cached), thresholds it passes."""
    workdir, _ = unblessed_run
    return workdir, run_pipeline(workdir, *LENIENT)


def pushed_path(stdout):
    match = re.search(r"^pushed_model: (.+)$", stdout, re.M)
    assert match, stdout
    return match.group(1).strip()


def test_a_blessed_model_is_pushed_in_tf_serving_layout(first_run):
    workdir, result = first_run
    path = pushed_path(result.stdout)
    assert "BLESSED" in result.stdout
    base = os.path.join(str(workdir), "serving_model", "pix2pix")
    assert os.path.dirname(path.rstrip("/")) == base
    assert os.path.basename(path.rstrip("/")).isdigit()          # <model_name>/<version>/
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    tflite = os.path.join(path, "assets.extra", "tflite")            # serving.tflite travels with the version
    assert {"generator.json", "generator_float32.tflite", "generator_float16.tflite"} <= set(os.listdir(tflite))


def test_the_run_says_which_memory_allocator_it_ran_with(first_run):
    lines = [line for line in first_run[1].stdout.splitlines() if line.startswith(memory_allocator.LINE_PREFIX)]
    assert len(lines) == 1, first_run[1].stdout[:2000]     # said once: the restart does not repeat it
    if memory_allocator.find_jemalloc():                    # auto (the default) restarted the run with it
        assert lines[0].startswith(f"{memory_allocator.LINE_PREFIX} jemalloc ("), lines
    else:
        assert "glibc malloc" in lines[0] and "apt-get install libjemalloc2" in lines[0], lines


def test_the_pushed_model_turns_a_png_into_a_png(first_run):
    model = tf.saved_model.load(pushed_path(first_run[1].stdout))
    out = model.signatures[features.SERVING_DEFAULT](
        **{features.SERVING_INPUT_BYTES: tf.constant([images.png(50, 70, seed=3)])})
    png = out[features.SERVING_OUTPUT_BYTES].numpy()[0]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert tf.io.decode_png(png).shape == (50, 70, 3)   # serving.inference: tiled answers at the input's size
    stochastic = model.signatures[features.SERVING_STOCHASTIC](
        **{features.SERVING_INPUT_BYTES: tf.constant([images.png(50, 70, seed=3)]),
           features.SERVING_SEED: tf.constant(1, tf.int64)})
    assert tf.io.decode_png(stochastic[features.SERVING_OUTPUT_BYTES].numpy()[0]).shape == (50, 70, 3)


def test_the_summary_reports_metrics_baselines_and_a_report(first_run):
    workdir, result = first_run
    for name in ("l1", "psnr", "ssim", "identity (output = input)", "mean target image"):
        assert name in result.stdout
    report = re.search(r"^report: (.+)$", result.stdout, re.M).group(1)
    assert os.path.isfile(report) and report.startswith(str(workdir))
    html = open(report).read()
    for picture in ("samples.png", "metrics.png", "loss_curves.png"):
        assert picture in html and os.path.isfile(os.path.join(os.path.dirname(report), picture))


def test_training_leaves_checkpoints_curves_and_sample_grids(first_run):
    run_dir = re.search(r"^training run: (\S+)", first_run[1].stdout, re.M).group(1)
    for name in ("loss_curves.png", "loss_history.json", "samples_latest.png", "checkpoints", "tensorboard"):
        assert os.path.exists(os.path.join(run_dir, name)), name
    assert sorted(os.listdir(os.path.join(run_dir, "samples"))) == [
        "epoch_0001.png", "epoch_0002.png", "epoch_0003.png"]


def test_training_validates_exports_its_best_epoch_and_the_gate_scores_other_examples(unblessed_run, first_run):
    workdir, result = first_run
    log = unblessed_run[1].stdout + unblessed_run[1].stderr   # the run that trained (the blessed one re-used it)
    assert len(re.findall(r"epoch \d/3 .* val L1 \S+ PSNR \S+ SSIM \S+", log)) == 3   # validated every epoch
    run_dir = re.search(r"^training run: (\S+)", result.stdout, re.M).group(1)
    summary = json.loads(open(os.path.join(run_dir, "training.json")).read())
    assert summary["export"] == "best" and summary["exported_epoch"] == summary["best_epoch"]
    assert (summary["validation_split"], summary["gate_split"]) == ("eval", "test")
    assert re.search(r"^test metrics on \d+ examples", result.stdout, re.M)   # the gate: the test split
    assert f"exported epoch: {summary['exported_epoch']} of 3" in result.stdout
    history = json.loads(open(os.path.join(run_dir, "loss_history.json")).read())
    assert all(row["validation"] for row in history)


def served(workdir):
    return sorted(os.listdir(os.path.join(str(workdir), "serving_model", "pix2pix")))


def test_an_identical_rerun_is_cached_and_publishes_no_new_version(first_run):
    workdir, first = first_run
    before = served(workdir)
    again = run_pipeline(workdir, *LENIENT)
    assert "BLESSED" in again.stdout and pushed_path(again.stdout) == pushed_path(first.stdout)
    assert served(workdir) == before


def test_a_candidate_passing_absolute_thresholds_but_regressing_is_refused(first_run):
    workdir, _ = first_run
    before = served(workdir)
    # The tiny first model is only slightly better than an untrained one: allow no worsening.
    untrained = run_pipeline(workdir, *LENIENT, "trainer.epochs=0", "trainer.epochs_decay=0",
                             "evaluator.regression={l1: {statistic: mean, absolute: 0.0}}")
    assert "NOT BLESSED" in untrained.stdout
    assert re.search(r"vs last blessed: l1 mean \S+ <= \S+ \(last blessed \S+\): FAIL", untrained.stdout)
    assert re.search(r"^pushed_model: none", untrained.stdout, re.M)
    assert served(workdir) == before


def test_a_model_failing_the_thresholds_is_not_pushed(unblessed_run):
    workdir, first = unblessed_run
    assert "NOT BLESSED" in first.stdout
    assert "l1 mean" in first.stdout and "FAIL" in first.stdout
    assert re.search(r"^pushed_model: none \(the model was not blessed", first.stdout, re.M)


def test_the_pushed_version_carries_its_lineage_and_model_card(first_run):
    workdir, result = first_run
    version = pushed_path(result.stdout)
    record = json.loads(open(os.path.join(version, "assets.extra", "lineage.json")).read())
    assert record["served"]["path"] == version and str(record["served"]["version"]) == os.path.basename(version)
    data = record["data"]
    assert data["location"] == os.path.join(str(workdir), "synthetic_facades") and data["layout"] == "two_folder"
    assert sum(split["pairs"] for split in data["splits"].values()) == 24
    assert all(split["fingerprint"].startswith(f"sha256-sum:{split['pairs']}:") for split in data["splits"].values())
    assert record["config"]["trainer"]["epochs"] == 2 and record["config"]["transform"]["image_size"] == 32
    assert record["training"]["exported_epoch"] >= 1 and record["evaluation"]["blessed"] is True
    assert record["evaluation"]["split"] == "test" and record["evaluation"]["checks"]
    assert record["validation"]["anomalies"] and not any(record["validation"]["anomalies"].values())
    assert record["versions"]["tfx"] and record["code"]["source"] in ("git", "unknown")
    artifacts = record["mlmd"]["artifacts"]
    assert {"examples", "statistics", "schema", "anomalies", "transform_graph", "model", "model_run",
            "model_evaluation", "model_blessing"} <= set(artifacts)
    nodes = {execution["node"] for execution in record["mlmd"]["executions"]}
    assert {"FileBasedExampleGen", "Trainer", "ImageQualityEvaluator", "Pusher"} <= nodes
    card = open(os.path.join(version, "assets.extra", "model_card.html")).read()
    assert "data:image/png;base64," in card and "Intended use" in card


def test_lineage_prints_the_chain_and_it_matches_ml_metadata(first_run):
    workdir, result = first_run
    version = os.path.basename(pushed_path(result.stdout))
    command = [sys.executable, "-m", "pipeline", "lineage", version, "--config",
               os.path.join(ROOT, "pipeline_config.yaml"), "--set", f"pusher.serving_dir={workdir}/serving_model",
               "--set", f"pipeline.metadata_path={workdir}/metadata.sqlite"]
    lineage = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert lineage.returncode == 0, lineage.stdout + lineage.stderr
    assert f"version {version}" in lineage.stdout and "trained on: Examples" in lineage.stdout
    assert "MISMATCH" not in lineage.stdout and "all ok" in lineage.stdout


def test_bulk_inference_translates_the_test_split_after_the_push(first_run):
    workdir, first = first_run
    before = served(workdir)
    result = run_pipeline(workdir, *LENIENT, "bulk_inference.split=test")
    record = json.loads(open(os.path.join(pushed_path(first.stdout), "assets.extra", "lineage.json")).read())
    pairs = record["data"]["splits"]["test"]["pairs"]
    line = re.search(r"^bulk inference: (\d+) test image\(s\) translated into (\S+) \(0 failed\); "
                     r"contact sheet: (\S+)$", result.stdout, re.M)
    assert line and int(line.group(1)) == pairs, result.stdout
    assert sorted(os.listdir(line.group(2))) == sorted(["_failures.txt"] + [
        name for name in os.listdir(line.group(2)) if name.endswith(".png")])
    assert os.path.isfile(line.group(3)) and served(workdir) == before      # the push was re-used, not repeated
    report = re.search(r"^report: (.+)$", result.stdout, re.M).group(1)
    assert "bulk_inference_contact_sheet.png" in open(report).read()


def test_images_of_another_kind_are_stopped_before_training(first_run, tmp_path):
    from PIL import Image

    from data.synthetic_facades import generate_dataset

    workdir, _ = first_run
    before = served(workdir)
    dataset = generate_dataset(tmp_path / "gray", num_pairs=24, image_size=48, seed=3)
    for path in dataset.rglob("*.png"):
        Image.open(path).convert("L").save(path)
    stopped = run_pipeline(workdir, *LENIENT, f"data.dataset_dir={dataset}", check=False)
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    assert "DataValidationError: data validation stopped the run before training" in stopped.stderr
    assert "input_channels: Out-of-range values" in stopped.stderr
    assert "Validation report: " in stopped.stderr
    assert served(workdir) == before


def test_translate_uses_the_newest_pushed_version(first_run, tmp_path):
    workdir, _ = first_run
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(images.png(40, 40, seed=1))
    (tmp_path / "in" / "b.jpg").write_bytes(images.encode(images.random_pixels(20, 30, seed=2), "JPEG"))
    result = subprocess.run(
        [sys.executable, "-m", "serving.translate", str(tmp_path / "in"), "--output", str(tmp_path / "out"),
         "--model-dir", os.path.join(str(workdir), "serving_model", "pix2pix")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png"]


def test_an_interrupted_trainer_resumes_from_its_last_checkpoint(tmp_path):
    """Kill the pipeline mid-training, run it again: training continues, not restarts."""
    settings = ["trainer.epochs=10", "trainer.checkpoint_every_steps=2", *LENIENT]
    command = [sys.executable, "-m", "pipeline", "run", "--config", os.path.join(ROOT, "pipeline_config.yaml")]
    paths = [f"data.dataset_dir={tmp_path}/synthetic_facades", f"pipeline.root={tmp_path}/tfx_root",
             f"pipeline.metadata_path={tmp_path}/metadata.sqlite", f"pipeline.report_dir={tmp_path}/report",
             f"pipeline.log_dir={tmp_path}/logs", f"pusher.serving_dir={tmp_path}/serving_model"]
    tiny = ["data.synthetic.num_pairs=24", "data.synthetic.image_size=48", "transform.image_size=32",
            "trainer.ngf=8", "trainer.ndf=8", "trainer.epochs_decay=0", "trainer.min_steps=0",
            "trainer.batch_size=4"]
    for setting in paths + tiny + settings:
        command += ["--set", setting]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        for line in process.stderr:                        # the console's progress lines
            if "[trainer] epoch 3/10" in line:
                break
        else:
            pytest.fail("the first run ended before training got under way")
    finally:
        os.killpg(process.pid, 9)
        process.wait(timeout=60)
    checkpoints = os.path.join(str(tmp_path), "tfx_root", "Trainer", "checkpoints")
    assert os.listdir(checkpoints), "no checkpoint was written before the kill"

    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr[-4000:]
    resumed = re.search(r"\[trainer\] resuming from checkpoint at step (\d+) \(epoch (\d+)/10\)", second.stderr)
    assert resumed, second.stderr[-4000:]
    assert int(resumed.group(2)) >= 2                  # at least two epochs done
    assert "[trainer] epoch 1/10" not in second.stderr
    assert "[trainer] epoch 10/10" in second.stderr
    assert not os.listdir(checkpoints)                 # archived into the ModelRun once done
