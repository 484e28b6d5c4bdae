"""Exports the generator with the Transform graph inside, for TF Serving.

Signatures (names in components.features):
* ``serving_default``: ``image_bytes`` (string [-1], encoded PNG/JPEG/BMP/GIF of
  any size) -> ``generated_image_bytes`` (string [-1], encoded PNG at the model
  size). The client sends exactly what it has on disk.
* ``serving_examples``: serialized raw ``tf.Example`` -> ``generated_image``
  (uint8 [-1, H, W, C]), for Evaluator, BulkInferrer and InfraValidator.
* ``transform_features``: serialized raw ``tf.Example`` -> the transformed
  features, so evaluation sees targets exactly as training did.
The generator runs in inference mode: BatchNorm uses its moving statistics and
dropout is off, so the served model is deterministic.
"""
from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components import features


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] floats -> uint8 pixels, rounding to nearest."""
    return tf.cast(tf.math.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


class GeneratorServingModule(tf.Module):
    """Holds the generator and the Transform layer so both are saved together."""

    def __init__(self, generator: tf.keras.Model, tft_output: tft.TFTransformOutput):
        super().__init__(name="pix2pix_generator")
        self.generator = generator
        self.tft_layer = tft_output.transform_features_layer()
        raw_spec = tft_output.raw_feature_spec()
        self._raw_spec = raw_spec
        self._input_spec = {features.INPUT_IMAGE_KEY: raw_spec[features.INPUT_IMAGE_KEY]}

    def _generate(self, raw_features) -> tf.Tensor:
        transformed = self.tft_layer(raw_features)
        return to_uint8(self.generator(transformed[features.INPUT_XF], training=False))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.SERVING_INPUT_BYTES)])
    def serve_image_bytes(self, image_bytes):
        # The raw feature's shape comes from the schema (e.g. [1] per example).
        shape = self._input_spec[features.INPUT_IMAGE_KEY].shape
        pixels = self._generate({features.INPUT_IMAGE_KEY: tf.reshape(image_bytes, [-1, *shape])})
        encoded = tf.map_fn(tf.io.encode_png, pixels, fn_output_signature=tf.TensorSpec([], tf.string))
        return {features.SERVING_OUTPUT_BYTES: encoded}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, self._input_spec)
        return {features.SERVING_OUTPUT_PIXELS: self._generate(parsed)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        return self.tft_layer(tf.io.parse_example(examples, self._raw_spec))

    def signatures(self):
        return {
            features.SERVING_DEFAULT: self.serve_image_bytes.get_concrete_function(),
            features.SERVING_EXAMPLES: self.serve_examples.get_concrete_function(),
            features.TRANSFORM_FEATURES: self.transform_features.get_concrete_function(),
        }


def export_generator(generator: tf.keras.Model, tft_output: tft.TFTransformOutput, export_dir: str) -> str:
    """Writes the SavedModel that the Pusher ships to TF Serving."""
    module = GeneratorServingModule(generator, tft_output)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    return export_dir
