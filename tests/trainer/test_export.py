"""The exported SavedModel: serving contract for TF Serving (bytes in, PNG bytes out), and bad requests."""
import io
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components import features
from components.example_gen import pairing
from components.trainer import export
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.serving_doubles import TEST_PIXEL_LIMIT, exported_model

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

FORMATS = ("PNG", "JPEG", "BMP")  # what serving accepts (GIF is refused: tests/serving/test_faults_serving.py)
# Just above TEST_PIXEL_LIMIT (48 x 48) in pixels, however it is shaped.
OVER_THE_LIMIT = (49, 48)


@pytest.fixture(scope="module")
def exported(transform_output_dir, tmp_path_factory):
    return exported_model(transform_output_dir, tmp_path_factory)


@pytest.fixture(scope="module")
def serve(exported):
    """Calls serving_default on a list of encoded images; returns the PNG bytes."""
    signature = tf.saved_model.load(exported[0]).signatures[features.SERVING_DEFAULT]

    def call(encoded_images):
        result = signature(**{features.SERVING_INPUT_BYTES: tf.constant(encoded_images, tf.string)})
        return list(result[features.SERVING_OUTPUT_BYTES].numpy())

    return call


def _decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return tf.io.decode_png(data).numpy()


def _encoded(height: int, width: int, fmt: str, seed: int = 0) -> bytes:
    return images.encode(images.random_pixels(height, width, seed=seed), fmt)


