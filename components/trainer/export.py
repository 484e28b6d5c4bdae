"""Exports the generator with the Transform graph inside, for TF Serving.

Signatures (names in components.features):
* ``serving_default``: ``image_bytes`` (string [-1], encoded PNG, JPEG or BMP of
  any size) -> ``generated_image_bytes`` (string [-1], encoded PNGs). Each image
  is translated on its own, by ``serving.inference`` (``inference.py``):
  ``tiled`` answers at the input's exact width and height from blended
  overlapping tiles; ``resize`` keeps the aspect (long side at the training size,
  reflect-padded, never squashed) and answers at that scale, or at the input's
  size with ``output_size="input"``. The client sends exactly what it has on disk.
  The generator runs in inference mode (BatchNorm's moving statistics, dropout
  off): deterministic, the production choice.
* ``serving_stochastic``: the same, plus ``seed`` (int64): the generator as the
  paper runs it at test time (dropout on, each image's own statistics;
  ``stochastic.py``). The same seed gives the same image.
* ``serving_examples`` (and ``serving_examples_stochastic`` with ``seed``):
  serialized raw ``tf.Example`` -> ``generated_image`` (uint8 [-1, H, W, C]) at
  the training size, as Transform made the training inputs; for the Evaluator,
  BulkInferrer and InfraValidator.
* ``transform_features``: serialized raw ``tf.Example`` -> the transformed
  features, so evaluation sees targets exactly as training did.
Every export carries ``assets.extra/tf_serving_warmup_requests`` (``warmup.py``).

TF Serving exposes every signature (REST ``signature_name``), so all three check
every image the same way *before* anything is decoded: the size that
TensorFlow's decoder will allocate is read from the very header fields that
decoder reads (tensorflow/core/kernels/image/decode_image_op.cc), and more pixels
than the limit are refused, so a decompression bomb costs a few header bytes:

* PNG: IHDR width and height (the first chunk, as libpng requires).
* JPEG (baseline and progressive): ``tf.io.extract_jpeg_shape``, libjpeg's own
  ``jpeg_read_header``, as the decoder calls it; the markers up to the frame
  header are walked first so a damaged header is refused by name.
* BMP: the int32 width and height at bytes 18 and 22 that TF's BMP decoder
  reads whatever the header variant, its bits per pixel and its exact file
  size. Top-down BMPs (negative height) are refused: TF 2.16 decodes them
  as floats (what Transform asks for) past its buffer and crashes the process.
* GIF is refused: TF's decoder expands every frame (giflib's DGifSlurp) before
  any size could be checked, and the frames' sizes are not in the header, so a
  48 KB GIF whose screen says 1x1 decodes to gigabytes. Clients convert GIFs
  (e.g. their first frame) to PNG before sending.
Accepted images decode to one frame of ``transform.channels``; as floats that is
the decode buffer (up to 4 channels of 16 bits), a float32 copy and the resize's
intermediates: about 560 MB of peak memory for a 16-bit RGBA image at the default
limit (measured), less for 8-bit images. A request of several such images decodes
them a few at a time (tf.map_fn), so size the server for a few images at the limit.

Every signature checks against the same ``max_input_pixels``: ``serving_default``
its request images, the examples signatures the input image (and
``transform_features`` the target too) of each ``tf.Example``. The config keeps
``data.max_image_pixels`` within it, so every ingested image can be scored.

Bad requests fail with ``InvalidArgumentError`` naming the element
(``image_bytes[i]``, or ``examples[i] feature input_image``) and what was wrong:
empty, a format serving does not accept, a header cut short or damaged, or more
pixels than the limit. TF Serving returns that text as the REST ``error`` (HTTP
400) or the gRPC status detail.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.trainer import inference, tflite_export, warmup
from components.trainer.stochastic import StochasticGenerator
from components.transform import preprocessing

# A 4096 x 4096 image peaks at ~560 MB while decoded (see the module doc); larger uploads are refused.
DEFAULT_MAX_INPUT_PIXELS = 4096 * 4096
# Size of the generated PNG: the model's square size, or each input's own size.
OUTPUT_SIZE_MODEL = "model"
OUTPUT_SIZE_INPUT = "input"
OUTPUT_SIZES = (OUTPUT_SIZE_MODEL, OUTPUT_SIZE_INPUT)

SUPPORTED_FORMATS = "PNG, JPEG or BMP"
# The saved object's attribute holding the generator's variables (warm starts read the blessed weights from it).
GENERATOR_VARIABLES = "generator_variables"
EXAMPLES_INPUT = "examples"       # the examples signatures' input, as their errors name it
# Magic bytes, as TF's decoder classifies them, and the bytes each header check needs.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_HEADER_BYTES = 24             # IHDR: length, type at 12, big-endian uint32 width at 16, height at 20
PNG_FIRST_CHUNK = b"IHDR"
JPEG_SIGNATURE = b"\xff\xd8\xff"
GIF_SIGNATURE = b"GIF8"
BMP_SIGNATURE = b"BM"
BMP_HEADER_BYTES = 32             # TF's BMP decoder refuses fewer
BMP_CHANNELS = (1, 3, 4)          # bits per pixel // 8 that TF's BMP decoder reads
BMP_ROW_ALIGNMENT = 4             # bytes
# Reads past the end of the bytes see zeros (never an out-of-range error); no read is longer than this.
ZERO_PADDING = b"\x00" * max(PNG_HEADER_BYTES, BMP_HEADER_BYTES)
FIRST_BYTES_SHOWN = 8             # of a rejected request, as numbers (the bytes may not be UTF-8)

# JPEG markers (ITU T.81 B.1.1.3): frame headers (SOFn) carry the size; standalone ones have no length.
JPEG_MARKER = 0xFF
JPEG_SOF_MARKERS = (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF)
JPEG_STANDALONE_MARKERS = (0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7)  # TEM, RST0-7
JPEG_NO_FRAME_MARKERS = (0xD8, 0xD9, 0xDA)  # SOI again, EOI, or a scan (SOS) before any frame header
JPEG_LOWEST_MARKER = 0xC0         # codes below (but TEM) are reserved
JPEG_FIRST_MARKER_AT = 2          # after SOI
# Real JPEGs have a few dozen segments before the frame header; a hostile one gets no more steps than this.
MAX_JPEG_MARKERS = 512

# Why a header is refused (index into HEADER_PROBLEMS); HEADER_OK when it is not.
HEADER_OK, NOT_AN_IMAGE, GIF_REFUSED, PNG_DAMAGED, JPEG_DAMAGED, BMP_DAMAGED, BMP_TOP_DOWN, BMP_DEPTH, \
    BMP_FILE_SIZE = range(9)
HEADER_PROBLEMS = (
    "",
    f"is not a {SUPPORTED_FORMATS} image",
    f"is a GIF, which serving does not accept (TensorFlow decodes every frame of a GIF, and their sizes are "
    f"not in its header); send a {SUPPORTED_FORMATS} image, e.g. its first frame as PNG",
    "is a PNG whose header is cut short or damaged (its first chunk must be IHDR)",
    "is a JPEG whose header is cut short or damaged (no frame header found in its markers)",
    "is a BMP whose header is cut short or damaged (TensorFlow reads a 32-byte header, a positive width "
    "and a non-zero height)",
    "is a top-down BMP (negative height), which TensorFlow cannot decode safely; send it bottom-up or as PNG",
    "is a BMP of a depth TensorFlow cannot decode (8, 24 or 32 bits per pixel, uncompressed)",
    "is a BMP whose size does not match its header (compressed, truncated or with trailing bytes); send it "
    "uncompressed or as PNG",
)


def to_uint8(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] floats -> uint8 pixels, rounding to nearest."""
    return tf.cast(tf.math.round(tf.clip_by_value((images + 1.0) * 127.5, 0.0, 255.0)), tf.uint8)


