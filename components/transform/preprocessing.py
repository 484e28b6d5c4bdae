"""Transform's ``preprocessing_fn``: encoded image bytes -> model-ready tensors.

Decode (PNG 8/16-bit, JPEG, BMP, GIF first frame) -> the configured number of
channels -> resize to image_size x image_size -> scale to [-1, 1], the range of
the generator's tanh. The same graph runs in the Trainer's input pipeline and
inside the exported serving signature, so training and serving cannot skew.
It has no analyzers: it is a pure per-example function of the bytes.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import tensorflow as tf

from components import features, typed_settings

SUPPORTED_CHANNELS = (1, 3)   # grayscale or RGB: what tf.io.decode_image gives for every format read


def decode_to_unit_range(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """One encoded image (scalar string) -> float32 [H, W, channels] in [0, 1], at its own size."""
    # dtype=float32 maps both 8- and 16-bit images to [0, 1] exactly.
    return tf.io.decode_image(encoded, channels=channels, dtype=tf.float32, expand_animations=False)


def to_model_range(image: tf.Tensor) -> tf.Tensor:
    """[0, 1] -> [-1, 1], the range of the generator's tanh (values a resize pushed out are clipped first)."""
    return tf.clip_by_value(image, 0.0, 1.0) * 2.0 - 1.0


def decode_and_normalize(encoded: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
    """One encoded image (scalar string) -> float32 [size, size, channels] in [-1, 1]."""
    image = decode_to_unit_range(encoded, channels)
    image = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
    return to_model_range(image)


def _images(encoded_batch: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
    encoded_batch = tf.reshape(encoded_batch, [-1])  # [B] or [B, 1] -> [B]
    return tf.map_fn(
        lambda encoded: decode_and_normalize(encoded, image_size, channels),
        encoded_batch,
        fn_output_signature=tf.TensorSpec([image_size, image_size, channels], tf.float32))


def preprocessing_fn(inputs: Dict[str, tf.Tensor],
                     custom_config: Optional[Dict[str, Any]] = None) -> Dict[str, tf.Tensor]:
    """TFX Transform entry point; ``custom_config`` holds the config's transform section."""
    from components.transform.settings import SECTION, TransformSettings  # it imports SUPPORTED_CHANNELS from here

    settings = typed_settings.unpack(custom_config or {}, SECTION, TransformSettings)
    size, channels = settings.image_size, settings.channels
    return {
        features.INPUT_XF: _images(inputs[features.INPUT_IMAGE_KEY], size, channels),
        features.TARGET_XF: _images(inputs[features.TARGET_IMAGE_KEY], size, channels),
    }
