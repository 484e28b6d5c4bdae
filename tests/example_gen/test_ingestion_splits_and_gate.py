"""Split folders become TFX splits (val/ -> eval), the size policy, the valid-fraction gate, multi-process Beam."""
import os

import pytest

from components.example_gen import quarantine as q
from tests.support import images
from tests.support.ingestion import run_example_gen

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

SMALL = dict(min_image_side=8)


def _pair(root, stem, size=(16, 16), target_size=None, seed=0):
    height, width = size
    t_height, t_width = target_size or size
    images.write(root / "input" / f"{stem}.png", images.encode(images.smooth_pixels(height, width, seed=seed)))
    images.write(root / "target" / f"{stem}.png", images.encode(images.smooth_pixels(t_height, t_width, seed=seed + 1)))


@pytest.fixture(scope="module")
def split_folders_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("splits")
    for stem in ("1", "2", "3"):
        _pair(root / "train", stem)
    _pair(root / "train", "odd_size", target_size=(16, 24))
    for stem in ("1", "4"):                      # "1" also in train: stems are unique per split only
        _pair(root / "val", stem)
    _pair(root / "test", "5")
    images.write(root / "loose.png", images.png(16, 16))     # not in any split folder
    run = run_example_gen(root, tmp_path_factory.mktemp("work"), size_mismatch="reject", **SMALL)
    return root, run


def test_split_folders_become_splits_and_val_is_named_eval(split_folders_run):
    _, run = split_folders_run
    assert {split: run.ids(split) for split in run.examples} == {
        "train": ["1", "2", "3"], "eval": ["1", "4"], "test": ["5"]}
    assert run.audit.examples == {"train": 3, "eval": 2, "test": 1}


def test_size_mismatch_reject_quarantines_both_files_and_strays_are_reported(split_folders_run):
    root, run = split_folders_run
    assert run.reasons_by_file(root) == {
        "train/input/odd_size.png": q.SIZE_MISMATCH, "train/target/odd_size.png": q.SIZE_MISMATCH,
        "loose.png": q.OUTSIDE_LAYOUT}
    rows = {os.path.relpath(row["file"], root): row for row in run.rows}
    assert rows["train/input/odd_size.png"]["split"] == "train"
    assert "input 16x16 vs target 24x16" in rows["train/input/odd_size.png"]["detail"]
    assert "{train,val,test}/input/*" in rows["loose.png"]["detail"]
    assert run.audit.resized_pairs == 0


def test_below_min_valid_fraction_fails_naming_dataset_counts_and_kept_report(tmp_path):
    root = tmp_path / "data"
    _pair(root / "train", "a")
    _pair(root / "val", "b")
    for stem in ("x", "y", "z"):
        images.write(root / "train" / "input" / f"{stem}.png", images.png(16, 16))
    images.write(root / "val" / "target" / "w.png", images.png(16, 16))
    run = run_example_gen(root, tmp_path / "work", expect_failure=True, min_valid_fraction=0.9, **SMALL)
    message = str(run.error)
    kept = os.path.join(str(tmp_path / "work"), "ExampleGen", "failed_ingestion", "1", "quarantine.csv")
    assert str(root) in message and "two_folder layout" in message
    assert "only 50.0% of the files are usable, below data.min_valid_fraction = 90.0%" in message
    assert "unpaired 4" in message and f"Quarantine report: {kept}" in message
    assert os.path.isfile(kept) and len(run.rows) == 4


def test_no_valid_pair_fails_even_with_a_zero_threshold(tmp_path):
    root = tmp_path / "data"
    images.write(root / "input" / "a.png", images.png(16, 16))
    images.write(root / "target" / "b.png", b"")
    run = run_example_gen(root, tmp_path / "work", expect_failure=True, min_valid_fraction=0.0, **SMALL)
    assert "no valid pair" in str(run.error) and "unpaired 2" in str(run.error)


def test_multi_processing_direct_runner_gives_the_same_result(tmp_path):
    root = tmp_path / "data"
    for i in range(6):
        _pair(root / "train", f"t{i}", seed=i)
    _pair(root / "val", "v0")
    images.write(root / "val" / "input" / "broken.png", b"\x89PNG\r\n\x1a\n broken")
    images.write(root / "val" / "target" / "broken.png", images.png(16, 16))
    run = run_example_gen(root, tmp_path / "work", **SMALL,
                          beam_args=["--direct_running_mode=multi_processing", "--direct_num_workers=2"])
    assert run.ids("train") == [f"t{i}" for i in range(6)] and run.ids("eval") == ["v0"]
    assert run.reasons_by_file(root) == {"val/input/broken.png": q.CORRUPT_IMAGE,
                                         "val/target/broken.png": q.PARTNER_REJECTED}
