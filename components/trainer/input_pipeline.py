"""tf.data input pipeline: raw Examples -> Transform graph -> jitter -> batches.

The Trainer reads ExampleGen's raw Examples and applies the Transform graph
itself (Transform does not materialize decoded float images, which would be
~100x larger than the encoded bytes). Decoding runs in parallel, the decoded
images are cached in memory when the config allows, and batches are prefetched
so the train step never waits on input.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from components import features

AUTOTUNE = tf.data.AUTOTUNE
# Examples per parse/transform call: the transform graph is batched, so larger
# chunks amortize its per-call overhead.
TRANSFORM_CHUNK = 16


def list_files(file_patterns: Sequence[str]) -> List[str]:
    files = sorted({f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)})
    if not files:
        raise ValueError(f"no TFRecord files match {list(file_patterns)}")
    return files


def transformed_pairs(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput) -> tf.data.Dataset:
    """Unbatched (input, target) float32 images in [-1, 1], in file order."""
    raw_spec = tft_output.raw_feature_spec()
    transform_layer = tft_output.transform_features_layer()

    def transform(serialized: tf.Tensor):
        transformed = transform_layer(tf.io.parse_example(serialized, raw_spec))
        return transformed[features.INPUT_XF], transformed[features.TARGET_XF]

    return (tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP")
            .batch(TRANSFORM_CHUNK)
            .map(transform, num_parallel_calls=AUTOTUNE)
            .unbatch())


def random_jitter(input_image: tf.Tensor, target_image: tf.Tensor, scale: float, seed: int):
    """The paper's jitter: resize up (286 for 256), random crop back, random mirror.

    Input and target are stacked so both get exactly the same crop and flip.
    """
    size = tf.shape(input_image)[0]
    channels = tf.shape(input_image)[-1]
    big = tf.cast(tf.math.round(tf.cast(size, tf.float32) * scale), tf.int32)
    stacked = tf.concat([input_image, target_image], axis=-1)
    stacked = tf.image.resize(stacked, [big, big], method="bilinear")
    stacked = tf.image.random_crop(stacked, [size, size, 2 * channels], seed=seed)
    # A different op seed, so the flip is not a function of the crop offset.
    stacked = tf.image.random_flip_left_right(stacked, seed=seed + 1)
    return stacked[..., :channels], stacked[..., channels:]


def make_train_dataset(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput, *,
                       batch_size: int, jitter: bool, jitter_scale: float, shuffle_buffer: int,
                       cache: bool, seed: int) -> tf.data.Dataset:
    """Shuffled, jittered, batched training pairs; one pass = one epoch."""
    dataset = transformed_pairs(file_patterns, tft_output)
    if cache:
        dataset = dataset.cache()
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if jitter:
        dataset = dataset.map(lambda a, b: random_jitter(a, b, jitter_scale, seed),
                              num_parallel_calls=AUTOTUNE)
    # drop_remainder keeps one static batch shape, so the train step is traced once.
    return dataset.batch(batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def first_pairs(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput, count: int) -> Dict[str, tf.Tensor]:
    """A fixed batch of pairs (e.g. for the per-epoch sample grid)."""
    inputs, targets = next(iter(transformed_pairs(file_patterns, tft_output).batch(count)))
    return {features.INPUT_XF: inputs, features.TARGET_XF: targets}


def count_records(file_patterns: Sequence[str]) -> int:
    """Number of Examples, counted on the encoded records (no decoding)."""
    records = tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP")
    return int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
