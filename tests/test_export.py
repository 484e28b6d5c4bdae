"""The exported SavedModel: serving contract for TF Serving (bytes in, PNG bytes out)."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.example_gen import pairing
from components.trainer import export, networks
from tests import images
from tests.conftest import TINY_IMAGE_SIZE


@pytest.fixture(scope="module")
def exported(transform_output_dir, tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    generator = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    export.export_generator(generator, tft.TFTransformOutput(transform_output_dir), export_dir)
    return export_dir, generator


def _decode_png(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return tf.io.decode_png(data).numpy()


def test_serving_default_turns_images_of_any_size_and_format_into_pngs(exported):
    model = tf.saved_model.load(exported[0])
    requests = [images.png(40, 24, seed=1), images.encode(images.random_pixels(9, 13, seed=2), "JPEG"),
                images.encode(images.random_pixels(16, 16, channels=1, seed=3))]
    out = model.signatures[features.SERVING_DEFAULT](**{features.SERVING_INPUT_BYTES: tf.constant(requests)})
    pngs = out[features.SERVING_OUTPUT_BYTES].numpy()
    assert len(pngs) == 3
    for data in pngs:
        assert _decode_png(data).shape == (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)


def test_serving_matches_the_generator_on_the_transformed_input(exported, transform_output_dir):
    export_dir, generator = exported
    model = tf.saved_model.load(export_dir)
    encoded = images.png(TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, seed=7)
    served = _decode_png(model.signatures[features.SERVING_DEFAULT](
        **{features.SERVING_INPUT_BYTES: tf.constant([encoded])})[features.SERVING_OUTPUT_BYTES].numpy()[0])
    from components.transform import preprocessing
    expected = export.to_uint8(generator(preprocessing.decode_and_normalize(
        tf.constant(encoded), TINY_IMAGE_SIZE, 3)[None], training=False))[0].numpy()
    np.testing.assert_array_equal(served, expected)


def test_examples_and_transform_signatures_agree(exported):
    model = tf.saved_model.load(exported[0])
    serialized = tf.constant([pairing.make_example("p", images.png(seed=1), images.png(seed=2)).SerializeToString()])
    pixels = model.signatures[features.SERVING_EXAMPLES](examples=serialized)[features.SERVING_OUTPUT_PIXELS]
    assert pixels.dtype == tf.uint8 and pixels.shape == (1, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    xf = model.signatures[features.TRANSFORM_FEATURES](examples=serialized)
    assert xf[features.TARGET_XF].shape == (1, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)


def test_bytes_that_are_not_an_image_are_an_invalid_argument(exported):
    model = tf.saved_model.load(exported[0])
    with pytest.raises(tf.errors.InvalidArgumentError):
        model.signatures[features.SERVING_DEFAULT](**{features.SERVING_INPUT_BYTES: tf.constant([b"nope"])})


def test_saved_model_cli_shows_the_serving_contract(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", exported[0], "--tag_set", "serve",
                            "--signature_def", features.SERVING_DEFAULT],
                           capture_output=True, text=True, check=True).stdout
    assert f"inputs['{features.SERVING_INPUT_BYTES}']" in shown
    assert f"outputs['{features.SERVING_OUTPUT_BYTES}']" in shown
    assert shown.count("dtype: DT_STRING") == 2
    listed = subprocess.run([cli, "show", "--dir", exported[0], "--tag_set", "serve"],
                            capture_output=True, text=True, check=True).stdout
    for name in (features.SERVING_DEFAULT, features.SERVING_EXAMPLES, features.TRANSFORM_FEATURES):
        assert f'"{name}"' in listed
