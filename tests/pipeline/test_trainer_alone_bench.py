"""benchmarks/trainer_alone.py: which artifacts it trains on, where its outputs go, what it refuses."""
import os

import pytest

from benchmarks import trainer_alone


def test_the_newest_execution_s_artifact_is_used(tmp_path):
    for execution in ("3", "12", "7", "notes"):
        (tmp_path / trainer_alone.EXAMPLES_DIR / execution).mkdir(parents=True)
    assert trainer_alone.newest_artifact(str(tmp_path), trainer_alone.EXAMPLES_DIR) == str(
        tmp_path / trainer_alone.EXAMPLES_DIR / "12")


def test_a_root_without_the_artifact_names_the_folder(tmp_path):
    with pytest.raises(SystemExit, match="no artifact in .*Transform"):
        trainer_alone.newest_artifact(str(tmp_path), trainer_alone.TRANSFORM_GRAPH_DIR)


def test_fn_args_read_the_run_s_splits_and_write_under_the_output(tmp_path):
    for folder in (trainer_alone.EXAMPLES_DIR, trainer_alone.TRANSFORM_GRAPH_DIR):
        (tmp_path / folder / "5").mkdir(parents=True)
    fn_args = trainer_alone.fn_args_for(str(tmp_path), "/out", {"k": "v"})
    assert fn_args.train_files == [os.path.join(str(tmp_path / trainer_alone.EXAMPLES_DIR / "5"), "Split-train", "*")]
    assert fn_args.eval_files[0].endswith(os.path.join("Split-eval", "*"))
    assert fn_args.transform_output == str(tmp_path / trainer_alone.TRANSFORM_GRAPH_DIR / "5")
    assert fn_args.serving_model_dir.startswith("/out/") and fn_args.model_run_dir.startswith("/out/")
    assert fn_args.custom_config == {"k": "v"}


def test_the_checkpoints_go_under_the_output_whatever_the_run_set():
    settings = trainer_alone.settings("/out", ["pipeline.root=/run/tfx_root", "trainer.epochs=1"])
    assert settings[-1] == "pipeline.root=/out/root"   # last wins: the run's checkpoints are never resumed


def test_an_output_folder_with_files_is_refused(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("precious")
    with pytest.raises(SystemExit):
        trainer_alone.main(["--artifacts", str(tmp_path), "--output", str(tmp_path)])
    assert "give a new or empty folder" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "precious"
