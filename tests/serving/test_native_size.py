"""Serving at any size (issue #14): tiled at the input's own size without seams, resize with the aspect kept,
the paper's stochastic mode reproducible by seed, and warmup requests that replay.

The model is the tiny 16x16 U-Net (random weights): what is pinned is the geometry and the determinism,
which do not depend on training.
"""
import io

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from PIL import Image

from components import features
from components.trainer import export, inference, networks, warmup
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE

pytestmark = pytest.mark.slow  # exports models: seconds per test

TILE = TINY_IMAGE_SIZE


@pytest.fixture(scope="module")
def generator():
    tf.keras.utils.set_random_seed(3)
    return networks.build_unet_generator(TILE, ngf=4)


@pytest.fixture(scope="module")
def exports(generator, transform_output_dir, tmp_path_factory):
    """{name: loaded SavedModel} for the modes under test, all from the same generator."""
    modes = {"resize_input": dict(inference_mode="resize", output_size="input"),
             "resize_model": dict(inference_mode="resize"),
             "tiled": dict(inference_mode="tiled", tile_scale=1.0, tile_overlap=0.25)}
    loaded = {}
    for name, options in modes.items():
        path = str(tmp_path_factory.mktemp(name) / "model")
        export.export_generator(generator, tft.TFTransformOutput(transform_output_dir), path,
                                max_input_pixels=4096 * 4096, **options)
        loaded[name] = (path, tf.saved_model.load(path))
    return loaded


def _serve(model, pngs, signature=features.SERVING_DEFAULT, **extra):
    outputs = model.signatures[signature](image_bytes=tf.constant(pngs), **extra)[features.SERVING_OUTPUT_BYTES]
    return [np.asarray(Image.open(io.BytesIO(encoded))) for encoded in outputs.numpy()]


def _photo(height, width, seed=0):
    """A smooth 'photo' (gradients and blobs, not noise), so seams would stand out against its texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    channels = [np.sin(2 * np.pi * (x * rng.uniform(1, 4) + y * rng.uniform(1, 4)) + rng.uniform(0, 6))
                for _ in range(3)]
    pixels = ((np.stack(channels, -1) + 1) * 127.5).astype(np.uint8)
    return images.encode(pixels, "PNG")


def test_a_1500x1000_photo_comes_back_at_its_own_size_in_every_mode(exports):
    photo = _photo(1000, 1500)
    for name in ("tiled", "resize_input"):   # tiled at native scale: 8,000+ tiles (tile_scale: test_inference.py)
        (answer,) = _serve(exports[name][1], [photo])
        assert answer.shape == (1000, 1500, 3), name
    (small,) = _serve(exports["resize_model"][1], [photo])
    assert small.shape == (11, TILE, 3)  # the training scale, aspect kept (16 * 1000 / 1500), not squashed


def test_an_input_of_the_model_size_gets_what_resize_gives(exports):
    square = _photo(TILE, TILE, seed=1)
    (tiled,) = _serve(exports["tiled"][1], [square])
    (resized,) = _serve(exports["resize_model"][1], [square])
    assert np.abs(tiled.astype(int) - resized.astype(int)).max() <= 1


def _neighbour_differences(answer, borders):
    """Mean |difference| between horizontally neighbouring pixels across the given columns, and elsewhere."""
    diffs = np.abs(np.diff(answer.astype(np.float64), axis=1)).mean(axis=(0, 2))   # diffs[i]: column i vs i+1
    at_borders = np.zeros(diffs.shape, bool)
    at_borders[[b - 1 for b in borders if 0 < b < answer.shape[1]]] = True
    return diffs[at_borders].mean(), diffs[~at_borders].mean()


def test_tiles_are_blended_without_seams(exports):
    photo = _photo(96, 200, seed=2)
    (answer,) = _serve(exports["tiled"][1], [photo])
    stride = TILE - round(TILE * 0.25)
    starts = inference.tile_starts(tf.constant(200), TILE, stride).numpy()
    borders = sorted({int(s) for s in starts} | {int(s) + TILE for s in starts})
    across, inside = _neighbour_differences(answer, borders)
    assert across <= 1.2 * inside, (across, inside)
    # That the measure can fail (seams do show without blending): tests/trainer/test_inference.py.


def test_a_batch_mixing_sizes_gives_each_image_what_it_gets_alone(exports):
    pngs = [_photo(40, 24, seed=3), _photo(16, 16, seed=4), images.encode(images.random_pixels(9, 57, seed=5), "BMP")]
    for name in ("tiled", "resize_input"):
        together = _serve(exports[name][1], pngs)
        for png, answer in zip(pngs, together):
            (alone,) = _serve(exports[name][1], [png])
            assert np.array_equal(answer, alone), name


def test_the_stochastic_signature_is_reproducible_by_seed_and_varies_with_it(exports):
    model = exports["tiled"][1]
    photo = [_photo(40, 24, seed=6)]
    first = _serve(model, photo, features.SERVING_STOCHASTIC, seed=tf.constant(7, tf.int64))[0]
    again = _serve(model, photo, features.SERVING_STOCHASTIC, seed=tf.constant(7, tf.int64))[0]
    other = _serve(model, photo, features.SERVING_STOCHASTIC, seed=tf.constant(8, tf.int64))[0]
    deterministic = _serve(model, photo)[0]
    assert np.array_equal(first, again)
    assert first.shape == deterministic.shape == (40, 24, 3)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 1.0          # visibly different
    assert np.abs(first.astype(int) - deterministic.astype(int)).mean() > 1.0  # dropout on, not the served mode
    assert np.array_equal(deterministic, _serve(model, photo)[0])              # serving_default stays deterministic


def test_the_stochastic_generator_never_changes_the_served_weights(exports, generator):
    path, model = exports["resize_model"]
    before = [v.numpy().copy() for v in getattr(model, export.GENERATOR_VARIABLES)]
    _serve(model, [_photo(16, 16)], features.SERVING_STOCHASTIC, seed=tf.constant(1, tf.int64))
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, getattr(model, export.GENERATOR_VARIABLES)))


def test_the_warmup_requests_replay_through_serving_default(exports):
    path, model = exports["tiled"]
    logs = warmup.read_warmup_requests(path)
    assert len(logs) >= 2
    for log in logs:
        request = log.predict_log.request
        assert request.model_spec.signature_name == features.SERVING_DEFAULT
        sent = tf.make_ndarray(request.inputs[features.SERVING_INPUT_BYTES])
        answers = _serve(model, list(sent))
        expected = Image.open(io.BytesIO(sent[0])).size[::-1]
        assert answers[0].shape[:2] == expected
