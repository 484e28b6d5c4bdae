"""The curated schema in the repository: readable, complete, and it says what a usable dataset is."""
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2

from components import features
from components.example_validator import schema_file
from tests.example_validator.conftest import pair_examples, statistics_of
from tests.support.paths import DEFAULT_CONFIG
from pipeline.config import load_config

CONFIG = load_config(DEFAULT_CONFIG)
SCHEMA = schema_file.read(CONFIG.resolve(CONFIG.data_validation.schema_file))


def anomalies_of(examples, schema=SCHEMA):
    return dict(tfdv.validate_statistics(statistics_of(examples), schema).anomaly_info)


def test_the_repository_schema_requires_every_feature_exampleGen_writes():
    names = {feature.name: feature for feature in SCHEMA.feature}
    assert set(names) == {*schema_file.BYTES_FEATURES, *features.IMAGE_PROPERTY_KEYS}
    for feature in names.values():
        assert feature.presence.min_fraction == 1.0 and [d.size for d in feature.shape.dim] == [1]
    assert names["input_channels"].int_domain.min == names["input_channels"].int_domain.max == 3
    assert names["input_width"].int_domain.min == CONFIG.data.min_image_side


def test_the_encoded_images_are_images_so_statistics_do_not_count_their_unique_values():
    """Top-k / unique counts of the image bytes would keep every distinct image in memory: StatisticsGen's
    memory would grow with the dataset. Marked as images, they get byte-size statistics instead."""
    names = {feature.name: feature for feature in SCHEMA.feature}
    assert all(names[key].HasField("image_domain") for key in features.IMAGE_KEYS)
    assert not names[features.PAIR_ID_KEY].HasField("image_domain")
    described = {feature.path.step[0]: feature
                 for feature in statistics_of(pair_examples(4), SCHEMA).datasets[0].features}
    for key in features.IMAGE_KEYS:
        assert described[key].WhichOneof("stats") == "bytes_stats"
        assert described[key].bytes_stats.max_num_bytes > 0
    assert described[features.PAIR_ID_KEY].string_stats.unique == 4
    assert anomalies_of(pair_examples(4)) == {}


def test_curation_marks_the_encoded_images_as_images():
    inferred = schema_pb2.Schema()
    for key in (*features.IMAGE_KEYS, features.PAIR_ID_KEY):
        inferred.feature.add(name=key, type=schema_pb2.BYTES)
    curated = {feature.name: feature for feature in schema_file.curate(inferred, min_image_side=32).feature}
    assert all(curated[key].HasField("image_domain") for key in features.IMAGE_KEYS)
    assert not curated[features.PAIR_ID_KEY].HasField("image_domain")


def test_rgb_pairs_of_any_usable_size_pass():
    assert anomalies_of(pair_examples(6, size=40) + pair_examples(6, size=300, seed=1)) == {}


def test_grayscale_where_rgb_is_expected_is_an_anomaly_of_the_channels():
    anomalies = anomalies_of(pair_examples(6, channels=1))
    assert set(anomalies) == {"input_channels", "target_channels"}
    assert "small value: 1" in anomalies["input_channels"].description.lower()


def test_a_missing_feature_is_an_anomaly():
    examples = pair_examples(4)
    for example in examples:
        del example.features.feature["target_width"]
    assert "target_width" in anomalies_of(examples)


def test_new_pair_ids_are_not_anomalies():
    """SchemaGen lists the ids it saw; the curation drops that list, or every new pair would be refused."""
    inferred = tfdv.infer_schema(statistics_of(pair_examples(5)))
    curated = schema_file.curate(inferred, min_image_side=32)
    assert anomalies_of(pair_examples(5, seed=7), curated) == {}


def test_curation_keeps_the_channel_count_observed():
    statistics = statistics_of(pair_examples(4, channels=1))
    curated = schema_file.curate(tfdv.infer_schema(statistics), min_image_side=8, statistics=statistics)
    channels = next(f for f in curated.feature if f.name == "input_channels")
    assert (channels.int_domain.min, channels.int_domain.max) == (1, 1)


@pytest.mark.parametrize("text, message", [
    ("feature { name: ", "not a text-format"),
    ('feature { name: "input_image" type: BYTES }', r"lacks the feature\(s\)"),
])
def test_a_broken_schema_file_is_refused_naming_it(tmp_path, text, message):
    path = tmp_path / "schema.pbtxt"
    path.write_text(text)
    with pytest.raises(schema_file.SchemaFileError, match=message) as error:
        schema_file.read(str(path))
    assert str(path) in str(error.value)


def test_a_missing_schema_file_names_the_setting(tmp_path):
    with pytest.raises(schema_file.SchemaFileError, match="data_validation.schema_file"):
        schema_file.read(str(tmp_path / "nope.pbtxt"))
