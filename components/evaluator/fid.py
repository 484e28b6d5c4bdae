"""Optional Frechet Inception Distance between generated and target images.

FID needs InceptionV3 weights, and nothing is downloaded at run time: it is
computed only when ``evaluator.fid_inception_weights`` points at a local
InceptionV3 "notop" weights file (Keras' ``inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5``).
Unset, it is skipped with a log line. With a few dozen eval images FID is
noisy and biased upwards; compare it between models on the same split only.
"""
from __future__ import annotations

import logging
from typing import Dict, Mapping, Optional

import numpy as np
import tensorflow as tf
from scipy import linalg

from components.evaluator import metrics

log = logging.getLogger(__name__)


INCEPTION_SIZE = 299
WEIGHTS_KEY = "evaluator.fid_inception_weights"
MIN_EXAMPLES = 2  # a covariance needs two samples


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2), the distance between two Gaussians.

    Tr((S1 S2)^1/2) is computed as the sum of square roots of the eigenvalues of
    the symmetric PSD matrix S1^1/2 S2 S1^1/2 (same spectrum as S1 S2). With fewer
    samples than feature dimensions both covariances are singular, and a general
    ``sqrtm`` of S1 S2 then returns garbage; symmetric eigendecompositions do not.
    """
    w1, v1 = linalg.eigh(sigma1)
    sqrt_sigma1 = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    middle = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    trace_sqrt = float(np.sum(np.sqrt(np.clip(linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None))))
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


class FeatureMoments:
    """The running mean and covariance of feature vectors, merged batch by batch (Chan et al.'s update):
    memory stays 2048 x 2048 floats however many images the split has, and the result is np.cov's."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: Optional[np.ndarray] = None
        self._scatter: Optional[np.ndarray] = None    # sum of outer products of deviations from the mean

    def add(self, batch: np.ndarray) -> None:
        n = len(batch)
        if n == 0:
            return
        batch_mean = batch.mean(0)
        centred = batch - batch_mean
        batch_scatter = centred.T @ centred
        if self.count == 0:
            self.count, self.mean, self._scatter = n, batch_mean, batch_scatter
            return
        total = self.count + n
        delta = batch_mean - self.mean
        self._scatter = self._scatter + batch_scatter + np.outer(delta, delta) * (self.count * n / total)
        self.mean = self.mean + delta * (n / total)
        self.count = total

    def covariance(self) -> np.ndarray:
        """The sample covariance (n - 1 in the denominator, as np.cov)."""
        return self._scatter / (self.count - 1)


class FrechetInceptionDistance:
    """Accumulates Inception pool features of the targets and of each model's generated images.

    The targets' features are computed once and shared, so the candidate and the
    last blessed model are measured against the same reference set (what a
    regression rule on FID compares). Only their running moments are kept: the
    Evaluator's memory does not grow with the eval split.
    """

    def __init__(self, weights_path: str):
        self.model = tf.keras.applications.InceptionV3(
            include_top=False, weights=weights_path, pooling="avg",
            input_shape=(INCEPTION_SIZE, INCEPTION_SIZE, 3))
        self._targets = FeatureMoments()
        self._generated: Dict[str, FeatureMoments] = {}

    @classmethod
    def from_settings(cls, settings) -> Optional["FrechetInceptionDistance"]:
        path = settings.fid_inception_weights
        if not path:
            log.info("FID skipped: %s is not set (no weights are downloaded)", WEIGHTS_KEY)
            return None
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{WEIGHTS_KEY}: {path} does not exist; expected a local InceptionV3 "
                                    "notop .h5 weights file, or null to skip FID")
        return cls(path)

    def _features(self, pixels: tf.Tensor) -> np.ndarray:
        """[B, H, W, C] floats in [0, 255] -> [B, 2048] pool features."""
        images = tf.image.resize(tf.cast(pixels, tf.float32), [INCEPTION_SIZE, INCEPTION_SIZE])
        if images.shape[-1] == 1:
            images = tf.image.grayscale_to_rgb(images)
        return self.model(images / 127.5 - 1.0, training=False).numpy().astype(np.float64)

    def add(self, targets: tf.Tensor, generated: Mapping[str, tf.Tensor]) -> None:
        """One batch: its targets, and what each named model generated for them."""
        self._targets.add(self._features(targets))
        for name, images in generated.items():
            self._generated.setdefault(name, FeatureMoments()).add(self._features(images))

    def result(self, name: str) -> dict:
        """FID of model ``name`` in the shape of the per-example metrics' stats (one value: FID is per set)."""
        if name not in self._generated:
            raise KeyError(f"FID: no images of {name!r} were added (models seen: {sorted(self._generated)})")
        generated, targets = self._generated[name], self._targets
        if generated.count != targets.count:
            raise ValueError(f"FID: {generated.count} images of {name!r} for {targets.count} targets; "
                             "every batch must hold the same examples for every model")
        if generated.count < MIN_EXAMPLES:
            raise ValueError(f"FID needs at least {MIN_EXAMPLES} eval examples, got {generated.count}")
        value = frechet_distance(generated.mean, generated.covariance(), targets.mean, targets.covariance())
        stats = {statistic: value for statistic in metrics.STATISTICS}
        return stats | {"count": int(generated.count)}
