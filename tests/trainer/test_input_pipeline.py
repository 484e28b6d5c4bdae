"""Tests of the Trainer's tf.data input pipeline (components/trainer/input_pipeline.py).

Pins: raw GZIP Examples go through the real Transform graph to float32 pairs
in [-1, 1] at the transformed size, in file order, across files and transform
chunks; the jitter crops and mirrors input and target identically; training
batches have a static batch size, are shuffled, and (without jitter) carry
exactly the transformed pairs, input still paired with its target; records are
counted without decoding; an unmatched file pattern is a clear error.
"""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.example_gen import pairing
from components.trainer import data_cache, input_pipeline
from components.transform import preprocessing
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE

CHANNELS = 3
IMAGE_SHAPE = (TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, CHANNELS)
# (height, width) of the raw images: larger, smaller, equal to and not square like the transformed size.
RAW_SIZES = [(20, 24), (8, 8), (16, 16), (33, 17), (40, 40), (9, 30)]


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def raw_pairs(count, first_seed=0):
    """(pair_id, input_png, target_png) of various sizes."""
    pairs = []
    for i in range(count):
        height, width = RAW_SIZES[i % len(RAW_SIZES)]
        seed = first_seed + i
        pairs.append((f"pair{seed:03d}", images.png(height, width, seed=2 * seed),
                      images.png(width, height, seed=2 * seed + 1)))
    return pairs


def write_gzip_records(path, records):
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for record in records:
            writer.write(record)
    return str(path)


def write_examples(path, pairs):
    return write_gzip_records(path, [pairing.make_example(*pair).SerializeToString() for pair in pairs])


def expected_image(encoded):
    return preprocessing.decode_and_normalize(tf.constant(encoded), TINY_IMAGE_SIZE, CHANNELS).numpy()


def as_arrays(dataset):
    return [(a.numpy(), b.numpy()) for a, b in dataset]


def index_of_pair(input_image, target_image, reference):
    """Index of the reference pair that equals (input, target); fails if none does."""
    matches = [i for i, (ref_input, ref_target) in enumerate(reference)
               if np.array_equal(input_image, ref_input) and np.array_equal(target_image, ref_target)]
    assert len(matches) == 1, "a yielded pair is not exactly one transformed pair"
    return matches[0]


def pair_close(pair, other):
    return all(np.allclose(image, other_image, atol=1e-6) for image, other_image in zip(pair, other))


def epoch_order(dataset, reference):
    """The reference indices of the pairs of one pass over a batched dataset."""
    order = []
    for inputs, targets in dataset:
        order.extend(index_of_pair(a, b, reference) for a, b in zip(inputs.numpy(), targets.numpy()))
    return order


@pytest.fixture(scope="module")
def tft_output(transform_output_dir):
    return tft.TFTransformOutput(transform_output_dir)


def cache_plan(mode, directory=None):
    return data_cache.CachePlan(mode, 0, 0, "as set", directory)


MEMORY = cache_plan(data_cache.CACHE_MEMORY)


def trained_pairs(pattern, tft_output):
    """The transformed pairs as training sees them: through the uint8 cache, back in [-1, 1]."""
    return [(data_cache.to_model_range(a).numpy(), data_cache.to_model_range(b).numpy())
            for a, b in input_pipeline.quantized_pairs([pattern], tft_output)]


def train_dataset(pattern, tft_output, **overrides):
    options = dict(batch_size=2, jitter=False, jitter_scale=1.25, shuffle_buffer=100, cache=MEMORY, seed=7)
    options.update(overrides)
    return input_pipeline.make_train_dataset([pattern], tft_output, **options)(0)  # epoch 0


# --------------------------------------------------------------------------- #
# transformed_pairs / first_pairs
# --------------------------------------------------------------------------- #
def test_transformed_pairs_are_float_images_in_file_order_across_files_and_chunks(tmp_path, tft_output):
    # 19 examples in two files: more than one TRANSFORM_CHUNK, and a partial last chunk.
    first, second = raw_pairs(10), raw_pairs(9, first_seed=10)
    write_examples(tmp_path / "train-00001.gz", second)
    write_examples(tmp_path / "train-00000.gz", first)
    assert len(first + second) > input_pipeline.TRANSFORM_CHUNK

    dataset = input_pipeline.transformed_pairs([str(tmp_path / "train-*.gz")], tft_output)

    image_spec = tf.TensorSpec(IMAGE_SHAPE, tf.float32)
    assert dataset.element_spec == (image_spec, image_spec)
    pairs = as_arrays(dataset)
    assert len(pairs) == len(first + second)
    for (input_image, target_image), (_, input_png, target_png) in zip(pairs, first + second):
        for image in (input_image, target_image):
            assert image.dtype == np.float32 and image.shape == IMAGE_SHAPE
            assert image.min() >= -1.0 and image.max() <= 1.0
        # Files are read in sorted order; each image went through the Transform graph.
        np.testing.assert_allclose(input_image, expected_image(input_png), atol=1e-6)
        np.testing.assert_allclose(target_image, expected_image(target_png), atol=1e-6)


