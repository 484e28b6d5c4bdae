"""The ExampleGen's Beam transform on real folders: pairs in, bad files out and counted."""
import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to

from components import features
from components.example_gen import component, executor
from tests import images


def _exec_properties(dataset_dir):
    gen = component.create_paired_image_example_gen(
        str(dataset_dir), "input", "target", [".png", ".jpg"], {"train": 9, "eval": 1})
    return {"input_base": str(dataset_dir),
            "custom_config": gen.exec_properties["custom_config"]}


def run_example_gen(dataset_dir, expected_ids, pattern="*/*"):
    with beam.Pipeline() as pipeline:
        examples = pipeline | executor.PairedImagesToExample(_exec_properties(dataset_dir), pattern)
        ids = examples | beam.Map(lambda e: e.features.feature[features.PAIR_ID_KEY].bytes_list.value[0].decode())
        assert_that(ids, equal_to(expected_ids))
        decoded_ok = examples | beam.Map(
            lambda e: tf.io.decode_image(e.features.feature[features.INPUT_IMAGE_KEY].bytes_list.value[0]).shape[0])
        assert_that(decoded_ok, equal_to([8] * len(expected_ids)), label="decodes")


def test_settings_survive_the_custom_config_round_trip(tmp_path):
    settings = executor.settings_from_exec_properties(_exec_properties(tmp_path))
    assert settings == {"input_subdir": "input", "target_subdir": "target", "image_extensions": [".png", ".jpg"]}


def test_valid_pairs_become_examples_and_bad_files_are_left_out(tmp_path):
    images.write_two_folder_dataset(tmp_path, ["a", "b", "c"])
    (tmp_path / "input" / "lonely.png").write_bytes(images.png())          # unpaired
    (tmp_path / "input" / "empty.png").write_bytes(b"")                     # zero bytes
    (tmp_path / "target" / "empty.png").write_bytes(images.png())
    (tmp_path / "input" / "fake.png").write_bytes(b"not an image")          # not an image
    (tmp_path / "target" / "fake.png").write_bytes(images.png())
    (tmp_path / "input" / "notes.txt").write_text("hello")                  # unsupported extension
    run_example_gen(tmp_path, ["a", "b", "c"])


def test_a_folder_without_any_valid_pair_fails_with_the_counts(tmp_path):
    (tmp_path / "input").mkdir()
    (tmp_path / "target").mkdir()
    (tmp_path / "input" / "x.png").write_bytes(images.png())
    with pytest.raises(Exception, match=r"no valid image pair in .*unpaired"):
        run_example_gen(tmp_path, [])
