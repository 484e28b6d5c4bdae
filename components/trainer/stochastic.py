"""The generator as the paper runs it at test time: dropout on (the only noise z), batch norm on the test batch.

Isola et al. (Sec. 3.2, 4) apply dropout at test time and normalise with the
statistics of the test batch (batch size 1: each image's own statistics).
Keras can only do that by calling the model with ``training=True``, which would
also update the moving averages, a served model changing under its users. So
the stochastic generator is a clone of the trained one (same weights) in which
every ``BatchNormalization`` normalises each example with its own statistics
and touches nothing, and every ``Dropout`` draws its mask from a stateless
generator seeded per request: the same seed gives the same image, whatever
else the server is doing.
"""
from __future__ import annotations

from typing import List

import tensorflow as tf


class ExampleStatisticsNormalization(tf.keras.layers.BatchNormalization):
    """Batch norm with the statistics of each example (the paper's test batch of one); updates nothing."""

    def call(self, inputs, training=None):  # pylint: disable=unused-argument
        inputs32 = tf.cast(inputs, tf.float32)
        mean, variance = tf.nn.moments(inputs32, axes=[1, 2], keepdims=True)
        normalized = tf.nn.batch_normalization(inputs32, mean, variance, tf.cast(self.beta, tf.float32),
                                               tf.cast(self.gamma, tf.float32), self.epsilon)
        return tf.cast(normalized, inputs.dtype)


class SeededDropout(tf.keras.layers.Dropout):
    """Dropout that is always on, its mask drawn from ``seed`` (set per call by the serving signature)."""

    seed_tensor = None   # int64 [2]; set before the model is called in a traced function

    def call(self, inputs, training=None):  # pylint: disable=unused-argument
        if self.seed_tensor is None:   # only while the clone's graph is being built
            return inputs
        keep = tf.random.stateless_uniform(tf.shape(inputs), seed=self.seed_tensor) >= self.rate
        return tf.where(keep, inputs / (1.0 - self.rate), tf.zeros_like(inputs))


def _stochastic_layer(layer: tf.keras.layers.Layer) -> tf.keras.layers.Layer:
    if isinstance(layer, tf.keras.layers.BatchNormalization):
        return ExampleStatisticsNormalization.from_config(layer.get_config())
    if isinstance(layer, tf.keras.layers.Dropout):
        return SeededDropout.from_config(layer.get_config())
    return layer.__class__.from_config(layer.get_config())


class StochasticGenerator:
    """A clone of ``generator`` with the paper's test-time behaviour; call ``generate(images, seed)``."""

    def __init__(self, generator: tf.keras.Model):
        self.model = tf.keras.models.clone_model(generator, clone_function=_stochastic_layer)
        self.model.set_weights(generator.get_weights())
        self.dropouts: List[SeededDropout] = [layer for layer in self.model.layers if isinstance(layer, SeededDropout)]

    def generate(self, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        """[B, S, S, C] in [-1, 1] -> the generator's output with this seed's dropout masks."""
        seed = tf.cast(seed, tf.int64)
        for index, layer in enumerate(self.dropouts):   # a different stream per layer, all from one seed
            layer.seed_tensor = tf.stack([seed, tf.constant(index, tf.int64)])
        return self.model(images, training=False)
