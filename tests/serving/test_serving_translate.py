"""serving.translate: local inference with a pushed model on files, folders and globs; inputs; the figure."""
import os

import pytest
import tensorflow as tf
from PIL import Image

from components.trainer import export
from serving import image_files, local_model, translate
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.serving_doubles import exported_model, pushed_layout

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

# Version 1 answers at the model size, version 2 (newest) at each input's size: the outputs say which ran.
MODEL_SIZE_VERSION, INPUT_SIZE_VERSION = 1, 2
SHAPES = {"a.png": (40, 24), "b.jpg": (9, 13), "c.gif": (21, 5), "d.bmp": (16, 30)}


@pytest.fixture(scope="module")
def model_base(transform_output_dir, tmp_path_factory):
    model_size, _ = exported_model(transform_output_dir, tmp_path_factory)
    input_size, _ = exported_model(transform_output_dir, tmp_path_factory, output_size=export.OUTPUT_SIZE_INPUT)
    return pushed_layout(tmp_path_factory.mktemp("serving_model"),
                         {MODEL_SIZE_VERSION: model_size, INPUT_SIZE_VERSION: input_size})


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    formats = {".png": "PNG", ".jpg": "JPEG", ".gif": "GIF", ".bmp": "BMP"}
    for seed, (name, (height, width)) in enumerate(SHAPES.items()):
        pixels = images.random_pixels(height, width, seed=seed)
        (folder / name).write_bytes(images.encode(pixels, formats[os.path.splitext(name)[1]]))
    return folder


def _shapes(folder):
    return {path.name: tf.io.decode_png(path.read_bytes()).shape[:2] for path in sorted(folder.iterdir())}


def test_a_folder_of_mixed_formats_and_sizes_with_the_newest_version(model_base, inputs, tmp_path, capsys):
    status = translate.main([str(inputs), "--output", str(tmp_path / "out"), "--model-dir", model_base,
                             "--no-progress"])
    assert status == translate.EXIT_OK
    expected = {os.path.splitext(name)[0] + ".png": shape for name, shape in SHAPES.items()}
    assert _shapes(tmp_path / "out") == expected  # version 2: each output at its input's size
    assert f"{os.sep}{INPUT_SIZE_VERSION} into" in capsys.readouterr().out


def test_version_picks_that_version(model_base, inputs, tmp_path):
    assert translate.main([str(inputs), "--output", str(tmp_path / "out"), "--model-dir", model_base,
                           "--version", str(MODEL_SIZE_VERSION), "--no-progress"]) == translate.EXIT_OK
    expected = {os.path.splitext(name)[0] + ".png": images.model_scale_shape(*shape, TINY_IMAGE_SIZE)
                for name, shape in SHAPES.items()}
    assert _shapes(tmp_path / "out") == expected  # the model's scale, the aspect of each input


def test_results_match_the_model_one_image_at_a_time_whatever_the_batch_size(model_base, inputs, tmp_path):
    model = local_model.LocalGenerator(local_model.version_dir(model_base))
    for batch_size in (1, 3):
        out = tmp_path / f"out{batch_size}"
        assert translate.main([str(inputs), "--output", str(out), "--model-dir", model_base, "--batch-size",
                               str(batch_size), "--no-progress"]) == translate.EXIT_OK
        for name in SHAPES:
            expected = model.translate([image_files.read_image(str(inputs / name))])[0]
            assert (out / (os.path.splitext(name)[0] + ".png")).read_bytes() == expected


def test_files_and_globs(model_base, inputs, tmp_path):
    status = translate.main([str(inputs / "a.png"), str(inputs / "*.jp*g"), "--output", str(tmp_path / "out"),
                             "--model-dir", model_base, "--no-progress"])
    assert status == translate.EXIT_OK
    assert sorted(_shapes(tmp_path / "out")) == ["a.png", "b.png"]


def test_bad_files_are_skipped_with_reasons_and_the_others_translated(model_base, inputs, tmp_path, capsys):
    (inputs / "notes.png").write_bytes(b"not pixels")
    (inputs / "huge.png").write_bytes(images.png(60, 60))  # above the model's pixel limit
    status = translate.main([str(inputs), "--output", str(tmp_path / "out"), "--model-dir", model_base,
                             "--no-progress"])
    captured = capsys.readouterr()
    assert status == translate.EXIT_SOME_FAILED
    assert len(_shapes(tmp_path / "out")) == len(SHAPES)
    assert "notes.png: not a PNG/JPEG/BMP/GIF image" in captured.err
    assert "huge.png: refused by the model: image_bytes[0] is 60x60 pixels" in captured.err
    assert "; 2 skipped" in captured.out