def test_the_cached_pairs_are_the_transformed_pairs_to_half_a_grey_level(tmp_path, tft_output):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(6))   # resized up, down and not at all
    quantized = list(input_pipeline.quantized_pairs([pattern], tft_output))
    assert quantized[0][0].dtype == tf.uint8 and quantized[0][0].shape == IMAGE_SHAPE
    for (a, b), (x, y) in zip(trained_pairs(pattern, tft_output), as_arrays(
            input_pipeline.transformed_pairs([pattern], tft_output))):
        assert np.abs(a - x).max() <= 1.0 / 255 + 1e-6 and np.abs(b - y).max() <= 1.0 / 255 + 1e-6
    # A source already at the transformed size (raw_pairs' third pair) comes back exactly.
    np.testing.assert_allclose(trained_pairs(pattern, tft_output)[2][0],
                               as_arrays(input_pipeline.transformed_pairs([pattern], tft_output))[2][0], atol=1e-6)


def test_first_pairs_is_a_fixed_batch_of_the_first_pairs(tmp_path, tft_output):
    pairs = raw_pairs(5)
    pattern = write_examples(tmp_path / "eval.gz", pairs)

    batch = input_pipeline.first_pairs([pattern], tft_output, 3)

    assert set(batch) == {features.INPUT_XF, features.TARGET_XF}
    for key, position in ((features.INPUT_XF, 1), (features.TARGET_XF, 2)):
        assert batch[key].shape == (3, *IMAGE_SHAPE) and batch[key].dtype == tf.float32
        for image, pair in zip(batch[key].numpy(), pairs[:3]):
            np.testing.assert_allclose(image, expected_image(pair[position]), atol=1e-6)


# --------------------------------------------------------------------------- #
# random_jitter
# --------------------------------------------------------------------------- #
def ramp_image():
    """Pixels that differ everywhere and are not mirror-symmetric: x + 16 y, scaled into [-1, 1]."""
    y, x = np.mgrid[0:TINY_IMAGE_SIZE, 0:TINY_IMAGE_SIZE]
    values = (x + TINY_IMAGE_SIZE * y) / (TINY_IMAGE_SIZE ** 2 - 1) * 2.0 - 1.0
    return tf.constant(np.repeat(values[..., None], CHANNELS, axis=-1), tf.float32)


def jitter_outputs(input_image, target_image, seeds, scale=1.25):
    """One random_jitter per seed."""
    outputs = []
    for seed in seeds:
        outputs.append(tuple(t.numpy() for t in input_pipeline.random_jitter(
            input_image, target_image, scale, tf.constant([seed, 0], tf.int64))))
    return outputs


def is_mirrored(image):
    return image[0, 0, 0] > image[0, -1, 0]


def test_random_jitter_keeps_the_shape():
    image = ramp_image()
    output_input, output_target = input_pipeline.random_jitter(image, image, 1.25, seed=tf.constant([3, 0], tf.int64))
    assert output_input.shape == IMAGE_SHAPE and output_target.shape == IMAGE_SHAPE
    assert output_input.dtype == tf.float32 and output_target.dtype == tf.float32


def test_random_jitter_crops_and_mirrors_input_and_target_identically():
    image = ramp_image()
    outputs = jitter_outputs(image, image, seeds=range(16))
    for output_input, output_target in outputs:
        np.testing.assert_array_equal(output_input, output_target)
    # A target that differs from the input (here: its negative) gets the same crop and mirror.
    for output_input, output_target in jitter_outputs(image, -image, seeds=range(16)):
        np.testing.assert_allclose(output_target, -output_input, atol=1e-6)


def test_random_jitter_varies_the_crop_and_mirrors_some_images():
    image = ramp_image()
    outputs = [output for output, _ in jitter_outputs(image, image, seeds=range(16))]
    mirrored = [is_mirrored(output) for output in outputs]
    assert any(mirrored) and not all(mirrored)
    # More distinct results than mirrored/not mirrored alone could give: the crop moves.
    assert len({output.tobytes() for output in outputs}) > 2


def test_random_jitter_without_upscaling_only_mirrors():
    image = ramp_image()
    for output, _ in jitter_outputs(image, image, seeds=range(8), scale=1.0):
        expected = image.numpy()[:, ::-1] if is_mirrored(output) else image.numpy()
        np.testing.assert_allclose(output, expected, atol=1e-6)


# --------------------------------------------------------------------------- #
# make_train_dataset
# --------------------------------------------------------------------------- #
def test_train_batches_all_have_batch_size_and_a_static_shape(tmp_path, tft_output):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(7))

    dataset = train_dataset(pattern, tft_output, batch_size=3, jitter=True)

    assert dataset.element_spec[0].shape == (3, *IMAGE_SHAPE)
    assert dataset.element_spec[1].shape == (3, *IMAGE_SHAPE)
    batches = as_arrays(dataset)
    assert len(batches) == 7 // 3  # the remainder is dropped
    for inputs, targets in batches:
        assert inputs.shape == targets.shape == (3, *IMAGE_SHAPE)
        assert inputs.min() >= -1.0 and inputs.max() <= 1.0


