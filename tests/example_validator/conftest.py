"""Real statistics for the validator's tests: Examples as ExampleGen writes them, described by TFDV."""
import os
import tempfile

import numpy as np

from components.example_gen import image_checks, image_properties, pairing


def pair_examples(count: int, size: int = 40, channels: int = 3, seed: int = 0, dim: float = 1.0):
    """``count`` pairs of random images of ``size`` px and ``channels`` channels, as ExampleGen's Examples.

    ``dim`` scales every pixel (0.2: night-time images of the same scenes). Each image's brightness is drawn too (uniform noise alone would give every image 0.5, a distribution
    so narrow that any two samples of it look disjoint to a histogram).
    """
    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        pixels = [(rng.integers(0, 256, (size, size, channels)) * rng.uniform(0.2, 1.0) * dim).astype(np.uint8)
                  for _ in range(2)]
        out.append(pairing.make_example(f"p{seed}-{index}", image_checks.encode_png(pixels[0]),
                                        image_checks.encode_png(pixels[1]), image_properties.of_pair(*pixels)))
    return out


def statistics_of(examples, schema=None):
    """TFDV's statistics of the examples (a DatasetFeatureStatisticsList), as StatisticsGen computes them
    (the pipeline's StatisticsGen reads the curated ``schema``)."""
    import tensorflow as tf
    import tensorflow_data_validation as tfdv

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "examples.tfrecord")
        with tf.io.TFRecordWriter(path) as writer:
            for example in examples:
                writer.write(example.SerializeToString())
        return tfdv.generate_statistics_from_tfrecord(path, stats_options=tfdv.StatsOptions(schema=schema))
