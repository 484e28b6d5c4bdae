"""The geometry of serving at any size (components/trainer/inference.py), with stand-in generators."""
import numpy as np
import pytest
import tensorflow as tf

from components.trainer import inference

TILE = 16


def _image(height, width, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(-1, 1, (height, width, 3)).astype(np.float32))


def _tile_dependent(tiles):
    """A stand-in with what makes seams: each tile's answer shifted by a function of the whole tile."""
    return tf.clip_by_value(0.2 * tiles + tf.reduce_mean(tiles, axis=[1, 2, 3], keepdims=True) * 8.0, -1.0, 1.0)


def _column_differences(image, borders):
    diffs = np.abs(np.diff(np.asarray(image, np.float64), axis=1)).mean(axis=(0, 2))
    at = np.zeros(diffs.shape, bool)
    at[[b - 1 for b in borders if 0 < b < image.shape[1]]] = True
    return diffs[at].mean(), diffs[~at].mean()


@pytest.mark.parametrize("size, before, after, expected", [
    (3, 2, 2, [2, 1, 0, 1, 2, 1, 0]),
    (3, 5, 0, [1, 0, 1, 2, 1, 0, 1, 2]),     # wider than the side: the reflection repeats
    (1, 2, 1, [0, 0, 0, 0]),
])
def test_reflect_indices_pad_any_width(size, before, after, expected):
    assert inference.reflect_indices(tf.constant(size), before, after).numpy().tolist() == expected


@pytest.mark.parametrize("height, width", [(150, 100), (16, 16), (10, 20), (17, 300)])
def test_an_identity_generator_gives_the_image_back_at_its_size(height, width):
    image = _image(height, width)
    out = inference.translate_tiled(lambda tiles: tiles, image, TILE, overlap=0.25)
    np.testing.assert_allclose(out.numpy(), image.numpy(), atol=1e-5)


def test_tile_starts_cover_the_side_and_end_flush():
    starts = inference.tile_starts(tf.constant(50), TILE, 12).numpy().tolist()
    assert starts == [0, 12, 24, 34]
    assert inference.tile_starts(tf.constant(TILE), TILE, 12).numpy().tolist() == [0]


def test_blending_hides_the_seams_that_pasted_tiles_show():
    image = _image(48, 160, seed=1)
    pasted = tf.concat([_tile_dependent(image[tf.newaxis, :TILE, x:x + TILE])[0] for x in range(0, 160, TILE)], 1)
    seam_across, seam_inside = _column_differences(pasted.numpy(), range(TILE, 160, TILE))
    assert seam_across > 1.5 * seam_inside   # the measure sees seams when there are some
    blended = inference.translate_tiled(_tile_dependent, image, TILE, overlap=0.5)
    starts = inference.tile_starts(tf.constant(160), TILE, TILE // 2).numpy()
    borders = sorted({int(s) for s in starts} | {int(s) + TILE for s in starts})
    across, inside = _column_differences(blended[:TILE].numpy(), borders)
    assert across <= 1.2 * inside, (across, inside)


def test_scale_tiles_a_smaller_image_and_answers_at_the_input_size():
    image = _image(64, 96)
    out = tf.function(lambda x: inference.translate_tiled(lambda t: t, x, TILE, overlap=0.0, scale=0.5))(image)
    assert out.shape == (64, 96, 3)
    np.testing.assert_allclose(out.numpy().mean(), image.numpy().mean(), atol=0.05)


def test_resize_keeps_the_aspect_and_never_squashes():
    out = inference.translate_resized(lambda tiles: tiles, _image(30, 120), TILE)
    assert out.shape == (4, 16, 3)
    out = inference.translate_resized(lambda tiles: tiles, _image(1, 500), TILE)
    assert out.shape == (1, 16, 3)


@pytest.mark.parametrize("overlap, scale", [(-0.1, 1.0), (0.6, 1.0), (0.25, 0.0), (0.25, 1.5)])
def test_out_of_range_tiling_options_are_refused(overlap, scale):
    with pytest.raises(ValueError, match="overlap|scale"):
        inference.translate_tiled(lambda tiles: tiles, _image(16, 16), TILE, overlap=overlap, scale=scale)
