"""How the served generator meets an image of any size: ``resize`` (aspect kept) or ``tiled`` (native pixels).

The generator was trained on ``tile x tile`` squares, but a U-Net (and the
PatchGAN that trained it) is fully convolutional, so it can translate any image
piece by piece. Both modes take one image in the generator's range [-1, 1] of
any height and width and return the translation with the same aspect ratio:

* ``resize``: the long side is resized to the training size, the short side is
  reflect-padded to a square, the generator runs once and the padding is cropped
  off again. Fast; the answer has the detail of a ``tile``-pixel image. It fits
  data whose images are about the training size, or when speed matters.
* ``tiled``: the image is resized by ``scale`` (1.0: native pixels; < 1 when the
  training images were downscaled from photos of this resolution), cut into
  overlapping ``tile x tile`` tiles, each tile translated, and the tiles blended
  back with a smooth window (sin^2 in each direction), so no seam shows. The
  answer has the input's full size and detail. It fits large photos of the kind
  the training crops came from (facades, maps, aerial images).

Tiles are translated ``batch`` at a time, one row of tiles after another, each
row summed into a strip that is added to the output once, so memory grows with
the image (about tile / stride times its size), not with the number of tiles.
"""
from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf

INFERENCE_RESIZE = "resize"
INFERENCE_TILED = "tiled"
INFERENCE_MODES = (INFERENCE_RESIZE, INFERENCE_TILED)
MAX_TILE_SCALE = 1.0        # never upsample before tiling: the pixel limit is the input's
MAX_TILE_OVERLAP = 0.5      # of the tile side; more only repeats work
DEFAULT_TILE_BATCH = 8      # tiles per generator call

Generate = Callable[[tf.Tensor], tf.Tensor]   # [B, tile, tile, C] -> [B, tile, tile, C], both in [-1, 1]


def reflect_indices(size: tf.Tensor, before: tf.Tensor, after: tf.Tensor) -> tf.Tensor:
    """Indices into ``range(size)`` that pad it by reflection (…2 1 | 0 1 2 … n-1 | n-2 …), for any pad width.

    ``tf.pad``'s REFLECT mode refuses a pad as wide as the side; a thin strip
    (a 1000x3 image padded to a square) needs the reflection to repeat.
    """
    positions = tf.range(-before, size + after)
    period = tf.maximum(2 * (size - 1), 1)
    folded = tf.math.floormod(positions, period)
    return tf.where(folded >= size, period - folded, folded)


def reflect_pad(image: tf.Tensor, top, bottom, left, right) -> tf.Tensor:
    """[H, W, C] padded by reflection on each side (any widths)."""
    shape = tf.shape(image)
    rows = reflect_indices(shape[0], top, bottom)
    cols = reflect_indices(shape[1], left, right)
    return tf.gather(tf.gather(image, rows, axis=0), cols, axis=1)


def translate_resized(generate: Generate, image: tf.Tensor, tile: int) -> tf.Tensor:
    """[H, W, C] -> the translation at the training scale: [h, w, C] with max(h, w) = tile, aspect kept."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    longest = tf.cast(tf.maximum(height, width), tf.float32)
    scaled_h = tf.maximum(1, tf.cast(tf.round(tf.cast(height, tf.float32) * tile / longest), tf.int32))
    scaled_w = tf.maximum(1, tf.cast(tf.round(tf.cast(width, tf.float32) * tile / longest), tf.int32))
    resized = tf.clip_by_value(tf.image.resize(image, [scaled_h, scaled_w], method="bilinear", antialias=True),
                               -1.0, 1.0)
    top, left = (tile - scaled_h) // 2, (tile - scaled_w) // 2
    square = reflect_pad(resized, top, tile - scaled_h - top, left, tile - scaled_w - left)
    square = tf.ensure_shape(square, [tile, tile, None])
    generated = generate(square[tf.newaxis])[0]
    return generated[top:top + scaled_h, left:left + scaled_w]


def blend_window(tile: int) -> tf.Tensor:
    """[tile, tile, 1] weights, sin^2 in each direction: near 0 at a tile's edge, 1 in its middle."""
    ramp = tf.sin(math.pi * (tf.range(tile, dtype=tf.float32) + 0.5) / tile) ** 2
    return (ramp[:, tf.newaxis] * ramp[tf.newaxis, :])[..., tf.newaxis]


