"""Transform's preprocessing: any supported encoding -> [size, size, C] floats in [-1, 1]."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.transform import preprocessing
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE


@pytest.mark.parametrize("pixels, fmt", [
    (images.random_pixels(10, 14), "PNG"),
    (images.random_pixels(10, 14, dtype=np.uint16, channels=1), "PNG"),   # 16-bit grayscale
    (images.random_pixels(10, 14, channels=1), "PNG"),                   # 8-bit grayscale
    (images.random_pixels(10, 14, channels=4), "PNG"),                   # RGBA
    (images.random_pixels(10, 14), "JPEG"),
    (images.random_pixels(10, 14), "BMP"),
    (images.random_pixels(10, 14), "GIF"),
])
def test_every_supported_encoding_becomes_rgb_in_minus_one_to_one(pixels, fmt):
    out = preprocessing.decode_and_normalize(tf.constant(images.encode(pixels, fmt)), 8, 3).numpy()
    assert out.shape == (8, 8, 3)
    assert out.min() >= -1.0 and out.max() <= 1.0


def test_sixteen_bit_values_are_scaled_not_truncated():
    white16 = np.full((8, 8), 65535, dtype=np.uint16)
    out = preprocessing.decode_and_normalize(tf.constant(images.encode(white16)), 8, 3).numpy()
    np.testing.assert_allclose(out, 1.0, atol=1e-6)


def test_exact_pixel_mapping_at_the_native_size():
    pixels = np.array([[[0, 255, 51]] * 4] * 4, dtype=np.uint8)
    out = preprocessing.decode_and_normalize(tf.constant(images.encode(pixels)), 4, 3).numpy()
    np.testing.assert_allclose(out[0, 0], [-1.0, 1.0, 51 / 127.5 - 1.0], atol=1e-6)


def test_preprocessing_fn_handles_a_batch_of_mixed_sizes():
    batch = tf.constant([[images.png(5, 9, seed=1)], [images.png(30, 12, seed=2)]])
    out = preprocessing.preprocessing_fn(
        {features.INPUT_IMAGE_KEY: batch, features.TARGET_IMAGE_KEY: batch},
        {"transform": {"image_size": 16, "channels": 3}})
    assert out[features.INPUT_XF].shape == (2, 16, 16, 3)
    assert out[features.TARGET_XF].shape == (2, 16, 16, 3)


def test_preprocessing_fn_without_its_config_says_what_it_needs():
    with pytest.raises(ValueError, match="custom_config: missing the 'transform' section"):
        preprocessing.preprocessing_fn({}, None)
    with pytest.raises(ValueError, match="transform: missing key 'channels'"):
        preprocessing.preprocessing_fn({}, {"transform": {"image_size": 16}})


def test_the_tft_graph_applies_the_same_function(transform_output_dir):
    tft_output = tft.TFTransformOutput(transform_output_dir)
    encoded = images.png(11, 7, seed=5)
    layer_out = tft_output.transform_features_layer()({
        features.INPUT_IMAGE_KEY: tf.constant([[encoded]]), features.TARGET_IMAGE_KEY: tf.constant([[encoded]]),
        features.PAIR_ID_KEY: tf.constant([[b"x"]])})
    direct = preprocessing.decode_and_normalize(tf.constant(encoded), TINY_IMAGE_SIZE, 3)
    np.testing.assert_allclose(layer_out[features.INPUT_XF][0].numpy(), direct.numpy(), atol=1e-6)
