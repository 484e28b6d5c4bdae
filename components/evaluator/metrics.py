"""Per-example image-quality metrics for generated vs target images.

Every metric takes two batches of shape ``[B, H, W, C]`` with pixel values in
``[0, 255]`` (the evaluator converts the generator's ``[-1, 1]`` output first)
and returns one value per example, so the evaluator can report distributions
and tails rather than only a batch mean. Spatial sizes must be known
statically (true in eager mode), because the SSIM filter size and the MS-SSIM
applicability are decided from them.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

L1 = "l1"
PSNR = "psnr"
SSIM = "ssim"
MS_SSIM = "ms_ssim"
FID = "fid"  # per set, computed by components.evaluator.fid when weights are configured

PIXEL_MAX = 255.0

# PSNR of identical images is infinite; a finite cap keeps means and
# percentiles meaningful. Every PSNR above the cap is reported as the cap.
# 100 dB is far above anything a generator reaches (typically 15-35 dB).
PSNR_CAP_DB = 100.0

# Standard SSIM window (Wang et al. 2004), as in tf.image.ssim's defaults.
SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5

# tf.image.ssim_multiscale uses 5 scales, halving the image (rounding up)
# 4 times; the coarsest scale must still hold an 11x11 window, so each side
# needs at least (11 - 1) * 2**4 + 1 = 161 pixels.
MS_SSIM_SCALES = 5
MS_SSIM_MIN_SIZE = (SSIM_FILTER_SIZE - 1) * 2 ** (MS_SSIM_SCALES - 1) + 1

# Direction of "better" for each metric; decides which tail is the bad one.
HIGHER_IS_BETTER = {L1: False, PSNR: True, SSIM: True, MS_SSIM: True, FID: False}
METRIC_NAMES = tuple(HIGHER_IS_BETTER)
# Values each metric can take (L1 in [0, 255] pixels, PSNR capped at PSNR_CAP_DB, SSIM in [-1, 1]):
# a threshold outside them could never pass.
METRIC_BOUNDS = {L1: (0.0, PIXEL_MAX), PSNR: (0.0, PSNR_CAP_DB), SSIM: (-1.0, 1.0), MS_SSIM: (-1.0, 1.0),
                 FID: (0.0, float("inf"))}
# What summarize() reports of each metric over the eval set (a threshold or regression rule names one).
MEAN, P10, P90, MIN, MAX = "mean", "p10", "p90", "min", "max"
STATISTICS = (MEAN, P10, P90, MIN, MAX)


def _as_float_pair(generated, target) -> tuple[tf.Tensor, tf.Tensor]:
    """Casts both batches to float32 and rejects mismatched or non-4D shapes."""
    generated = tf.cast(generated, tf.float32)
    target = tf.cast(target, tf.float32)
    generated.shape.assert_has_rank(4)
    generated.shape.assert_is_compatible_with(target.shape)
    return generated, target


def _static_spatial_size(images: tf.Tensor) -> tuple[int, int]:
    height, width = images.shape[1], images.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"Image height and width must be known statically, got shape {images.shape}."
        )
    return height, width


def l1_per_example(generated, target) -> tf.Tensor:
    """Mean absolute pixel error per example, in [0, 255] units; shape [B]."""
    generated, target = _as_float_pair(generated, target)
    return tf.reduce_mean(tf.abs(generated - target), axis=[1, 2, 3])


def psnr_per_example(generated, target) -> tf.Tensor:
    """PSNR in dB (peak 255) per example, capped at PSNR_CAP_DB; shape [B]."""
    generated, target = _as_float_pair(generated, target)
    mse = tf.reduce_mean(tf.square(generated - target), axis=[1, 2, 3])
    # mse == 0 gives log(inf) = inf, which the cap turns into PSNR_CAP_DB.
    psnr = 10.0 * tf.math.log(PIXEL_MAX**2 / mse) / tf.math.log(10.0)
    return tf.minimum(psnr, PSNR_CAP_DB)


def ssim_per_example(generated, target) -> tf.Tensor:
    """SSIM per example (11x11 Gaussian window, sigma 1.5); shape [B].

    For images smaller than the window, the window shrinks to the smaller
    image side instead of failing; for a 1-pixel side SSIM degenerates to the
    luminance/contrast terms of single pixels.
    """
    generated, target = _as_float_pair(generated, target)
    filter_size = min(SSIM_FILTER_SIZE, *_static_spatial_size(generated))
    return tf.image.ssim(
        generated,
        target,
        max_val=PIXEL_MAX,
        filter_size=filter_size,
        filter_sigma=SSIM_FILTER_SIGMA,
    )


def ms_ssim_per_example(generated, target) -> tf.Tensor | None:
    """Multi-scale SSIM per example, or None for images under MS_SSIM_MIN_SIZE.

    None rather than a shrunken window, because MS-SSIM with fewer scales or a
    smaller window is a different metric and would not be comparable.
    """
    generated, target = _as_float_pair(generated, target)
    if min(_static_spatial_size(generated)) < MS_SSIM_MIN_SIZE:
        return None
    return tf.image.ssim_multiscale(
        generated,
        target,
        max_val=PIXEL_MAX,
        filter_size=SSIM_FILTER_SIZE,
        filter_sigma=SSIM_FILTER_SIGMA,
    )


def to_pixels(images: tf.Tensor) -> tf.Tensor:
    """[-1, 1] model-space images -> float [0, 255] pixel space of the metrics."""
    return (tf.cast(images, tf.float32) + 1.0) * (PIXEL_MAX / 2.0)


def score_batch(accumulator: "MetricAccumulator", generated: tf.Tensor, target: tf.Tensor) -> None:
    """Every image metric of one batch in pixel space: what the Evaluator scores and the Trainer validates."""
    accumulator.add(L1, l1_per_example(generated, target))
    accumulator.add(PSNR, psnr_per_example(generated, target))
    accumulator.add(SSIM, ssim_per_example(generated, target))
    accumulator.add(MS_SSIM, ms_ssim_per_example(generated, target))


def summarize(values) -> dict:
    """Mean, tails (numpy.percentile, linear), extremes and count of one metric."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("Cannot summarize an empty set of metric values.")
    return {
        MEAN: float(np.mean(values)),
        P10: float(np.percentile(values, 10)),
        P90: float(np.percentile(values, 90)),
        MIN: float(np.min(values)),
        MAX: float(np.max(values)),
        "count": int(values.size),
    }


def worst_tail_key(name: str) -> str:
    """The percentile key that holds a metric's bad tail: p90 for L1, else p10."""
    return P10 if HIGHER_IS_BETTER[name] else P90


def worst_tail(name: str, stats: dict) -> float:
    """The bad-tail value of a metric's summary, e.g. the 10% worst PSNR."""
    return stats[worst_tail_key(name)]


class MetricAccumulator:
    """Collects per-example values over many batches; summarizes at the end.

    Keeps every value (a float per example per metric is small) so that
    percentiles are exact rather than streamed approximations.
    """

    def __init__(self) -> None:
        self._values: dict[str, list[np.ndarray]] = {}

    def add(self, name: str, per_example_values) -> None:
        """Appends one batch of values; None (metric undefined, e.g. MS-SSIM on
        small images) is ignored, so ms_ssim_per_example's result can be
        passed straight in."""
        if per_example_values is None:
            return
        values = np.asarray(per_example_values, dtype=np.float64).reshape(-1)
        self._values.setdefault(name, []).append(values)

    def result(self) -> dict[str, dict]:
        """Summary per metric name, in the order the names were first added."""
        return {
            name: summarize(np.concatenate(batches))
            for name, batches in self._values.items()
        }