def tile_starts(length: tf.Tensor, tile: int, stride: int) -> tf.Tensor:
    """Where tiles start along one side of ``length >= tile``: every ``stride``, the last one flush with the end."""
    count = (length - tile + stride - 1) // stride + 1
    return tf.minimum(tf.range(count) * stride, length - tile)


def translate_tiled(generate: Generate, image: tf.Tensor, tile: int, overlap: float = 0.25,
                    scale: float = 1.0, batch: int = DEFAULT_TILE_BATCH) -> tf.Tensor:
    """[H, W, C] -> the translation at the same [H, W, C], from blended overlapping tiles at ``scale``."""
    if not 0.0 <= overlap <= MAX_TILE_OVERLAP:
        raise ValueError(f"overlap: got {overlap!r}; expected a fraction of the tile in [0, {MAX_TILE_OVERLAP}]")
    if not 0.0 < scale <= MAX_TILE_SCALE:
        raise ValueError(f"scale: got {scale!r}; expected a number in (0, {MAX_TILE_SCALE}]")
    stride = max(1, tile - int(round(tile * overlap)))
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    if scale != 1.0:
        scaled = [tf.maximum(1, tf.cast(tf.round(tf.cast(side, tf.float32) * scale), tf.int32))
                  for side in (height, width)]
        image = tf.clip_by_value(tf.image.resize(image, scaled, method="bilinear", antialias=True), -1.0, 1.0)
    scaled_shape = tf.shape(image)
    # Smaller than one tile: reflect it up to one tile (cropped off at the end).
    padded = reflect_pad(image, 0, tf.maximum(tile - scaled_shape[0], 0), 0, tf.maximum(tile - scaled_shape[1], 0))
    padded_shape = tf.shape(padded)
    ys, xs = tile_starts(padded_shape[0], tile, stride), tile_starts(padded_shape[1], tile, stride)
    window = blend_window(tile)                                   # [tile, tile, 1]
    span = tf.range(tile)

    def strip(top):
        """One row of tiles translated and window-weighted, summed into a [tile, W, C] strip."""
        rows = padded[top:top + tile]                             # [tile, W, C]

        def body(first, columns_sum):
            cols = xs[first:first + batch, tf.newaxis] + span     # [b, tile]
            tiles = tf.transpose(tf.gather(rows, cols, axis=1), [1, 0, 2, 3])   # [b, tile, tile, C]
            tiles = tf.ensure_shape(tiles, [None, tile, tile, None])
            weighted = tf.cast(generate(tiles), tf.float32) * window
            # Column-major so that a tile's columns are the scatter's indices: [b, tile(cols), tile(rows), C].
            return first + batch, tf.tensor_scatter_nd_add(columns_sum, cols[..., tf.newaxis],
                                                           tf.transpose(weighted, [0, 2, 1, 3]))

        columns_sum = tf.zeros([padded_shape[1], tile, padded_shape[2]], tf.float32)
        _, columns_sum = tf.while_loop(lambda first, _: first < tf.size(xs), body, (tf.constant(0), columns_sum))
        return tf.transpose(columns_sum, [1, 0, 2])

    # Rows of tiles one after another; the strips (about (tile / stride) x the image) are added once at the end.
    strips = tf.map_fn(strip, ys, fn_output_signature=tf.TensorSpec([tile, None, None], tf.float32),
                       parallel_iterations=1)
    total = tf.tensor_scatter_nd_add(tf.zeros([padded_shape[0], padded_shape[1], padded_shape[2]], tf.float32),
                                     (ys[:, tf.newaxis] + span)[..., tf.newaxis], strips)
    # The window is separable and the tiles a grid, so the weights' sum is an outer product of two 1-D sums.
    ramp = tf.sin(math.pi * (tf.range(tile, dtype=tf.float32) + 0.5) / tile) ** 2

    def coverage(starts, length):
        positions = (starts[:, tf.newaxis] + span)[..., tf.newaxis]
        return tf.tensor_scatter_nd_add(tf.zeros([length]), positions, tf.broadcast_to(ramp, tf.shape(positions)[:2]))

    weights = (coverage(ys, padded_shape[0])[:, tf.newaxis] * coverage(xs, padded_shape[1])[tf.newaxis, :])
    weights = weights[..., tf.newaxis]
    blended = (total / weights)[:scaled_shape[0], :scaled_shape[1]]
    if scale != 1.0:
        blended = tf.clip_by_value(tf.image.resize(blended, [height, width], method="bilinear", antialias=True),
                                   -1.0, 1.0)
    return blended
