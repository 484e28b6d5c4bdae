"""tf.data input pipeline: raw Examples -> Transform graph -> uint8 cache -> shuffle -> jitter -> batches.

The Trainer reads ExampleGen's raw Examples and applies the Transform graph
itself (Transform does not materialize decoded float images, which would be
~100x larger than the encoded bytes). Decoding runs in parallel; the decoded
pairs are kept as uint8 pixels where ``trainer.cache`` decides (data_cache.py)
and go back to the model's [-1, 1] floats after the shuffle, so neither the
cache nor the shuffle buffer holds float32 images; batches are prefetched so
the train step never waits on input.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.trainer import data_cache

AUTOTUNE = tf.data.AUTOTUNE
# Examples per parse/transform call: the transform graph is batched, so larger
# chunks amortize its per-call overhead.
TRANSFORM_CHUNK = 16
# Seeds of epochs and of the pairs within one: epoch e, pair i -> e * stride + i (far more pairs than an epoch has).
EPOCH_SEED_STRIDE = 1 << 32
SEED_MODULUS = 1 << 62
# The cache files of the two splits the Trainer reads more than once.
TRAIN_CACHE, VALIDATION_CACHE = "train", "eval"


def list_files(file_patterns: Sequence[str]) -> List[str]:
    files = sorted({f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)})
    if not files:
        raise ValueError(f"no TFRecord files match {list(file_patterns)}")
    return files


def transformed_pairs(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput) -> tf.data.Dataset:
    """Unbatched (input, target) float32 images in [-1, 1], in file order."""
    # The images only: the image-property features are for StatisticsGen and ExampleValidator.
    raw_spec = {key: tft_output.raw_feature_spec()[key] for key in features.IMAGE_KEYS}
    transform_layer = tft_output.transform_features_layer()

    def transform(serialized: tf.Tensor):
        transformed = transform_layer(tf.io.parse_example(serialized, raw_spec))
        return transformed[features.INPUT_XF], transformed[features.TARGET_XF]

    return (tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP")
            .batch(TRANSFORM_CHUNK)
            .map(transform, num_parallel_calls=AUTOTUNE)
            .unbatch())


def random_jitter(input_image: tf.Tensor, target_image: tf.Tensor, scale: float, seed: tf.Tensor):
    """The paper's jitter: resize up (286 for 256), random crop back, random mirror.

    Input and target are stacked so both get exactly the same crop and flip. ``seed`` (int64 [2]) makes it
    a function of the pair's place in the run (stateless ops): a resumed run jitters exactly as an
    uninterrupted one, and tf.data needs no random state.
    """
    size = tf.shape(input_image)[0]
    channels = tf.shape(input_image)[-1]
    big = tf.cast(tf.math.round(tf.cast(size, tf.float32) * scale), tf.int32)
    stacked = tf.concat([input_image, target_image], axis=-1)
    stacked = tf.image.resize(stacked, [big, big], method="bilinear")
    crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    stacked = tf.image.stateless_random_crop(stacked, [size, size, 2 * channels], seed=crop_seed)
    stacked = tf.image.stateless_random_flip_left_right(stacked, seed=flip_seed)
    return stacked[..., :channels], stacked[..., channels:]


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle seed of one epoch: a different order every epoch, the same order in every run."""
    return (seed * EPOCH_SEED_STRIDE + epoch) % SEED_MODULUS


class TrainBatches:
    """The training batches of any epoch, from any step of it: what makes a resumed run exact.

    Epoch e's order is a shuffle seeded by (seed, e) and each pair's jitter is seeded by (seed, e, its
    place in the epoch), so the batches of epoch e are a pure function of e. A run resumed after b
    batches of epoch e skips those b batches' pairs (before jitter, so skipping costs no jitter) and sees
    exactly what the uninterrupted run saw. Nothing of the input pipeline goes into the checkpoint: tf.data
    iterator checkpointing would store the shuffle buffer and the in-memory cache (the whole training set)
    in every checkpoint.
    """

    def __init__(self, pairs: tf.data.Dataset, *, batch_size: int, jitter: bool, jitter_scale: float,
                 shuffle_buffer: int, seed: int):
        self.pairs, self.batch_size = pairs, batch_size
        self.jitter, self.jitter_scale = jitter, jitter_scale
        self.shuffle_buffer, self.seed = shuffle_buffer, seed

    def __call__(self, epoch: int, skip_batches: int = 0) -> tf.data.Dataset:
        """Epoch ``epoch`` (0-based) from batch ``skip_batches`` on."""
        shuffled = self.pairs.shuffle(self.shuffle_buffer, seed=epoch_seed(self.seed, epoch),
                                      reshuffle_each_iteration=False)
        shuffled = data_cache.pairs_in_model_range(shuffled)
        skipped = skip_batches * self.batch_size
        if self.jitter:   # each pair's jitter seeded by its place in the epoch (enumerated before the skip)
            base = tf.constant([self.seed, epoch], tf.int64)
            dataset = shuffled.enumerate().skip(skipped).map(
                lambda index, pair: random_jitter(pair[0], pair[1], self.jitter_scale,
                                                  tf.stack([base[0], base[1] * EPOCH_SEED_STRIDE + index])),
                num_parallel_calls=AUTOTUNE)
        else:
            dataset = shuffled.skip(skipped)
        # drop_remainder keeps one static batch shape, so the train step is traced once.
        return dataset.batch(self.batch_size, drop_remainder=True).prefetch(AUTOTUNE)


def quantized_pairs(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput) -> tf.data.Dataset:
    """The transformed pairs as uint8 grey levels: what the cache and the shuffle buffer hold."""
    return transformed_pairs(file_patterns, tft_output).map(
        lambda a, b: (data_cache.to_uint8(a), data_cache.to_uint8(b)), num_parallel_calls=AUTOTUNE,
        deterministic=True)


def validation_pairs(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput, *,
                     cache: data_cache.CachePlan) -> tf.data.Dataset:
    """The eval split's pairs, cached as the training pairs are (the Trainer scores them after every
    validated epoch), back in the model's range."""
    pairs = data_cache.apply(quantized_pairs(file_patterns, tft_output), cache, VALIDATION_CACHE)
    return data_cache.pairs_in_model_range(pairs)


def make_train_dataset(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput, *,
                       batch_size: int, jitter: bool, jitter_scale: float, shuffle_buffer: int,
                       cache: data_cache.CachePlan, seed: int) -> TrainBatches:
    """Shuffled, jittered, batched training pairs of any epoch (see TrainBatches), cached as planned."""
    dataset = data_cache.apply(quantized_pairs(file_patterns, tft_output), cache, TRAIN_CACHE)
    return TrainBatches(dataset, batch_size=batch_size, jitter=jitter, jitter_scale=jitter_scale,
                        shuffle_buffer=shuffle_buffer, seed=seed)


def first_pairs(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput, count: int) -> Dict[str, tf.Tensor]:
    """A fixed batch of pairs (e.g. for the per-epoch sample grid)."""
    inputs, targets = next(iter(transformed_pairs(file_patterns, tft_output).batch(count)))
    return {features.INPUT_XF: inputs, features.TARGET_XF: targets}


def count_records(file_patterns: Sequence[str]) -> int:
    """Number of Examples, counted on the encoded records (no decoding)."""
    records = tf.data.TFRecordDataset(list_files(file_patterns), compression_type="GZIP")
    return int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
