"""serving.batch_translate: the Beam RunInference job on DirectRunner, on a folder and on ExampleGen TFRecords."""
import os

import pytest
import tensorflow as tf

from components import features
from components.example_gen import pairing
from serving import batch_translate, image_files
from serving.beam_model_handler import ServingDefaultModelHandler
from serving.local_model import LocalGenerator, version_dir
from tests.support import images
from tests.support.serving_doubles import exported_model, pushed_layout

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

FAILURES = batch_translate.FAILURES_FILE


@pytest.fixture(scope="module")
def model_base(transform_output_dir, tmp_path_factory):
    export_dir, _ = exported_model(transform_output_dir, tmp_path_factory)
    return pushed_layout(tmp_path_factory.mktemp("serving_model"), {5: export_dir})


@pytest.fixture(scope="module")
def local(model_base):
    return LocalGenerator(version_dir(model_base))


def _failures(output):
    return dict(line.split("\t", 1) for line in (output / FAILURES).read_text().splitlines())


def test_a_folder_is_translated_like_the_served_model_and_bad_files_are_listed(model_base, local, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    sources = {"a.png": images.png(40, 24, seed=1),
               "a.jpg": images.encode(images.random_pixels(9, 13, seed=2), "JPEG"),
               "b.gif": images.encode(images.random_pixels(21, 5, seed=3), "GIF"),
               "c.bmp": images.encode(images.random_pixels(16, 30, seed=4), "BMP")}
    for name, data in sources.items():
        (folder / name).write_bytes(data)
    (folder / "notes.png").write_bytes(b"not pixels")
    (folder / "huge.png").write_bytes(images.png(60, 60, seed=5))  # above the model's pixel limit
    (folder / "readme.txt").write_text("ignored: not an image extension")
    output = tmp_path / "out"

    status = batch_translate.main(["--input", str(folder), "--output", str(output), "--model-dir", model_base,
                                   "--batch-size", "3"])

    assert status == batch_translate.EXIT_SOME_FAILED
    expected_names = {"a.png": "a.png.png", "a.jpg": "a.jpg.png", "b.gif": "b.png", "c.bmp": "c.png"}
    assert sorted(os.listdir(output)) == sorted([*expected_names.values(), FAILURES])
    for source, name in expected_names.items():
        # GIF and BMP travel as lossless PNG (the served model refuses GIF): what the client sends
        sent = image_files.servable(sources[source], source)
        assert (output / name).read_bytes() == local.translate([sent])[0], name
    failures = _failures(output)
    assert set(failures) == {str(folder / "notes.png"), str(folder / "huge.png")}
    assert "not a PNG/JPEG/BMP/GIF image" in failures[str(folder / "notes.png")]
    assert "refused by the model: image_bytes[0] is 60x60 pixels" in failures[str(folder / "huge.png")]
    assert "translated 4 image(s)" in capsys.readouterr().out


def test_example_gen_tfrecords_are_translated_by_pair_id(model_base, local, tmp_path, capsys):
    inputs = {f"pair_{i}": images.png(10 + i, 20, seed=i) for i in range(5)}
    records = tmp_path / "Split-eval"
    records.mkdir()
    with tf.io.TFRecordWriter(str(records / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
        for pair_id, data in inputs.items():
            writer.write(pairing.make_example(pair_id, data, images.png(seed=9)).SerializeToString())
        no_input = tf.train.Example()
        no_input.features.feature[features.PAIR_ID_KEY].bytes_list.value.append(b"lonely")
        writer.write(no_input.SerializeToString())
    output = tmp_path / "out"

    status = batch_translate.main(["--input", str(records / "*.gz"), "--output", str(output),
                                   "--model-dir", model_base, "--direct_num_workers", "1"])

    assert status == batch_translate.EXIT_SOME_FAILED
    assert sorted(os.listdir(output)) == sorted([f"{pair_id}.png" for pair_id in inputs] + [FAILURES])
    for pair_id, data in inputs.items():
        assert (output / f"{pair_id}.png").read_bytes() == local.translate([data])[0]
    (source, reason), = _failures(output).items()
    assert source.endswith("#lonely") and f"expected one '{features.INPUT_IMAGE_KEY}'" in reason
    assert "translated 5 image(s)" in capsys.readouterr().out


@pytest.mark.parametrize("argument", ["{tmp}/empty", "{tmp}/empty/*.gz", "{tmp}/text_only"])
def test_nothing_to_translate_is_a_clear_error(model_base, tmp_path, capsys, argument):
    (tmp_path / "empty").mkdir()
    (tmp_path / "text_only").mkdir()
    (tmp_path / "text_only" / "notes.txt").write_text("no image here")
    status = batch_translate.main(["--input", argument.replace("{tmp}", str(tmp_path)),
                                   "--output", str(tmp_path / "out"), "--model-dir", model_base])
    assert status == batch_translate.EXIT_UNUSABLE
    assert "error: nothing to translate: no " in capsys.readouterr().err


def test_the_model_handler_answers_per_image_in_a_batch_with_a_bad_one(model_base, local):
    handler = ServingDefaultModelHandler(version_dir(model_base), max_batch_size=4)
    assert handler.batch_elements_kwargs() == {"min_batch_size": 1, "max_batch_size": 4}
    batch = [images.png(seed=1), b"nope", images.png(60, 60), images.png(seed=2)]
    results = list(handler.run_inference(batch, handler.load_model()))
    assert [result.example for result in results] == batch
    assert [result.inference.ok for result in results] == [True, False, False, True]
    assert results[0].inference.png == local.translate([batch[0]])[0]
    assert "image_bytes[0] is not a PNG" in results[1].inference.error
    assert "60x60 pixels" in results[2].inference.error


@pytest.mark.parametrize("argument, expected", [
    ("{tmp}", ("images", "{tmp}/*")),
    ("{tmp}/*.jpg", ("images", "{tmp}/*.jpg")),
    ("{tmp}/Split-eval/*.gz", ("tfrecord", "{tmp}/Split-eval/*.gz")),
    ("gs://bucket/photos/", ("images", "gs://bucket/photos/*")),
])
def test_input_kind_is_resolved_from_the_argument(tmp_path, argument, expected):
    fill = lambda text: text.replace("{tmp}", str(tmp_path))  # noqa: E731
    assert batch_translate.resolve_input(fill(argument)) == tuple(fill(part) for part in expected)
    assert batch_translate.resolve_input(fill(argument), "tfrecord")[0] == "tfrecord"
