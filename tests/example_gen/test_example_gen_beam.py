"""The executor's Beam graph inside a plain beam.Pipeline(), and the settings it receives."""
import apache_beam as beam
import pytest
import tensorflow as tf
from apache_beam.testing.util import assert_that, equal_to

from components import features
from components.example_gen import executor
from components.example_gen.settings import DataSettings
from tests.support import images
from tests.support.ingestion import data_section, example_gen, exec_properties_of

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test


def test_settings_survive_the_custom_config_round_trip(tmp_path):
    section = data_section(min_image_side=12, max_image_pixels=1234, layout="aligned")
    gen = example_gen(tmp_path, section)
    settings = executor.settings_from_exec_properties(exec_properties_of(gen))
    assert isinstance(settings, DataSettings)
    assert (settings.layout, settings.min_image_side, settings.max_image_pixels) == ("aligned", 12, 1234)
    assert isinstance(settings.max_image_pixels, int) and settings.split_folders["eval"] == "val"


def test_generate_examples_by_beam_yields_the_valid_pairs_per_split(tmp_path):
    images.write_two_folder_dataset(tmp_path / "train", ["a", "b", "c"], size=16)
    images.write_two_folder_dataset(tmp_path / "val", ["d"], size=16)
    (tmp_path / "train" / "input" / "lonely.png").write_bytes(images.png(16, 16))
    gen = example_gen(tmp_path, data_section(min_image_side=8))
    properties = exec_properties_of(gen)
    with beam.Pipeline() as pipeline:
        splits = executor.Executor().GenerateExamplesByBeam(pipeline, properties)
        for name, expected in (("train", ["a", "b", "c"]), ("eval", ["d"])):
            ids = splits[name] | f"Ids[{name}]" >> beam.Map(
                lambda e: e.features.feature[features.PAIR_ID_KEY].bytes_list.value[0].decode())
            assert_that(ids, equal_to(expected), label=f"ids[{name}]")
        sizes = splits["train"] | beam.Map(
            lambda e: tuple(tf.io.decode_image(e.features.feature[features.INPUT_IMAGE_KEY].bytes_list.value[0]).shape))
        assert_that(sizes, equal_to([(16, 16, 3)] * 3), label="decodes")
    assert set(splits) == {"train", "eval"}                     # no test/ folder, no test split
