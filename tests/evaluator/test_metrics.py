"""Per-example metrics against hand-computed values, and their summaries."""
import math

import numpy as np
import pytest
import tensorflow as tf

from components.evaluator import metrics as m


def _random_images(shape, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, size=shape).astype(np.float32)


def test_identical_images_are_perfect():
    images = _random_images([3, 16, 16, 3])
    np.testing.assert_allclose(m.l1_per_example(images, images), [0, 0, 0])
    np.testing.assert_allclose(m.psnr_per_example(images, images), [m.PSNR_CAP_DB] * 3)
    np.testing.assert_allclose(m.ssim_per_example(images, images), [1, 1, 1], atol=1e-5)


def test_constant_offset_of_ten():
    target = np.full([2, 12, 12, 3], 100.0, np.float32)
    generated = target + 10.0
    np.testing.assert_allclose(m.l1_per_example(generated, target), [10, 10])
    expected_psnr = 20 * math.log10(255 / 10)
    np.testing.assert_allclose(m.psnr_per_example(generated, target), [expected_psnr] * 2, rtol=1e-6)


def test_l1_two_by_two_by_hand():
    generated = np.array([[[[0.0], [10.0]], [[20.0], [255.0]]]], np.float32)
    target = np.array([[[[4.0], [10.0]], [[0.0], [250.0]]]], np.float32)
    # |0-4| + |10-10| + |20-0| + |255-250| = 29 over 4 pixels.
    np.testing.assert_allclose(m.l1_per_example(generated, target), [29 / 4])
    # MSE = (16 + 0 + 400 + 25) / 4.
    expected_psnr = 10 * math.log10(255**2 / (441 / 4))
    np.testing.assert_allclose(m.psnr_per_example(generated, target), [expected_psnr], rtol=1e-6)


def test_per_example_values_are_independent_within_a_batch():
    target = np.zeros([3, 8, 8, 3], np.float32)
    generated = target + np.array([0, 5, 50], np.float32)[:, None, None, None]
    for metric in (m.l1_per_example, m.psnr_per_example, m.ssim_per_example):
        values = metric(generated, target)
        assert values.shape == (3,)
        assert values.dtype == tf.float32
    np.testing.assert_allclose(m.l1_per_example(generated, target), [0, 5, 50])
    psnr = m.psnr_per_example(generated, target).numpy()
    assert psnr[0] == m.PSNR_CAP_DB and psnr[0] > psnr[1] > psnr[2]


def test_uint8_inputs_are_accepted():
    images = _random_images([1, 8, 8, 3]).astype(np.uint8)
    np.testing.assert_allclose(m.l1_per_example(images, images // 2), m.l1_per_example(
        images.astype(np.float32), (images // 2).astype(np.float32)))


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError):
        m.l1_per_example(np.zeros([1, 8, 8, 3]), np.zeros([1, 8, 9, 3]))


def test_ssim_is_lower_for_noisier_image():
    target = _random_images([1, 32, 32, 3], seed=1)
    noise = np.random.default_rng(2).normal(size=target.shape).astype(np.float32)
    slightly = np.clip(target + 5 * noise, 0, 255)
    very = np.clip(target + 60 * noise, 0, 255)
    ssim_slightly = float(m.ssim_per_example(slightly, target)[0])
    ssim_very = float(m.ssim_per_example(very, target)[0])
    assert 1.0 > ssim_slightly > ssim_very


def test_ssim_of_images_smaller_than_the_window_does_not_crash():
    target = _random_images([2, 4, 6, 3])
    np.testing.assert_allclose(m.ssim_per_example(target, target), [1, 1], atol=1e-5)
    assert float(m.ssim_per_example(target * 0.5, target)[0]) < 1.0


def test_ms_ssim_needs_the_minimum_size():
    assert m.MS_SSIM_MIN_SIZE == 161
    small = _random_images([1, m.MS_SSIM_MIN_SIZE - 1, 256, 3])
    assert m.ms_ssim_per_example(small, small) is None

    target = _random_images([2, 256, 256, 3])
    identical = m.ms_ssim_per_example(target, target)
    np.testing.assert_allclose(identical, [1, 1], atol=1e-5)
    degraded = m.ms_ssim_per_example(np.clip(target * 0.8 + 20, 0, 255), target)
    assert degraded.shape == (2,)
    assert np.all(degraded.numpy() < 1.0)


def test_summarize_matches_numpy():
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    stats = m.summarize(values)
    assert stats == {
        "mean": pytest.approx(values.mean()),
        "p10": pytest.approx(np.percentile(values, 10)),
        "p90": pytest.approx(np.percentile(values, 90)),
        "min": 1.0,
        "max": 9.0,
        "count": 8,
    }
    assert all(type(stats[key]) is float for key in ("mean", "p10", "p90", "min", "max"))
    with pytest.raises(ValueError):
        m.summarize(np.array([]))


def test_accumulator_over_batches_equals_summary_of_concatenation():
    rng = np.random.default_rng(3)
    batches = [rng.normal(size=n) for n in (4, 7, 1)]
    accumulator = m.MetricAccumulator()
    for batch in batches:
        accumulator.add(m.PSNR, tf.constant(batch))
        accumulator.add(m.L1, batch * 2)
        accumulator.add(m.MS_SSIM, None)  # Undefined for small images: skipped.
    result = accumulator.result()
    assert list(result) == [m.PSNR, m.L1]
    assert result[m.PSNR] == pytest.approx(m.summarize(np.concatenate(batches)))
    assert result[m.L1] == pytest.approx(m.summarize(np.concatenate(batches) * 2))
    assert result[m.PSNR]["count"] == 12


def test_worst_tail_picks_the_bad_side():
    stats = m.summarize(np.arange(11.0))
    assert m.worst_tail(m.L1, stats) == stats["p90"] == pytest.approx(9.0)
    for name in (m.PSNR, m.SSIM, m.MS_SSIM):
        assert m.worst_tail(name, stats) == stats["p10"] == pytest.approx(1.0)
    assert m.worst_tail_key(m.L1) == "p90"
    assert set(m.HIGHER_IS_BETTER) == {m.L1, m.PSNR, m.SSIM, m.MS_SSIM, m.FID}
    assert m.worst_tail_key(m.FID) == "p90"  # lower FID is better
