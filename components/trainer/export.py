"""Exports the generator with the Transform graph inside, for TF Serving.

Signatures (names in components.features):
* ``serving_default``: ``image_bytes`` (string [-1], encoded PNG/JPEG/BMP/GIF of
  any size) -> ``generated_image_bytes`` (string [-1], encoded PNG at the model
  size, or at each input's size with ``output_size="input"``). The client sends
  exactly what it has on disk. Each image's size is read from its header and
  checked against ``max_input_pixels`` *before* anything is decoded, so a
  decompression bomb costs a few header bytes, not gigabytes.
* ``serving_examples``: serialized raw ``tf.Example`` -> ``generated_image``
  (uint8 [-1, H, W, C]), for Evaluator, BulkInferrer and InfraValidator.
* ``transform_features``: serialized raw ``tf.Example`` -> the transformed
  features, so evaluation sees targets exactly as training did.
The generator runs in inference mode: BatchNorm uses its moving statistics and
dropout is off, so the served model is deterministic.

Bad requests to ``serving_default`` fail with ``InvalidArgumentError`` naming the
element (``image_bytes[i]``) and what was wrong: empty, not a PNG/JPEG/BMP/GIF,
a truncated header, or more pixels than the limit. TF Serving returns that
text as the REST ``error`` (HTTP 400) or the gRPC status detail.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
import tensorflow_transform as tft

from components import features

# A 4096 x 4096 image decodes to 200 MB of float32; larger uploads are refused.
DEFAULT_MAX_INPUT_PIXELS = 4096 * 4096
# Size of the generated PNG: the model's square size, or each input's own size.
OUTPUT_SIZE_MODEL = "model"
OUTPUT_SIZE_INPUT = "input"
OUTPUT_SIZES = (OUTPUT_SIZE_MODEL, OUTPUT_SIZE_INPUT)

SUPPORTED_FORMATS = "PNG, JPEG, BMP or GIF"
# Magic bytes, and the bytes needed to read width and height from each header.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_HEADER_BYTES = 24            # IHDR: big-endian uint32 width at 16, height at 20
GIF_SIGNATURE = b"GIF8"
GIF_HEADER_BYTES = 10            # logical screen: little-endian uint16 width at 6, height at 8
BMP_SIGNATURE = b"BM"
BMP_HEADER_BYTES = 26            # BITMAPINFOHEADER: little-endian int32 width at 18, height at 22
JPEG_SIGNATURE = b"\xff\xd8\xff"  # size from the SOF segment (tf.io.extract_jpeg_shape)
NOT_AN_IMAGE = -1                # header size of bytes that are no supported image
FIRST_BYTES_SHOWN = 8            # of a rejected request, as numbers (the bytes may not be UTF-8)


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] floats -> uint8 pixels, rounding to nearest."""
    return tf.cast(tf.math.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def _header_uint(encoded: tf.Tensor, offset: int, num_bytes: int, little_endian: bool) -> tf.Tensor:
    """Unsigned integer stored in ``encoded[offset:offset + num_bytes]`` (int64)."""
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(encoded, offset, num_bytes), tf.uint8), tf.int64)
    weights = [256 ** i for i in range(num_bytes)]
    return tf.reduce_sum(raw * tf.constant(weights if little_endian else weights[::-1], tf.int64))


def _bmp_int32(encoded: tf.Tensor, offset: int) -> tf.Tensor:
    """|int32| at offset: BMP heights are negative for top-down bitmaps."""
    value = _header_uint(encoded, offset, 4, little_endian=True)
    return tf.abs(tf.where(value >= 2 ** 31, value - 2 ** 32, value))


def encoded_image_size(encoded: tf.Tensor) -> tf.Tensor:
    """(height, width) int64 read from the header of one encoded image, pixels untouched.

    [-1, -1] when the bytes are not a PNG/JPEG/BMP/GIF or the header is cut short.
    A corrupt JPEG header raises InvalidArgumentError from extract_jpeg_shape.
    """
    length = tf.strings.length(encoded)

    def has(signature: bytes, header_bytes: int) -> tf.Tensor:
        return tf.logical_and(length >= header_bytes,
                              tf.equal(tf.strings.substr(encoded, 0, len(signature)), signature))

    def png():
        return tf.stack([_header_uint(encoded, 20, 4, False), _header_uint(encoded, 16, 4, False)])

    def gif():
        return tf.stack([_header_uint(encoded, 8, 2, True), _header_uint(encoded, 6, 2, True)])

    def bmp():
        return tf.stack([_bmp_int32(encoded, 22), _bmp_int32(encoded, 18)])

    def jpeg():
        return tf.io.extract_jpeg_shape(encoded, output_type=tf.int64)[:2]

    return tf.case([(has(PNG_SIGNATURE, PNG_HEADER_BYTES), png),
                    (has(GIF_SIGNATURE, GIF_HEADER_BYTES), gif),
                    (has(BMP_SIGNATURE, BMP_HEADER_BYTES), bmp),
                    (has(JPEG_SIGNATURE, len(JPEG_SIGNATURE)), jpeg)],
                   default=lambda: tf.constant([NOT_AN_IMAGE, NOT_AN_IMAGE], tf.int64), exclusive=False)