def _bytes_at(encoded: tf.Tensor, offset, num_bytes: int) -> tf.Tensor:
    """``encoded[offset:offset + num_bytes]`` as int64 [num_bytes], zeros past the end (never out of range)."""
    offset = tf.minimum(tf.cast(offset, tf.int32), tf.strings.length(encoded))
    window = tf.strings.join([tf.strings.substr(encoded, offset, num_bytes), ZERO_PADDING])
    raw = tf.io.decode_raw(tf.strings.substr(window, 0, num_bytes), tf.uint8)
    return tf.reshape(tf.cast(raw, tf.int64), [num_bytes])


def _uint(raw: tf.Tensor, little_endian: bool) -> tf.Tensor:
    """Unsigned integer stored in the bytes ``raw`` (int64)."""
    weights = [256 ** i for i in range(raw.shape[0])]
    return tf.reduce_sum(raw * tf.constant(weights if little_endian else weights[::-1], tf.int64))


def _signed(value: tf.Tensor, bits: int) -> tf.Tensor:
    """Two's complement: BMP stores int32 sizes (top-down heights are negative) and an int16 depth."""
    return tf.where(value >= 2 ** (bits - 1), value - 2 ** bits, value)


def _starts_with(encoded: tf.Tensor, signature: bytes) -> tf.Tensor:
    return tf.equal(tf.strings.substr(encoded, 0, len(signature)), signature)