def _pil_encoded(pixels: np.ndarray, fmt: str, **options) -> bytes:
    """Like images.encode, with Pillow's save options (e.g. progressive JPEG)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_serving_default_turns_images_of_any_size_and_format_into_pngs(serve):
    requests = [images.png(40, 24, seed=1), images.encode(images.random_pixels(9, 13, seed=2), "JPEG"),
                images.encode(images.random_pixels(16, 16, channels=1, seed=3)),
                _encoded(7, 30, "BMP", seed=4)]
    pngs = serve(requests)
    assert len(pngs) == len(requests)
    for sent, data in zip(requests, pngs):
        # At the training scale with the aspect kept (long side = the model size), never squashed to a square.
        width, height = Image.open(io.BytesIO(sent)).size
        longest = max(width, height)
        expected = (max(1, round(TINY_IMAGE_SIZE * height / longest)), max(1, round(TINY_IMAGE_SIZE * width / longest)))
        assert _decode_png(data).shape == (*expected, 3)


def test_a_batch_mixing_sizes_gives_each_image_what_it_gives_alone(serve):
    """Each image is decoded and resized on its own, so mixed sizes are a valid batch (not an error)."""
    requests = [images.png(40, 24, seed=1), _encoded(9, 13, "JPEG", seed=2), images.png(16, 16, seed=3)]
    assert serve(requests) == [serve([encoded])[0] for encoded in requests]


def test_serving_matches_the_generator_on_the_transformed_input(exported, serve):
    _, generator = exported
    encoded = images.png(TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, seed=7)
    served = _decode_png(serve([encoded])[0])
    from components.transform import preprocessing
    expected = export.to_uint8(generator(preprocessing.decode_and_normalize(
        tf.constant(encoded), TINY_IMAGE_SIZE, 3)[None], training=False))[0].numpy()
    np.testing.assert_array_equal(served, expected)


def test_an_empty_request_gets_an_empty_answer(serve):
    assert serve([]) == []


def test_examples_and_transform_signatures_agree(exported):
    model = tf.saved_model.load(exported[0])
    serialized = tf.constant([pairing.make_example("p", images.png(seed=1), images.png(seed=2)).SerializeToString()])
    pixels = model.signatures[features.SERVING_EXAMPLES](examples=serialized)[features.SERVING_OUTPUT_PIXELS]
    assert pixels.dtype == tf.uint8 and pixels.shape == (1, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    xf = model.signatures[features.TRANSFORM_FEATURES](examples=serialized)
    assert xf[features.TARGET_XF].shape == (1, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)


@pytest.mark.parametrize("bad, message", [
    (b"nope", "image_bytes[1] is not a PNG, JPEG or BMP image: 4 bytes starting with [110 111 112 101]"),
    (b"", "image_bytes[1] is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "image_bytes[1] is a PNG whose header is cut short or damaged"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image_bytes[1] is a JPEG whose header is cut short or damaged"),
    (b"GIF89a\x10", "image_bytes[1] is a GIF, which serving does not accept"),
])
def test_bad_bytes_are_an_invalid_argument_naming_the_element(serve, bad, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(message)):
        serve([images.png(8, 8), bad])


def test_a_corrupt_image_past_its_header_is_an_invalid_argument(serve):
    truncated = images.png(12, 12, seed=3)[:40]  # intact header, pixels cut off
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve([truncated])


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_image_above_the_pixel_limit_is_refused_with_its_size(serve, fmt):
    height, width = OVER_THE_LIMIT
    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        serve([images.png(8, 8), _encoded(height, width, fmt)])
    assert (f"image_bytes[1] is {width}x{height} pixels (width x height) = {width * height} pixels, "
            f"above the limit of {TEST_PIXEL_LIMIT} pixels") in refused.value.message


def test_an_image_at_the_pixel_limit_is_served(serve):
    assert len(serve([images.png(48, 48, seed=1)])) == 1


def test_the_limit_is_checked_from_the_header_before_decoding(serve):
    """A PNG that claims 100000 x 100000 pixels (40 GB decoded) is refused from its 24 header bytes."""
    header = images.png(8, 8)[:16] + struct.pack(">II", 100_000, 100_000)
    bomb = header + images.png(8, 8)[24:]
    with pytest.raises(tf.errors.InvalidArgumentError, match="100000x100000 pixels"):
        serve([bomb])


@pytest.mark.parametrize("fmt, options", [(fmt, {}) for fmt in FORMATS] + [("JPEG", {"progressive": True})])
def test_header_sizes_match_the_decoded_sizes(fmt, options):
    for height, width in [(1, 1), (7, 30), (33, 5), (300, 257)]:
        encoded = _pil_encoded(images.random_pixels(height, width, seed=height), fmt, **options)
        size = export.encoded_image_size(tf.constant(encoded)).numpy().tolist()
        decoded = tf.io.decode_image(encoded, expand_animations=False).shape[:2]
        assert size == list(decoded) == [height, width]


def test_checked_sizes_without_a_limit_accept_any_size():
    sizes = export.checked_input_sizes(tf.constant([images.png(300, 200), _encoded(5, 9, "BMP")]), None)
    assert sizes.numpy().tolist() == [[300, 200], [5, 9]]


def test_output_size_input_gives_each_image_its_own_size_in_one_batch(transform_output_dir, tmp_path_factory):
    export_dir, _ = exported_model(transform_output_dir, tmp_path_factory, output_size=export.OUTPUT_SIZE_INPUT)
    signature = tf.saved_model.load(export_dir).signatures[features.SERVING_DEFAULT]
    shapes = [(40, 24), (9, 13), (16, 16), (1, 30)]
    requests = [_encoded(h, w, fmt, seed=i) for i, ((h, w), fmt) in enumerate(zip(shapes, FORMATS * 2))]
    pngs = signature(**{features.SERVING_INPUT_BYTES: tf.constant(requests)})[features.SERVING_OUTPUT_BYTES].numpy()
    assert [_decode_png(png).shape for png in pngs] == [(h, w, 3) for h, w in shapes]


@pytest.mark.parametrize("settings, message", [
    ({"output_size": "original"}, "output_size: got 'original'"),
    ({"max_input_pixels": 0}, "max_input_pixels: got 0"),
])
def test_export_refuses_bad_settings(transform_output_dir, tmp_path, settings, message):
    import tensorflow_transform as tft

    from components.trainer import networks
    generator = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    with pytest.raises(ValueError, match=message):
        export.export_generator(generator, tft.TFTransformOutput(transform_output_dir), str(tmp_path / "m"),
                                **settings)


def test_saved_model_cli_shows_the_serving_contract(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", exported[0], "--tag_set", "serve",
                            "--signature_def", features.SERVING_DEFAULT],
                           capture_output=True, text=True, check=True).stdout
    assert f"inputs['{features.SERVING_INPUT_BYTES}']" in shown
    assert f"outputs['{features.SERVING_OUTPUT_BYTES}']" in shown
    assert shown.count("dtype: DT_STRING") == 2
    assert shown.count("shape: (-1)") == 2
    # TF Serving's REST API base64-encodes a string output only when its name ends in "_bytes".
    assert features.SERVING_OUTPUT_BYTES.endswith("_bytes")
    listed = subprocess.run([cli, "show", "--dir", exported[0], "--tag_set", "serve"],
                            capture_output=True, text=True, check=True).stdout
    for name in (features.SERVING_DEFAULT, features.SERVING_EXAMPLES, features.TRANSFORM_FEATURES):
        assert f'"{name}"' in listed