def test_figure_shows_input_generated_and_target(model_base, inputs, tmp_path, capsys):
    targets = tmp_path / "targets"
    targets.mkdir()
    (targets / "b.png").write_bytes(images.png(9, 13, seed=5))
    (targets / "d.jpg").write_bytes(images.encode(images.random_pixels(16, 30, seed=6), "JPEG"))
    figure = tmp_path / "figure.png"
    status = translate.main([str(inputs), "--output", str(tmp_path / "out"), "--model-dir", model_base,
                             "--figure", str(figure), "--targets", str(targets), "--no-progress"])
    assert status == translate.EXIT_OK
    assert "figure (2 rows)" in capsys.readouterr().out
    with Image.open(figure) as picture:
        width, height = picture.size
    assert width > height  # three columns, two rows


def test_figure_without_targets_has_two_columns_and_the_asked_rows(model_base, inputs, tmp_path):
    def figure_size(rows):
        path = tmp_path / f"figure{rows}.png"
        assert translate.main([str(inputs), "--output", str(tmp_path / "out"), "--model-dir", model_base,
                               "--figure", str(path), "--figure-rows", str(rows), "--no-progress"]) == 0
        with Image.open(path) as picture:
            return picture.size

    (w1, h1), (w3, h3) = figure_size(1), figure_size(3)
    assert w1 == w3 and h3 > 2 * h1


@pytest.mark.parametrize("args, message", [
    (["--model-dir", "{tmp}/nowhere"], "no pushed model under"),
    (["--version", "42"], "version 42 not in"),
])
def test_a_missing_model_is_a_clear_error(model_base, inputs, tmp_path, capsys, args, message):
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    if "--model-dir" not in args:
        args += ["--model-dir", model_base]
    assert translate.main([str(inputs), "--output", str(tmp_path / "out"), *args]) == translate.EXIT_UNUSABLE
    assert message in capsys.readouterr().err


def test_a_missing_input_is_a_clear_error(model_base, tmp_path, capsys):
    assert translate.main([str(tmp_path / "nope.png"), "--output", str(tmp_path / "out"),
                           "--model-dir", model_base]) == translate.EXIT_UNUSABLE
    assert "input not found" in capsys.readouterr().err


def test_a_version_folder_can_be_given_directly(model_base):
    folder = os.path.join(model_base, str(MODEL_SIZE_VERSION))
    assert local_model.version_dir(folder) == folder
    assert local_model.version_dir(model_base) == os.path.join(model_base, str(INPUT_SIZE_VERSION))
    assert local_model.available_versions(model_base) == [MODEL_SIZE_VERSION, INPUT_SIZE_VERSION]


# --- which files, and how outputs are named --------------------------------------------------------------------
def test_collect_images_from_folders_files_and_globs(tmp_path):
    for name in ("b.PNG", "a.jpg", "notes.txt", "c.gif"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert image_files.collect_images([str(tmp_path)]) == [str(tmp_path / n) for n in ("a.jpg", "b.PNG", "c.gif")]
    assert image_files.collect_images([str(tmp_path / "*.jpg"), str(tmp_path / "a.jpg")]) == [str(tmp_path / "a.jpg")]
    assert image_files.collect_images([str(tmp_path / "notes.txt")]) == [str(tmp_path / "notes.txt")]
    with pytest.raises(FileNotFoundError, match="no image"):
        image_files.collect_images([str(tmp_path / "*.bmp")])


def test_output_names_never_collide():
    paths = ["x/a.png", "x/a.jpg", "y/b.png", "z/b.png", "x/c.bmp"]
    names = image_files.output_names(paths)
    assert names == ["a.png.png", "a.jpg.png", "b-3.png", "b-4.png", "c.png"]
    assert len(set(names)) == len(names)


def test_sniff_image_reads_the_header_and_refuses_other_formats():
    assert image_files.sniff_image(images.png(7, 9), "x") == image_files.ImageInfo("PNG", 9, 7)
    with pytest.raises(image_files.NotAnImageError, match="x.tif: TIFF images are not supported"):
        image_files.sniff_image(images.encode(images.random_pixels(4, 4), "TIFF"), "x.tif")
    with pytest.raises(image_files.NotAnImageError, match="x: empty file"):
        image_files.sniff_image(b"", "x")


@pytest.mark.parametrize("fmt", ["GIF", "BMP"])
def test_gif_and_bmp_are_sent_as_lossless_png_of_the_same_pixels(fmt, tmp_path):
    pixels = images.random_pixels(21, 5, seed=3)
    path = tmp_path / f"x.{fmt.lower()}"
    path.write_bytes(images.encode(pixels, fmt))
    sent = image_files.read_image(str(path))
    assert sent.startswith(b"\x89PNG")
    with Image.open(path) as original:
        expected = tf.constant(original.convert("RGB"))
    assert tf.reduce_all(tf.io.decode_png(sent, channels=3) == expected)


def test_png_and_jpeg_are_sent_byte_for_byte(tmp_path):
    for name, data in (("a.png", images.png(7, 9)), ("b.jpg", images.encode(images.random_pixels(9, 7), "JPEG"))):
        (tmp_path / name).write_bytes(data)
        assert image_files.read_image(str(tmp_path / name)) == data