def _is_one_of(value: tf.Tensor, allowed) -> tf.Tensor:
    return tf.reduce_any(tf.equal(value, tf.constant(allowed, value.dtype)))


def _header(problem: int, height, width) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    return tf.constant(problem, tf.int32), tf.cast(height, tf.int64), tf.cast(width, tf.int64)


def _png_header(encoded: tf.Tensor):
    raw = _bytes_at(encoded, 0, PNG_HEADER_BYTES)
    height, width = _uint(raw[20:24], little_endian=False), _uint(raw[16:20], little_endian=False)
    intact = tf.reduce_all(tf.equal(raw[12:16], tf.constant(list(PNG_FIRST_CHUNK), tf.int64)))
    intact = intact & (tf.strings.length(encoded) >= PNG_HEADER_BYTES) & (height > 0) & (width > 0)
    return tf.where(intact, HEADER_OK, PNG_DAMAGED), height, width


def _jpeg_has_frame_header(encoded: tf.Tensor) -> tf.Tensor:
    """Whether the markers after SOI lead, intact, to a frame header (SOFn) before any scan, as libjpeg reads them.

    Only then is libjpeg asked for the size, so a damaged header gets this
    module's error naming the element rather than libjpeg's anonymous one.
    """
    length = tf.strings.length(encoded)
    walking, found, failed = 0, 1, 2

    def step(position, steps, _):
        raw = _bytes_at(encoded, position, 4)
        marker, segment = raw[1], tf.cast(raw[2] * 256 + raw[3], tf.int32)
        fill = tf.equal(marker, JPEG_MARKER)  # any number of 0xFF may precede a marker
        standalone = _is_one_of(marker, JPEG_STANDALONE_MARKERS)
        has_length = ~fill & ~standalone
        broken = (tf.not_equal(raw[0], JPEG_MARKER) | (position + 2 > length) | (steps >= MAX_JPEG_MARKERS)
                  | ~(fill | standalone | (marker >= JPEG_LOWEST_MARKER)) | _is_one_of(marker, JPEG_NO_FRAME_MARKERS)
                  | (has_length & ((segment < 2) | (position + 2 + segment > length))))
        state = tf.where(broken, failed, tf.where(_is_one_of(marker, JPEG_SOF_MARKERS), found, walking))
        advance = tf.where(fill, 1, tf.where(standalone, 2, 2 + segment))
        return position + advance, steps + 1, state

    _, _, state = tf.while_loop(lambda position, steps, state: tf.equal(state, walking), step,
                                (tf.constant(JPEG_FIRST_MARKER_AT), tf.constant(0), tf.constant(walking)))
    return tf.equal(state, found)


def _jpeg_header(encoded: tf.Tensor):
    size = tf.cond(_jpeg_has_frame_header(encoded),
                   lambda: tf.io.extract_jpeg_shape(encoded, output_type=tf.int64)[:2],  # libjpeg's header
                   lambda: tf.constant([0, 0], tf.int64))
    return tf.where(tf.reduce_all(size > 0), HEADER_OK, JPEG_DAMAGED), size[0], size[1]


def _bmp_header(encoded: tf.Tensor):
    """The fields TF's BMP decoder reads, and the checks it makes, so the decoder never sees what it refuses."""
    raw = _bytes_at(encoded, 0, BMP_HEADER_BYTES)
    pixels_at = _signed(_uint(raw[10:14], little_endian=True), 32)
    width = _signed(_uint(raw[18:22], little_endian=True), 32)
    height = _signed(_uint(raw[22:26], little_endian=True), 32)
    channels = tf.truncatediv(_signed(_uint(raw[28:30], little_endian=True), 16), 8)
    row_bytes = (channels * width + BMP_ROW_ALIGNMENT - 1) // BMP_ROW_ALIGNMENT * BMP_ROW_ALIGNMENT
    length = tf.cast(tf.strings.length(encoded), tf.int64)
    problem = tf.where(
        (length < BMP_HEADER_BYTES) | (width <= 0) | (height == 0) | (pixels_at < 0), BMP_DAMAGED,
        tf.where(~_is_one_of(channels, BMP_CHANNELS), BMP_DEPTH,
                 tf.where(height < 0, BMP_TOP_DOWN,
                          tf.where(pixels_at + row_bytes * tf.abs(height) != length, BMP_FILE_SIZE, HEADER_OK))))
    return problem, tf.abs(height), width