def checked_input_sizes(image_bytes: tf.Tensor, max_input_pixels: Optional[int]) -> tf.Tensor:
    """[N, 2] (height, width) of each request image; InvalidArgumentError naming the bad one."""

    def check(args):
        index, encoded = args
        element = features.SERVING_INPUT_BYTES + "[{}]"  # the request element, as clients number them
        length = tf.strings.length(encoded)
        asserts = [tf.debugging.Assert(length > 0, [tf.strings.format(
            element + f" is empty: expected an encoded {SUPPORTED_FORMATS} image", (index,))])]
        with tf.control_dependencies(asserts):
            size = encoded_image_size(encoded)
        first_bytes = tf.io.decode_raw(tf.strings.substr(encoded, 0, tf.minimum(FIRST_BYTES_SHOWN, length)), tf.uint8)
        asserts = [tf.debugging.Assert(tf.reduce_all(size > 0), [tf.strings.format(
            element + f" is not a {SUPPORTED_FORMATS} image (or its header is cut short or says 0 pixels): "
            "{} bytes starting with {}", (index, length, first_bytes), summarize=FIRST_BYTES_SHOWN)])]
        if max_input_pixels is not None:
            with tf.control_dependencies(asserts):
                asserts.append(tf.debugging.Assert(size[0] * size[1] <= max_input_pixels, [tf.strings.format(
                    element + " is {}x{} pixels (width x height) = {} pixels, above the limit of "
                    f"{max_input_pixels} pixels; send a smaller image", (index, size[1], size[0], size[0] * size[1]))]))
        with tf.control_dependencies(asserts):
            return tf.identity(size)

    indices = tf.range(tf.shape(image_bytes, out_type=tf.int64)[0])
    return tf.map_fn(check, (indices, image_bytes), fn_output_signature=tf.TensorSpec([2], tf.int64))


class GeneratorServingModule(tf.Module):
    """Holds the generator and the Transform layer so both are saved together."""

    def __init__(self, generator: tf.keras.Model, tft_output: tft.TFTransformOutput,
                 max_input_pixels: Optional[int] = DEFAULT_MAX_INPUT_PIXELS,
                 output_size: str = OUTPUT_SIZE_MODEL):
        super().__init__(name="pix2pix_generator")
        if output_size not in OUTPUT_SIZES:
            raise ValueError(f"output_size: got {output_size!r}; allowed values: {list(OUTPUT_SIZES)}")
        if max_input_pixels is not None and max_input_pixels < 1:
            raise ValueError(f"max_input_pixels: got {max_input_pixels!r}; expected an integer >= 1 or None "
                             "(no limit)")
        self.generator = generator
        self.tft_layer = tft_output.transform_features_layer()
        raw_spec = tft_output.raw_feature_spec()
        self._raw_spec = raw_spec
        self._input_spec = {features.INPUT_IMAGE_KEY: raw_spec[features.INPUT_IMAGE_KEY]}
        self._max_input_pixels = max_input_pixels
        self._output_size = output_size

    def _generate_float(self, raw_features) -> tf.Tensor:
        """Raw features -> the generator's [-1, 1] output at the model size."""
        transformed = self.tft_layer(raw_features)
        return self.generator(transformed[features.INPUT_XF], training=False)

    def _generate_pngs(self, image_bytes: tf.Tensor, sizes: tf.Tensor) -> tf.Tensor:
        """[N] encoded images (N >= 1) and their [N, 2] sizes -> [N] generated PNGs."""
        # The raw feature's shape comes from the schema (e.g. [1] per example).
        shape = self._input_spec[features.INPUT_IMAGE_KEY].shape
        generated = self._generate_float({features.INPUT_IMAGE_KEY: tf.reshape(image_bytes, [-1, *shape])})
        png = tf.TensorSpec([], tf.string)
        if self._output_size == OUTPUT_SIZE_INPUT:
            return tf.map_fn(
                lambda args: tf.io.encode_png(to_uint8(
                    tf.image.resize(args[0], tf.cast(args[1], tf.int32), antialias=True))),
                (generated, sizes), fn_output_signature=png)
        return tf.map_fn(tf.io.encode_png, to_uint8(generated), fn_output_signature=png)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.SERVING_INPUT_BYTES)])
    def serve_image_bytes(self, image_bytes):
        sizes = checked_input_sizes(image_bytes, self._max_input_pixels)
        with tf.control_dependencies([sizes]):  # nothing is decoded before every check passed
            image_bytes = tf.identity(image_bytes)
        # An empty request gets an empty answer (convolutions refuse a batch of 0 on some CPUs).
        encoded = tf.cond(tf.size(image_bytes) > 0, lambda: self._generate_pngs(image_bytes, sizes),
                          lambda: tf.constant([], tf.string))
        return {features.SERVING_OUTPUT_BYTES: encoded}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(self, examples):
        parsed = tf.io.parse_example(examples, self._input_spec)
        return {features.SERVING_OUTPUT_PIXELS: to_uint8(self._generate_float(parsed))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(self, examples):
        return self.tft_layer(tf.io.parse_example(examples, self._raw_spec))

    def signatures(self):
        return {
            features.SERVING_DEFAULT: self.serve_image_bytes.get_concrete_function(),
            features.SERVING_EXAMPLES: self.serve_examples.get_concrete_function(),
            features.TRANSFORM_FEATURES: self.transform_features.get_concrete_function(),
        }


def export_generator(generator: tf.keras.Model, tft_output: tft.TFTransformOutput, export_dir: str,
                     max_input_pixels: Optional[int] = DEFAULT_MAX_INPUT_PIXELS,
                     output_size: str = OUTPUT_SIZE_MODEL) -> str:
    """Writes the SavedModel that the Pusher ships to TF Serving.

    ``max_input_pixels`` (None: no limit) and ``output_size`` ("model" or
    "input") apply to ``serving_default`` only: the Evaluator's
    ``serving_examples`` scores the project's own data at the model size.
    """
    module = GeneratorServingModule(generator, tft_output, max_input_pixels, output_size)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    return export_dir
