"""FID: the Frechet distance formula, and the optional Inception feature path with local weights."""
import types

import numpy as np
import pytest
import tensorflow as tf

from components.evaluator import fid

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test


def test_frechet_distance_of_one_dimensional_gaussians():
    # (mu1 - mu2)^2 + s1 + s2 - 2 sqrt(s1 s2) with variances 4 and 1: 9 + 4 + 1 - 4 = 10
    assert fid.frechet_distance(np.array([3.0]), np.array([[4.0]]), np.array([0.0]), np.array([[1.0]])) == \
        pytest.approx(10.0)


def test_frechet_distance_is_zero_for_identical_gaussians():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(50, 4))
    mu, sigma = samples.mean(0), np.cov(samples, rowvar=False)
    assert fid.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)


def test_fid_is_skipped_without_weights_and_a_missing_file_is_named():
    assert fid.FrechetInceptionDistance.from_settings(types.SimpleNamespace(fid_inception_weights=None)) is None
    with pytest.raises(FileNotFoundError, match="evaluator.fid_inception_weights: /no/such.h5 does not exist"):
        fid.FrechetInceptionDistance.from_settings(types.SimpleNamespace(fid_inception_weights="/no/such.h5"))


def test_fid_with_local_weights_separates_different_image_sets(tmp_path):
    tf.keras.utils.set_random_seed(0)
    weights = str(tmp_path / "inception_notop.h5")
    tf.keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg").save_weights(weights)
    metric = fid.FrechetInceptionDistance.from_settings(types.SimpleNamespace(fid_inception_weights=weights))
    rng = np.random.default_rng(1)
    images = tf.constant(rng.uniform(0, 255, size=(4, 32, 32, 3)), tf.float32)
    metric.add(images, {"same": images})
    same = metric.result("same")
    # Untrained Inception features are huge; "zero" is relative to their spread.
    features = metric._features(images)
    scale = 2 * np.trace(np.cov(features, rowvar=False))
    assert abs(same["mean"]) <= 1e-6 * scale and same["count"] == 4
    other = fid.FrechetInceptionDistance(weights)
    other.add(tf.zeros_like(images), {"other": images})
    assert other.result("other")["mean"] > 1e-3 * scale


def test_the_running_moments_are_np_cov_over_every_batch_together():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 5)) for n in (1, 4, 7, 2)]    # uneven batches, one of a single image
    moments = fid.FeatureMoments()
    for batch in batches:
        moments.add(batch)
    everything = np.concatenate(batches)
    assert moments.count == len(everything)
    np.testing.assert_allclose(moments.mean, everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(moments.covariance(), np.cov(everything, rowvar=False), rtol=1e-10, atol=1e-12)
