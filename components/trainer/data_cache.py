"""Where the Trainer keeps the decoded pairs between epochs: in memory, on local disk, or nowhere.

Decoding and the Transform graph are cheap next to a train step, but the cache decides whether the
Trainer's memory grows with the dataset. Decoded float32 pairs cost 2 x H x W x C x 4 bytes each
(1.5 MB at 256 px: 75 GB for edges2shoes), so the cache holds uint8 pixels (4x smaller; exact for
sources already at ``transform.image_size``, otherwise within half a grey level of the resized
value), and ``auto`` keeps them in memory only when the estimate fits ``trainer.cache_memory_mb``,
else in the run's local work folder when its disk has room, else re-reads the TFRecords every epoch.
The shuffle buffer holds the same uint8 pairs and is bounded by ``trainer.shuffle_buffer_mb`` too.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
from typing import Optional

import tensorflow as tf

log = logging.getLogger(__name__)

CACHE_AUTO, CACHE_MEMORY, CACHE_DISK, CACHE_NONE = "auto", "memory", "disk", "none"
CACHE_POLICIES = (CACHE_AUTO, CACHE_MEMORY, CACHE_DISK, CACHE_NONE)
MIB = 1 << 20
# A disk cache may use the estimate plus this share (TFRecord-bundle overhead), and must leave this much free.
DISK_OVERHEAD = 0.1
DISK_RESERVE_BYTES = 2 << 30
CACHE_FOLDER = "input_cache"          # inside the work folder: not archived into the ModelRun, removed with it
INDEX_SUFFIX = ".index"               # tf.data writes a cache's index last: present = the cache is whole
PIXEL_MAX = 255.0


def pair_bytes(image_size: int, channels: int) -> int:
    """What one cached (input, target) pair costs: two uint8 images."""
    return 2 * image_size * image_size * channels


@dataclasses.dataclass(frozen=True)
class CachePlan:
    """The cache a run uses and why, decided before training from the record counts."""

    mode: str                  # memory | disk | none
    pairs: int
    estimate_bytes: int
    reason: str
    directory: Optional[str]   # disk mode: the local folder the cache files go in

    def describe(self) -> str:
        return (f"trainer.cache: {self.mode} ({self.pairs} pairs x {self.estimate_bytes // max(self.pairs, 1)} "
                f"bytes = {self.estimate_bytes / MIB:.0f} MiB of uint8 pixels; {self.reason})")


def local_folder(work_dir: str) -> str:
    """The cache's folder: inside the work folder when it is local, else under the local temp folder
    (a gs:// work folder would make every epoch read over the network)."""
    if "://" not in work_dir:
        return os.path.join(work_dir, CACHE_FOLDER)
    return os.path.join(tempfile.gettempdir(), "pix2pix_" + CACHE_FOLDER, os.path.basename(work_dir.rstrip("/")))


def plan(policy: str, *, pairs: int, image_size: int, channels: int, memory_budget_mb: float,
         work_dir: str, free_disk_bytes: Optional[int] = None) -> CachePlan:
    """``policy`` (trainer.cache) for ``pairs`` pairs; ``free_disk_bytes`` defaults to the folder's disk."""
    if policy not in CACHE_POLICIES:
        raise ValueError(f"trainer.cache: got {policy!r}; allowed values: {list(CACHE_POLICIES)}")
    estimate = pairs * pair_bytes(image_size, channels)
    directory = local_folder(work_dir)
    budget = int(memory_budget_mb * MIB)
    if policy == CACHE_MEMORY:
        return CachePlan(CACHE_MEMORY, pairs, estimate, "as set", None)
    if policy == CACHE_NONE:
        return CachePlan(CACHE_NONE, pairs, estimate, "as set: the TFRecords are decoded every epoch", None)
    if policy == CACHE_DISK:
        return CachePlan(CACHE_DISK, pairs, estimate, f"as set, in {directory}", directory)
    if estimate <= budget:
        return CachePlan(CACHE_MEMORY, pairs, estimate, f"fits trainer.cache_memory_mb {memory_budget_mb:g}", None)
    free = _free_bytes(directory) if free_disk_bytes is None else free_disk_bytes
    needed = int(estimate * (1 + DISK_OVERHEAD)) + DISK_RESERVE_BYTES
    over = f"over trainer.cache_memory_mb {memory_budget_mb:g}"
    if free >= needed:
        return CachePlan(CACHE_DISK, pairs, estimate, f"{over}; on local disk in {directory} "
                         f"({free / MIB:.0f} MiB free)", directory)
    return CachePlan(CACHE_NONE, pairs, estimate, f"{over}, and the local disk of {directory} has "
                     f"{free / MIB:.0f} MiB free (needs {needed / MIB:.0f}): decoded every epoch", None)


def _free_bytes(directory: str) -> int:
    probe = directory
    while probe and not os.path.isdir(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return shutil.disk_usage(probe or ".").free


def shuffle_buffer_pairs(pairs: int, buffer_mb: float, image_size: int, channels: int) -> int:
    """The shuffle buffer in pairs: ``trainer.shuffle_buffer`` pairs, at most ``shuffle_buffer_mb`` of them."""
    return max(1, min(pairs, int(buffer_mb * MIB) // pair_bytes(image_size, channels)))


def to_uint8(image: tf.Tensor) -> tf.Tensor:
    """[-1, 1] floats -> the nearest uint8 grey levels."""
    return tf.cast(tf.clip_by_value(tf.round((image + 1.0) * (PIXEL_MAX / 2)), 0.0, PIXEL_MAX), tf.uint8)


def to_model_range(image: tf.Tensor) -> tf.Tensor:
    """uint8 grey levels -> [-1, 1] floats (what the networks see); floats pass through."""
    if image.dtype != tf.uint8:
        return image
    return tf.cast(image, tf.float32) / (PIXEL_MAX / 2) - 1.0


def pairs_in_model_range(pairs: tf.data.Dataset) -> tf.data.Dataset:
    """Cached or shuffled (input, target) pairs back as the networks' [-1, 1] floats, in order."""
    return pairs.map(lambda a, b: (to_model_range(a), to_model_range(b)), num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)


def apply(pairs: tf.data.Dataset, cache_plan: CachePlan, name: str) -> tf.data.Dataset:
    """``pairs`` (uint8) cached as planned; ``name`` tells the train and eval caches apart on disk."""
    if cache_plan.mode == CACHE_MEMORY:
        return pairs.cache()
    if cache_plan.mode == CACHE_DISK:
        prefix = os.path.join(cache_plan.directory, name)
        prepare_disk(prefix)
        return pairs.cache(prefix)
    return pairs


def prepare_disk(prefix: str) -> None:
    """A whole cache (its index written) is reused; what a killed run left half-written is removed
    (tf.data would otherwise refuse it as a 'concurrent caching iterator')."""
    folder = os.path.dirname(prefix)
    os.makedirs(folder, exist_ok=True)
    if os.path.exists(prefix + INDEX_SUFFIX):
        return
    stem = os.path.basename(prefix)
    for entry in os.listdir(folder):
        if entry.startswith(stem + ".") or entry.startswith(stem + "_"):
            log.info("removing a half-written input cache file: %s", os.path.join(folder, entry))
            os.remove(os.path.join(folder, entry))


def remove(cache_plan: CachePlan) -> None:
    """The disk cache goes when training is done (a work folder on local disk goes anyway)."""
    if cache_plan.directory and os.path.isdir(cache_plan.directory):
        shutil.rmtree(cache_plan.directory, ignore_errors=True)
