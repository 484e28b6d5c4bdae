"""The image properties ExampleGen records, and the order-free content fingerprint of a split."""
import numpy as np
import pytest
import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from components import features
from components.example_gen import executor, image_properties, pairing


def test_properties_describe_size_channels_and_brightness():
    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[..., 0] = 255
    assert image_properties.of_pixels("input", pixels) == {
        "input_width": 30, "input_height": 20, "input_channels": 3, "input_brightness": pytest.approx(1 / 3)}


@pytest.mark.parametrize("channels, expected", [(2, 64 / 255), (4, 64 / 3 / 255)])
def test_opacity_is_not_brightness(channels, expected):
    pixels = np.zeros((4, 4, channels), np.uint8)
    pixels[..., 0] = 64     # the colour
    pixels[..., -1] = 255   # fully opaque
    assert image_properties.of_pixels("target", pixels)["target_brightness"] == pytest.approx(expected, abs=0.01)


def test_sixteen_bit_images_are_scaled_by_their_own_depth():
    pixels = np.full((4, 4, 1), 65535, np.uint16)
    assert image_properties.of_pixels("input", pixels)["input_brightness"] == pytest.approx(1.0)


def test_the_example_carries_every_property_as_a_number():
    a, b = np.zeros((8, 10, 3), np.uint8), np.full((8, 10, 1), 255, np.uint8)
    example = pairing.make_example("p", b"a", b"b", image_properties.of_pair(a, b))
    feature = example.features.feature
    assert set(features.IMAGE_PROPERTY_KEYS) <= set(feature)
    assert feature["target_channels"].int64_list.value == [1]
    assert feature["target_brightness"].float_list.value == [pytest.approx(1.0)]


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role"):
        image_properties.of_pixels("mask", np.zeros((2, 2, 3), np.uint8))


def _fingerprint(examples, parts: int = 2):
    """The CombineFn as Beam runs it: inputs added to several accumulators, merged, extracted."""
    combine = executor._FingerprintFn()  # pylint: disable=protected-access
    accumulators = [combine.create_accumulator() for _ in range(parts)]
    for index, example in enumerate(examples):
        accumulators[index % parts] = combine.add_input(accumulators[index % parts], executor.example_digest(example))
    return combine.extract_output(combine.merge_accumulators(accumulators))


def test_the_fingerprint_in_a_beam_pipeline_is_the_same():
    examples = [pairing.make_example(f"p{i}", bytes([i]), b"t") for i in range(5)]
    with beam.Pipeline() as pipeline:
        result = (pipeline | beam.Create(examples) | beam.Map(executor.example_digest)
                  | beam.CombineGlobally(executor._FingerprintFn()))  # pylint: disable=protected-access
        assert_that(result, equal_to([_fingerprint(examples)]))


def test_the_fingerprint_depends_on_the_examples_not_their_order():
    examples = [pairing.make_example(f"p{i}", bytes([i]), b"t") for i in range(5)]
    first = _fingerprint(examples)
    assert first.startswith("sha256-sum:5:") and len(first.split(":")[2]) == 64
    assert _fingerprint(list(reversed(examples)), parts=3) == first
    changed = examples[:4] + [pairing.make_example("p4", b"other", b"t")]
    assert _fingerprint(changed) != first
    assert _fingerprint([]) == "sha256-sum:0:" + "0" * 64
