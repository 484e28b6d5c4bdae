"""The real-photo check's dataset builder: deterministic, in the layout ExampleGen reads, never half-written."""
import os

import numpy as np
import pytest
from PIL import Image

from benchmarks import real_photo_pairs

PHOTOS = real_photo_pairs.photo_paths()
pytestmark = pytest.mark.skipif(not PHOTOS, reason="no sample photographs installed")


def _files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_pairs_are_edge_maps_beside_photo_crops_and_deterministic(tmp_path):
    counts = real_photo_pairs.build(str(tmp_path / "a"), 4, 0, "hash", PHOTOS)
    real_photo_pairs.build(str(tmp_path / "b"), 4, 0, "hash", PHOTOS)
    assert counts == {"all": 4}
    files = _files(tmp_path / "a")
    assert files == ["input/0000.png", "input/0001.png", "input/0002.png", "input/0003.png",
                     "target/0000.jpg", "target/0001.jpg", "target/0002.jpg", "target/0003.jpg"]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    edges = np.asarray(Image.open(tmp_path / "a" / "input" / "0000.png").convert("L"))
    photo = Image.open(tmp_path / "a" / "target" / "0000.jpg")
    assert edges.shape == (photo.height, photo.width)
    assert 0.0 < (edges < 128).mean() < 0.5            # some lines, mostly white paper


def test_region_splits_write_split_folders(tmp_path):
    counts = real_photo_pairs.build(str(tmp_path / "r"), 10, 0, "regions", PHOTOS)
    assert set(counts) == {"train", "val", "test"} and sum(counts.values()) == 10
    assert {name.split("/")[0] for name in _files(tmp_path / "r")} == {"train", "val", "test"}


def test_an_existing_output_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(SystemExit):
        real_photo_pairs.main(["--pairs", "2", "--output", str(tmp_path / "taken")])
    assert os.listdir(tmp_path / "taken") == []


@pytest.mark.parametrize("pairs", ["0", "-3"])
def test_no_pairs_is_refused_before_anything_is_written(tmp_path, pairs):
    with pytest.raises(SystemExit):
        real_photo_pairs.main(["--pairs", pairs, "--output", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_a_dangling_symlink_as_output_is_refused(tmp_path):
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(SystemExit):
        real_photo_pairs.main(["--pairs", "2", "--output", str(tmp_path / "link")])
    assert not (tmp_path / "nowhere").exists()
