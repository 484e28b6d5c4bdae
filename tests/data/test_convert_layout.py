"""data.convert_layout: aligned <-> two_folder, split folders kept, pixel-exact round trip."""
import numpy as np
import pytest
import tensorflow as tf

from data import convert_layout
from tests.support import images


def _read(path, dtype=tf.uint8):
    return tf.io.decode_png(path.read_bytes(), dtype=dtype).numpy()


@pytest.fixture()
def aligned_dataset(tmp_path):
    root = tmp_path / "aligned"
    sources = {
        "train/a.png": images.smooth_pixels(8, 12, seed=1),
        "train/b.png": images.smooth_pixels(8, 12, 4, seed=2),
        "val/c.png": images.smooth_pixels(6, 10, 1, seed=3),
    }
    for relative, pixels in sources.items():
        images.write(root / relative, images.encode(pixels))
    images.write(root / "train" / "deep.png", images.encode_png16(images.smooth_pixels(4, 8, 3, 4, np.uint16)))
    return root, sources


@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
def test_round_trip_is_pixel_exact_and_keeps_split_folders(aligned_dataset, tmp_path, direction):
    root, sources = aligned_dataset
    two = tmp_path / "two"
    assert convert_layout.main(["--from", "aligned", "--to", "two_folder", str(root), str(two),
                                "--direction", direction]) == 0
    assert sorted(p.relative_to(two).as_posix() for p in two.rglob("*.png")) == [
        "train/input/a.png", "train/input/b.png", "train/input/deep.png", "train/target/a.png",
        "train/target/b.png", "train/target/deep.png", "val/input/c.png", "val/target/c.png"]
    left, right = sources["train/a.png"][:, :6], sources["train/a.png"][:, 6:]
    expected_input = left if direction == "AtoB" else right
    np.testing.assert_array_equal(_read(two / "train" / "input" / "a.png"), expected_input)
    back = tmp_path / "back"
    assert convert_layout.main(["--from", "two_folder", "--to", "aligned", str(two), str(back),
                                "--direction", direction]) == 0
    for relative, pixels in sources.items():
        restored = _read(back / relative)
        np.testing.assert_array_equal(restored, pixels if pixels.ndim == 3 else pixels[..., None])
    original16 = tf.io.decode_png((root / "train" / "deep.png").read_bytes(), dtype=tf.uint16).numpy()
    np.testing.assert_array_equal(_read(back / "train" / "deep.png", tf.uint16), original16)


def test_two_folder_to_aligned_promotes_mixed_modes_and_skips_what_it_cannot_join(tmp_path, capsys):
    src = tmp_path / "two"
    gray, rgb = images.smooth_pixels(6, 6, 1, seed=1), images.smooth_pixels(6, 6, 3, seed=2)
    images.write(src / "input" / "mixed.png", images.encode(gray))
    images.write(src / "target" / "mixed.jpg", images.encode(rgb, "JPEG"))
    images.write(src / "input" / "sizes.png", images.encode(images.smooth_pixels(6, 6)))
    images.write(src / "target" / "sizes.png", images.encode(images.smooth_pixels(6, 8)))
    images.write(src / "input" / "alone.png", images.encode(rgb))
    images.write(src / "input" / "broken.png", b"\x89PNG\r\n\x1a\n...")
    images.write(src / "target" / "broken.png", images.encode(rgb))
    assert convert_layout.main(["--from", "two_folder", "--to", "aligned", str(src), str(tmp_path / "out")]) == 1
    joined = _read(tmp_path / "out" / "mixed.png")
    assert joined.shape == (6, 12, 3)
    np.testing.assert_array_equal(joined[:, :6], np.repeat(gray[..., None], 3, axis=-1))
    err = capsys.readouterr().err
    assert "alone.png: unpaired" in err and "differ in shape" in err and "broken.png" in err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mixed.png"]


def test_aligned_to_two_folder_skips_odd_widths_and_refuses_a_used_output(tmp_path, capsys):
    src = tmp_path / "aligned"
    images.write(src / "odd.png", images.encode(images.smooth_pixels(4, 7)))
    assert convert_layout.main(["--from", "aligned", "--to", "two_folder", str(src), str(tmp_path / "o")]) == 2
    assert "even width" in capsys.readouterr().err
    images.write(src / "even.png", images.encode(images.smooth_pixels(4, 8)))
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    assert convert_layout.main(["--from", "aligned", "--to", "two_folder", str(src), str(tmp_path / "used")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert convert_layout.main(["--from", "aligned", "--to", "aligned", str(src), str(tmp_path / "z")]) == 2
    assert "expected two_folder -> aligned or aligned -> two_folder" in capsys.readouterr().err


@pytest.mark.parametrize("inside", ["converted", ".", "train/deeper"])
def test_an_output_inside_the_source_is_refused_before_anything_is_written(aligned_dataset, tmp_path, capsys,
                                                                            inside):
    src, _ = aligned_dataset
    before = sorted(str(path) for path in src.rglob("*"))
    dst = src / inside
    assert convert_layout.main(["--from", "aligned", "--to", "two_folder", str(src), str(dst)]) == 2
    assert "inside" in capsys.readouterr().err
    assert sorted(str(path) for path in src.rglob("*")) == before


def test_a_symlinked_output_that_resolves_inside_the_source_is_refused(aligned_dataset, tmp_path, capsys):
    src, _ = aligned_dataset
    (tmp_path / "link").symlink_to(src / "train")
    assert convert_layout.main(["--from", "aligned", "--to", "two_folder", str(src), str(tmp_path / "link" / "o")]) == 2
    assert "inside" in capsys.readouterr().err
