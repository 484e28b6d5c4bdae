"""Pairing by file stem and the Example format (writing and validating records)."""
import pytest
import tensorflow as tf

from components import features
from components.example_gen import pairing, quarantine
from tests.support import images


def test_match_pair_accepts_exactly_one_input_and_one_target():
    pair, rejected = pairing.match_pair("x", {"input": ["/i/x.png"], "target": ["/t/x.jpg"]})
    assert pair == ("/i/x.png", "/t/x.jpg") and rejected == []


def test_match_pair_reports_unpaired_and_duplicate_stems():
    pair, rejected = pairing.match_pair("x", {"input": ["/i/x.png"]})
    assert pair is None
    assert [(r.path, r.reason) for r in rejected] == [("/i/x.png", quarantine.UNPAIRED)]
    assert "no target file" in rejected[0].detail
    pair, rejected = pairing.match_pair("x", {"input": ["/i/x.png", "/i/x.jpg"], "target": ["/t/x.png"]})
    assert pair is None
    assert {r.reason for r in rejected} == {quarantine.DUPLICATE_STEM}
    assert len(rejected) == 3 and "x.jpg, x.png, x.png" in rejected[0].detail


def test_example_keeps_the_encoded_bytes_exactly():
    a, b = images.png(seed=1), images.encode(images.random_pixels(8, 8, seed=2), "JPEG")
    example = pairing.make_example("p1", a, b)
    parsed = tf.train.Example.FromString(example.SerializeToString()).features.feature
    assert parsed[features.INPUT_IMAGE_KEY].bytes_list.value == [a]
    assert parsed[features.TARGET_IMAGE_KEY].bytes_list.value == [b]
    assert parsed[features.PAIR_ID_KEY].bytes_list.value == [b"p1"]


def test_parse_example_is_the_inverse_of_make_example():
    a, b = images.png(seed=1), images.png(seed=2)
    assert pairing.parse_example(pairing.make_example("é1", a, b).SerializeToString()) == ("é1", a, b)


def _with(feature_key, feature) -> bytes:
    example = pairing.make_example("p", b"a", b"b")
    example.features.feature[feature_key].CopyFrom(feature)
    return example.SerializeToString()


@pytest.mark.parametrize("record, message", [
    (b"\xff\xff\xff garbage", "not a serialized tf.train.Example"),
    (tf.train.Example().SerializeToString(), "feature 'input_image' is missing"),
    (_with(features.PAIR_ID_KEY, tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"a", b"b"]))),
     "'pair_id' must hold exactly one bytes value, got bytes_list with 2 values"),
    (_with(features.TARGET_IMAGE_KEY, tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))),
     "got float_list"),
    (_with(features.PAIR_ID_KEY, tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"  "]))), "is empty"),
    (_with(features.PAIR_ID_KEY, tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"\xff\xfe"]))),
     "not UTF-8"),
], ids=["garbage", "empty-example", "two-pair-ids", "float-target", "blank-pair-id", "pair-id-not-utf8"])
def test_parse_example_rejects_records_outside_the_format(record, message):
    with pytest.raises(pairing.BadRecord, match=message):
        pairing.parse_example(record)