def read_image_header(encoded: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(problem, height, width) of one encoded image, from the header fields TF's decoder sizes by.

    ``problem`` is HEADER_OK or the index of what is wrong in HEADER_PROBLEMS;
    nothing is decoded. Formats are told apart by TF's own magic bytes.
    """
    return tf.case([(_starts_with(encoded, JPEG_SIGNATURE), lambda: _jpeg_header(encoded)),
                    (_starts_with(encoded, PNG_SIGNATURE), lambda: _png_header(encoded)),
                    (_starts_with(encoded, GIF_SIGNATURE), lambda: _header(GIF_REFUSED, -1, -1)),
                    (_starts_with(encoded, BMP_SIGNATURE), lambda: _bmp_header(encoded))],
                   default=lambda: _header(NOT_AN_IMAGE, -1, -1), exclusive=False)


def encoded_image_size(encoded: tf.Tensor) -> tf.Tensor:
    """(height, width) int64 that TF's decoder will allocate for one encoded image, pixels untouched.

    [-1, -1] for whatever serving refuses (see read_image_header).
    """
    problem, height, width = read_image_header(encoded)
    return tf.where(tf.equal(problem, HEADER_OK), tf.stack([height, width]), tf.constant([-1, -1], tf.int64))


def _checked_sizes(images: tf.Tensor, shown_indices: tf.Tensor, element: str,
                   max_pixels: Optional[int]) -> tf.Tensor:
    """[N, 2] (height, width) of N encoded images; InvalidArgumentError naming ``element`` (with its index).

    ``element`` has one ``{}`` for the index that the caller's client sees.
    """
    problems = tf.constant(HEADER_PROBLEMS)

    def check(args):
        index, encoded = args
        named = tf.strings.format(element, (index,))
        length = tf.strings.length(encoded)
        asserts = [tf.debugging.Assert(length > 0, [tf.strings.join([
            named, f" is empty: expected an encoded {SUPPORTED_FORMATS} image"])])]
        with tf.control_dependencies(asserts):
            problem, height, width = read_image_header(encoded)
        first_bytes = tf.io.decode_raw(tf.strings.substr(encoded, 0, tf.minimum(FIRST_BYTES_SHOWN, length)), tf.uint8)
        asserts = [tf.debugging.Assert(tf.equal(problem, HEADER_OK), [tf.strings.join([
            named, " ", tf.gather(problems, problem), tf.strings.format(
                ": {} bytes starting with {}", (length, first_bytes), summarize=FIRST_BYTES_SHOWN)])])]
        if max_pixels is not None:
            with tf.control_dependencies(asserts):
                # Each side first: a header claiming 2^32-1 x 2^32-1 would wrap the product around in int64.
                within = tf.logical_and(tf.logical_and(height <= max_pixels, width <= max_pixels),
                                        height * width <= max_pixels)
                asserts.append(tf.debugging.Assert(within, [tf.strings.join([
                    named, tf.strings.format(
                        " is {}x{} pixels (width x height) = {} pixels, above the limit of "
                        f"{max_pixels} pixels; send a smaller image", (width, height, height * width))])]))
        with tf.control_dependencies(asserts):
            return tf.stack([height, width])

    return tf.map_fn(check, (shown_indices, images), fn_output_signature=tf.TensorSpec([2], tf.int64))


def checked_input_sizes(image_bytes: tf.Tensor, max_input_pixels: Optional[int]) -> tf.Tensor:
    """[N, 2] (height, width) of each request image; InvalidArgumentError naming ``image_bytes[i]``."""
    indices = tf.range(tf.shape(image_bytes, out_type=tf.int64)[0])
    return _checked_sizes(image_bytes, indices, features.SERVING_INPUT_BYTES + "[{}]", max_input_pixels)


def checked_example_images(parsed: Dict[str, tf.Tensor], max_pixels: Optional[int]) -> Dict[str, tf.Tensor]:
    """The parsed raw features, released only once every image in them passed the same checks.

    Errors name ``examples[i] feature <key>``: the request element and the feature.
    """
    checks = []
    for key in (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY):
        if key not in parsed:
            continue
        per_example = parsed[key].shape[1:].num_elements()  # the schema's fixed shape, e.g. [1]
        values = tf.reshape(parsed[key], [-1])  # [B, k] -> [B * k]
        shown = tf.range(tf.size(values, out_type=tf.int64)) // max(per_example, 1)
        checks.append(_checked_sizes(values, shown, f"{EXAMPLES_INPUT}[{{}}] feature {key}", max_pixels))
    with tf.control_dependencies(checks):  # nothing is decoded before every check passed
        return {key: tf.identity(value) for key, value in parsed.items()}


class _Untracked:
    """Holds a model out of tf.Module's dependency tracking (its variables are tracked on their own)."""

    def __init__(self, model: tf.keras.Model):
        self.model = model


class GeneratorServingModule(tf.Module):
    """Holds the generator and the Transform layer so both are saved together."""

    def __init__(self, generator: tf.keras.Model, tft_output: tft.TFTransformOutput,
                 max_input_pixels: Optional[int] = DEFAULT_MAX_INPUT_PIXELS,
                 output_size: str = OUTPUT_SIZE_MODEL, inference_mode: str = inference.INFERENCE_RESIZE,
                 tile_scale: float = 1.0, tile_overlap: float = 0.25):
        super().__init__(name="pix2pix_generator")
        if output_size not in OUTPUT_SIZES:
            raise ValueError(f"output_size: got {output_size!r}; allowed values: {list(OUTPUT_SIZES)}")
        if inference_mode not in inference.INFERENCE_MODES:
            raise ValueError(f"inference: got {inference_mode!r}; allowed values: {list(inference.INFERENCE_MODES)}")
        if max_input_pixels is not None and max_input_pixels < 1:
            raise ValueError(f"max_input_pixels: got {max_input_pixels!r}; expected an integer >= 1 or None")
        # The generator is called through a plain holder and only its variables are tracked: saving a tracked
        # Keras model would also trace and write every layer's call functions (most of the export's time).
        self._deterministic_generator = _Untracked(generator)
        setattr(self, GENERATOR_VARIABLES, list(generator.variables))
        self.tft_layer = tft_output.transform_features_layer()
        raw_spec = tft_output.raw_feature_spec()
        # transform_features answers for the pair's features, not the image properties (validation's, not serving's).
        self._raw_spec = {key: spec for key, spec in raw_spec.items() if key not in features.IMAGE_PROPERTY_KEYS}
        self._input_spec = {features.INPUT_IMAGE_KEY: raw_spec[features.INPUT_IMAGE_KEY]}
        self._max_input_pixels = max_input_pixels
        self._output_size = output_size
        self._inference = inference_mode
        self._tile_scale = tile_scale
        self._tile_overlap = tile_overlap
        _, self._tile, _, self._channels = generator.input_shape
        # The paper's test-time generator: a clone with the same weight values. Its variables are tracked as a
        # plain list (saved with the model) rather than as a Keras model, whose per-layer call functions would
        # capture the per-request seed.
        self._stochastic = StochasticGenerator(generator)
        self.stochastic_variables = list(self._stochastic.model.variables)

    def _generate_float(self, raw_features) -> tf.Tensor:
        """Raw features -> the generator's [-1, 1] output at the model size."""
        transformed = self.tft_layer(raw_features)
        return self._deterministic_generator.model(transformed[features.INPUT_XF], training=False)

    def _translate(self, encoded: tf.Tensor, size: tf.Tensor, generate) -> tf.Tensor:
        """One encoded image and its [2] size -> the generated PNG, by ``serving.inference``."""
        image = preprocessing.to_model_range(preprocessing.decode_to_unit_range(encoded, self._channels))
        image = tf.ensure_shape(image, [None, None, self._channels])
        if self._inference == inference.INFERENCE_TILED:
            generated = inference.translate_tiled(generate, image, self._tile, overlap=self._tile_overlap,
                                                  scale=self._tile_scale)
        else:
            generated = inference.translate_resized(generate, image, self._tile)
            if self._output_size == OUTPUT_SIZE_INPUT:
                generated = tf.image.resize(generated, tf.cast(size, tf.int32), antialias=True)
        return tf.io.encode_png(to_uint8(generated))

    def _generate_pngs(self, image_bytes: tf.Tensor, sizes: tf.Tensor, generate) -> tf.Tensor:
        """[N] encoded images (N >= 1) and their [N, 2] sizes -> [N] generated PNGs, each image on its own."""
        return tf.map_fn(lambda args: self._translate(args[0], args[1], generate), (image_bytes, sizes),
                         fn_output_signature=tf.TensorSpec([], tf.string))

    def _deterministic(self, images: tf.Tensor) -> tf.Tensor:
        return self._deterministic_generator.model(images, training=False)

    def _answer(self, image_bytes: tf.Tensor, generate) -> Dict[str, tf.Tensor]:
        sizes = checked_input_sizes(image_bytes, self._max_input_pixels)
        with tf.control_dependencies([sizes]):  # nothing is decoded before every check passed
            image_bytes = tf.identity(image_bytes)
        # An empty request gets an empty answer (convolutions refuse a batch of 0 on some CPUs).
        encoded = tf.cond(tf.size(image_bytes) > 0, lambda: self._generate_pngs(image_bytes, sizes, generate),
                          lambda: tf.constant([], tf.string))
        return {features.SERVING_OUTPUT_BYTES: encoded}

    def _parsed_and_checked(self, examples: tf.Tensor, spec) -> Dict[str, tf.Tensor]:
        return checked_example_images(tf.io.parse_example(examples, spec), self._max_input_pixels)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.SERVING_INPUT_BYTES)])
    def serve_image_bytes(self, image_bytes):
        return self._answer(image_bytes, self._deterministic)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=features.SERVING_INPUT_BYTES),
                                  tf.TensorSpec([], tf.int64, name=features.SERVING_SEED)])
    def serve_image_bytes_stochastic(self, image_bytes, seed):
        return self._answer(image_bytes, lambda images: self._stochastic.generate(images, seed))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(self, examples):
        parsed = self._parsed_and_checked(examples, self._input_spec)
        return {features.SERVING_OUTPUT_PIXELS: to_uint8(self._generate_float(parsed))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT),
                                  tf.TensorSpec([], tf.int64, name=features.SERVING_SEED)])
    def serve_examples_stochastic(self, examples, seed):
        parsed = self._parsed_and_checked(examples, self._input_spec)
        transformed = self.tft_layer(parsed)
        return {features.SERVING_OUTPUT_PIXELS: to_uint8(self._stochastic.generate(transformed[features.INPUT_XF],
                                                                                  seed))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def transform_features(self, examples):
        return self.tft_layer(self._parsed_and_checked(examples, self._raw_spec))

    def signatures(self):
        return {
            features.SERVING_DEFAULT: self.serve_image_bytes,
            features.SERVING_STOCHASTIC: self.serve_image_bytes_stochastic,
            features.SERVING_EXAMPLES: self.serve_examples,
            features.SERVING_EXAMPLES_STOCHASTIC: self.serve_examples_stochastic,
            features.TRANSFORM_FEATURES: self.transform_features,
        }


def export_generator(generator: tf.keras.Model, tft_output: tft.TFTransformOutput, export_dir: str,
                     max_input_pixels: Optional[int] = DEFAULT_MAX_INPUT_PIXELS,
                     output_size: str = OUTPUT_SIZE_MODEL, inference_mode: str = inference.INFERENCE_RESIZE,
                     tile_scale: float = 1.0, tile_overlap: float = 0.25,
                     tflite_variants: Sequence[str] = ()) -> str:
    """Writes the SavedModel that the Pusher ships to TF Serving, with its warmup requests.

    ``max_input_pixels`` (None: no limit) bounds every image any signature
    decodes; ``inference_mode`` ("resize" or "tiled", see ``inference.py``) with
    ``tile_scale`` and ``tile_overlap``, and ``output_size`` ("model" or "input",
    resize only) shape the image signatures' answers. ``tflite_variants`` (see
    ``tflite_export.py``) adds TFLite copies of the generator under
    ``assets.extra/tflite/``, which TF Serving ignores and the Pusher ships.
    """
    tflite_variants = tflite_export.check_variants(tflite_variants)  # a bad name fails before the slow save
    module = GeneratorServingModule(generator, tft_output, max_input_pixels, output_size, inference_mode,
                                    tile_scale, tile_overlap)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    warmup.write_warmup_requests(export_dir, image_size=module._tile, channels=module._channels)  # pylint: disable=protected-access
    tflite_export.write_tflite_models(generator, export_dir, tflite_variants)
    return export_dir
