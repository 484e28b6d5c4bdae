"""Tiny trainer settings, data and checkpoint helpers shared by the trainer's tests."""
import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipeline.config import load_config
from tests.support.paths import DEFAULT_CONFIG
from tests.support.transform_graph import TINY_IMAGE_SIZE

CONFIG_PATH = Path(DEFAULT_CONFIG)
CHANNELS = 3
LOSS_KEYS = {"g_total", "g_gan", "g_l1", "d_total", "d_real", "d_fake", "d_gp"}


def tiny_settings(**changes):
    """The project's trainer settings, shrunk for 16x16 images (PatchGAN needs n_layers_d <= 2 there).

    norm="none" traces fastest; the norms themselves are covered by test_networks. min_steps=0: the
    tests train exactly the epochs they set.
    """
    trainer_settings = load_config(str(CONFIG_PATH)).trainer
    tiny = {"min_steps": 0, "ngf": 4, "ndf": 4, "n_layers_d": 2, "batch_size": 2, "norm": "none"}
    return dataclasses.replace(trainer_settings, **{**tiny, **changes})


def random_images(count, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (count, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, CHANNELS)).astype(np.float32)


def in_memory_dataset(num_pairs, batch_size, seed=0):
    pairs = (random_images(num_pairs, seed), random_images(num_pairs, seed + 1))
    return tf.data.Dataset.from_tensor_slices(pairs).batch(batch_size, drop_remainder=True)


def checkpoint_and_manager(gan, directory, max_to_keep=2):
    """The checkpoint layout run_fn uses."""
    checkpoint = gan.checkpoint()
    return checkpoint, tf.train.CheckpointManager(checkpoint, str(directory), max_to_keep=max_to_keep)


def saved_epoch(checkpoint_path):
    return int(tf.train.load_variable(checkpoint_path, "epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def checkpoint_numbers(manager):
    return [int(path.rsplit("-", 1)[1]) for path in manager.checkpoints]


def weights_of(gan):
    return gan.generator.get_weights() + gan.discriminator.get_weights()


def assert_weights_equal(actual, expected):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        np.testing.assert_array_equal(got, want)


def write_tiny_examples(path, count):
    """``count`` GZIP tf.Examples as ExampleGen writes them (20x24 inputs, default-size targets): a split file."""
    from components.example_gen import pairing
    from tests.support import images

    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for i in range(count):
            writer.write(pairing.make_example(f"p{i}", images.png(20, 24, seed=2 * i),
                                              images.png(seed=2 * i + 1)).SerializeToString())
    return str(path)