def test_train_dataset_jitter_mirrors_input_and_target_together(tmp_path, tft_output):
    # jitter_scale=1 leaves only the mirror, so every pair is a transformed pair, mirrored or not.
    tf.random.set_seed(0)
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(8))
    reference = trained_pairs(pattern, tft_output)

    dataset = train_dataset(pattern, tft_output, batch_size=2, jitter=True, jitter_scale=1.0)

    mirrored = []
    for inputs, targets in dataset:
        for input_image, target_image in zip(inputs.numpy(), targets.numpy()):
            as_is = [pair_close((input_image, target_image), (a, b)) for a, b in reference]
            flipped = [pair_close((input_image, target_image), (a[:, ::-1], b[:, ::-1]))
                       for a, b in reference]
            assert any(as_is) != any(flipped), "input and target were not mirrored together"
            mirrored.append(any(flipped))
    assert len(mirrored) == 8
    # The seeds fix which flips one pass draws; with these, some pairs are mirrored and some not.
    assert any(mirrored) and not all(mirrored)


@pytest.mark.parametrize("mode", data_cache.CACHE_POLICIES[1:])
def test_train_dataset_without_jitter_yields_each_transformed_pair_once_per_epoch(
        tmp_path, tft_output, mode):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(6))
    reference = trained_pairs(pattern, tft_output)

    dataset = train_dataset(pattern, tft_output, batch_size=2, jitter=False,
                            cache=cache_plan(mode, str(tmp_path / "cache")))

    for _ in range(2):  # two epochs
        assert sorted(epoch_order(dataset, reference)) == list(range(6))


def _batches(pattern, tft_output, **overrides):
    options = dict(batch_size=2, jitter=False, jitter_scale=1.25, shuffle_buffer=100, cache=MEMORY, seed=7)
    options.update(overrides)
    return input_pipeline.make_train_dataset([pattern], tft_output, **options)


def test_each_epoch_has_its_own_order_and_every_run_the_same_ones(tmp_path, tft_output):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(8))
    reference = trained_pairs(pattern, tft_output)
    batches = _batches(pattern, tft_output)

    first_epoch, second_epoch = epoch_order(batches(0), reference), epoch_order(batches(1), reference)

    assert sorted(first_epoch) == sorted(second_epoch) == list(range(8))
    assert first_epoch != list(range(8))
    assert second_epoch != first_epoch
    # Another run (a resumed one: new objects, the same seed) sees the same epochs.
    assert epoch_order(_batches(pattern, tft_output)(1), reference) == second_epoch


@pytest.mark.parametrize("jitter", [False, True])
def test_an_epoch_resumed_after_some_batches_gives_exactly_the_remaining_batches(tmp_path, tft_output, jitter):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(8))
    whole = as_arrays(_batches(pattern, tft_output, jitter=jitter)(3))
    resumed = as_arrays(_batches(pattern, tft_output, jitter=jitter)(3, skip_batches=2))

    assert len(whole) == 4 and len(resumed) == 2
    for (a, b), (c, d) in zip(whole[2:], resumed):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_the_jitter_differs_between_epochs_and_pairs(tmp_path, tft_output):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(4))
    batches = _batches(pattern, tft_output, jitter=True, shuffle_buffer=1, batch_size=4)  # buffer 1: file order
    first, second = as_arrays(batches(0))[0][0], as_arrays(batches(1))[0][0]
    assert not np.array_equal(first, second)


# --------------------------------------------------------------------------- #
# count_records / list_files
# --------------------------------------------------------------------------- #
def test_count_records_counts_without_decoding(tmp_path):
    # Not tf.train.Examples at all: counting must not parse them.
    write_gzip_records(tmp_path / "part-0.gz", [b"not an example", b"", b"\xff" * 1000])
    write_gzip_records(tmp_path / "part-1.gz", [b"x", b"y"])
    write_gzip_records(tmp_path / "empty.gz", [])

    assert input_pipeline.count_records([str(tmp_path / "part-*.gz")]) == 5
    assert input_pipeline.count_records([str(tmp_path / "part-0.gz"), str(tmp_path / "empty.gz")]) == 3


def test_count_records_matches_the_number_of_examples(tmp_path):
    pattern = write_examples(tmp_path / "train.gz", raw_pairs(4))
    assert input_pipeline.count_records([pattern]) == 4


def test_list_files_is_sorted_over_all_patterns(tmp_path):
    for name in ("b.gz", "a.gz", "c.gz"):
        write_gzip_records(tmp_path / name, [])
    files = input_pipeline.list_files([str(tmp_path / "c.gz"), str(tmp_path / "[ab].gz")])
    assert files == [str(tmp_path / name) for name in ("a.gz", "b.gz", "c.gz")]


def test_list_files_names_the_pattern_when_nothing_matches(tmp_path):
    pattern = str(tmp_path / "Split-train" / "*.gz")
    with pytest.raises(ValueError, match="no TFRecord files match") as raised:
        input_pipeline.list_files([pattern])
    assert pattern in str(raised.value)
    with pytest.raises(ValueError, match="Split-train"):
        input_pipeline.count_records([pattern])
