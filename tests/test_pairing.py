"""Pairing by file stem, image checks and the Example format."""
import pytest
import tensorflow as tf

from components import features
from components.example_gen import pairing
from tests import images


def test_pair_id_is_the_file_stem():
    assert pairing.pair_id_of("/d/input/facade_001.png") == "facade_001"
    assert pairing.pair_id_of("gs://b/target/x.y.jpg") == "x.y"


@pytest.mark.parametrize("pattern, expected", [
    ("*/*", "/data"), ("train/*/*", "/data/train"), ("a/b/*", "/data/a/b"), ("val?/*/*", "/data")])
def test_split_root_is_the_pattern_before_its_first_wildcard(pattern, expected):
    assert pairing.split_root("/data", pattern) == expected


def test_match_pair_accepts_exactly_one_input_and_one_target():
    pair, rejected = pairing.match_pair("x", {"input": ["/i/x.png"], "target": ["/t/x.jpg"]})
    assert pair == ("/i/x.png", "/t/x.jpg") and rejected == []


def test_match_pair_reports_unpaired_and_duplicate_stems():
    pair, rejected = pairing.match_pair("x", {"input": ["/i/x.png"]})
    assert pair is None
    assert [(r.path, r.reason) for r in rejected] == [("/i/x.png", pairing.REASON_UNPAIRED)]
    assert "no target image" in rejected[0].detail
    pair, rejected = pairing.match_pair("x", {"input": ["/i/x.png", "/i/x.jpg"], "target": ["/t/x.png"]})
    assert pair is None
    assert {r.reason for r in rejected} == {pairing.REASON_DUPLICATE_STEM}
    assert len(rejected) == 3


def test_check_image_rejects_empty_fake_and_truncated_files():
    good = images.png(16, 16)
    assert pairing.check_image("ok.png", good) is None
    assert pairing.check_image("e.png", b"").reason == pairing.REASON_EMPTY_FILE
    assert pairing.check_image("t.png", b"just text").reason == pairing.REASON_NOT_AN_IMAGE
    assert pairing.check_image("cut.png", good[: len(good) // 2]).reason == pairing.REASON_NOT_AN_IMAGE


def test_example_keeps_the_encoded_bytes_exactly():
    a, b = images.png(seed=1), images.encode(images.random_pixels(8, 8, seed=2), "JPEG")
    example = pairing.make_example("p1", a, b)
    parsed = tf.train.Example.FromString(example.SerializeToString()).features.feature
    assert parsed[features.INPUT_IMAGE_KEY].bytes_list.value == [a]
    assert parsed[features.TARGET_IMAGE_KEY].bytes_list.value == [b]
    assert parsed[features.PAIR_ID_KEY].bytes_list.value == [b"p1"]


def test_rejection_counts_by_reason():
    counts = pairing.summarize_rejections([
        pairing.Rejection("a", pairing.REASON_UNPAIRED), pairing.Rejection("b", pairing.REASON_UNPAIRED),
        pairing.Rejection("c", pairing.REASON_EMPTY_FILE)])
    assert counts == {pairing.REASON_UNPAIRED: 2, pairing.REASON_EMPTY_FILE: 1}
