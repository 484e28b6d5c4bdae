"""The Trainer's input cache (components/trainer/data_cache.py).

Pins: ``auto`` keeps the pairs in memory only under the budget, else on local disk when it has room,
else nowhere, and says why; the estimate is uint8 pixels; the shuffle buffer is bounded in bytes;
uint8 caching round-trips exactly the grey levels; a disk cache is whole after one epoch read the way
the training loop reads it (a fixed number of batches), is reused when whole and rebuilt when a killed
run left it half-written; every mode yields the same batches.
"""
import itertools
import os

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import data_cache, input_pipeline

MIB = data_cache.MIB
SIZE, CHANNELS = 16, 3


def _plan(policy, pairs, budget_mb, free=None, work_dir="/tmp/work"):
    return data_cache.plan(policy, pairs=pairs, image_size=SIZE, channels=CHANNELS, memory_budget_mb=budget_mb,
                           work_dir=work_dir, free_disk_bytes=free)


def test_the_estimate_is_two_uint8_images_per_pair():
    assert data_cache.pair_bytes(256, 3) == 2 * 256 * 256 * 3          # 384 KiB, not float32's 1.5 MiB
    assert _plan("auto", 10, 1).estimate_bytes == 10 * 2 * SIZE * SIZE * CHANNELS


def test_auto_keeps_a_dataset_under_the_budget_in_memory():
    plan = _plan("auto", 100, 1.0)
    assert plan.mode == data_cache.CACHE_MEMORY and plan.directory is None
    assert "fits trainer.cache_memory_mb 1" in plan.describe()


def test_auto_moves_a_dataset_over_the_budget_to_local_disk_in_the_work_folder():
    plan = _plan("auto", 100, 0.01, free=100 << 30)
    assert plan.mode == data_cache.CACHE_DISK
    assert plan.directory == os.path.join("/tmp/work", data_cache.CACHE_FOLDER)
    assert "over trainer.cache_memory_mb 0.01" in plan.describe()


def test_auto_caches_nothing_when_the_disk_has_no_room_either():
    estimate = 100 * data_cache.pair_bytes(SIZE, CHANNELS)
    plan = _plan("auto", 100, 0.01, free=estimate + data_cache.DISK_RESERVE_BYTES - 1)
    assert plan.mode == data_cache.CACHE_NONE and plan.directory is None
    assert "decoded every epoch" in plan.describe() and "MiB free" in plan.describe()


def test_a_remote_work_folder_caches_on_the_local_temp_disk():
    plan = _plan("disk", 10, 1, work_dir="gs://bucket/root/Trainer/checkpoints/abc123")
    assert "://" not in plan.directory and plan.directory.endswith("abc123")


@pytest.mark.parametrize("policy", ["memory", "disk", "none"])
def test_an_explicit_policy_is_followed_whatever_the_size(policy):
    assert _plan(policy, 10 ** 6, 0.0, free=0).mode == policy


def test_an_unknown_policy_names_the_key():
    with pytest.raises(ValueError, match="trainer.cache.*'ram'"):
        _plan("ram", 1, 1)


def test_the_shuffle_buffer_is_bounded_in_bytes_and_in_pairs():
    per_pair = data_cache.pair_bytes(256, 3)
    assert data_cache.shuffle_buffer_pairs(1000, 256, 256, 3) == 256 * MIB // per_pair   # 682 pairs, not 1000
    assert data_cache.shuffle_buffer_pairs(100, 256, 256, 3) == 100
    assert data_cache.shuffle_buffer_pairs(1000, 0.001, 256, 3) == 1                    # never empty


def test_uint8_round_trip_keeps_every_grey_level():
    levels = tf.range(256, dtype=tf.float32) / 127.5 - 1.0       # what Transform makes of 8-bit pixels
    back = data_cache.to_model_range(data_cache.to_uint8(levels))
    np.testing.assert_allclose(back.numpy(), levels.numpy(), atol=1e-6)
    assert data_cache.to_uint8(tf.constant([-1.5, 1.5])).numpy().tolist() == [0, 255]


def _uint8_pairs(count):
    rng = np.random.default_rng(0)
    shape = (count, SIZE, SIZE, CHANNELS)
    return tf.data.Dataset.from_tensor_slices((rng.integers(0, 256, shape, dtype=np.uint8),
                                               rng.integers(0, 256, shape, dtype=np.uint8)))


def _epoch(pairs, cache_plan, epoch, *, count, batch=4, buffer=8, name="train"):
    """One epoch read as gan_trainer.fit reads it: exactly steps_per_epoch batches, then the iterator goes."""
    batches = input_pipeline.TrainBatches(data_cache.apply(pairs, cache_plan, name), batch_size=batch,
                                          jitter=True, jitter_scale=1.25, shuffle_buffer=buffer, seed=3)
    return [(a.numpy(), b.numpy()) for a, b in itertools.islice(batches(epoch), count // batch)]


def test_a_disk_cache_is_whole_after_one_epoch_and_every_mode_yields_the_same_batches(tmp_path):
    count = 22                                               # a partial last batch, dropped
    disk = _plan("disk", count, 0, work_dir=str(tmp_path))
    first = _epoch(_uint8_pairs(count), disk, 0, count=count)
    prefix = os.path.join(disk.directory, "train")
    assert os.path.exists(prefix + data_cache.INDEX_SUFFIX)
    assert not [name for name in os.listdir(disk.directory) if name.endswith(".lockfile")]
    for mode in ("memory", "none"):
        other = _epoch(_uint8_pairs(count), _plan(mode, count, 0), 0, count=count)
        for (a, b), (c, d) in zip(first, other):
            np.testing.assert_array_equal(a, c)
            np.testing.assert_array_equal(b, d)
    assert first[0][0].dtype == np.float32 and -1.0 <= first[0][0].min() and first[0][0].max() <= 1.0


def test_a_whole_disk_cache_is_reused_and_a_half_written_one_rebuilt(tmp_path):
    count = 12
    disk = _plan("disk", count, 0, work_dir=str(tmp_path))
    reference = _epoch(_uint8_pairs(count), disk, 1, count=count)
    # Reused: another source of the same shape is not read at all once the cache is whole.
    zeros = tf.data.Dataset.from_tensor_slices((np.zeros((count, SIZE, SIZE, CHANNELS), np.uint8),) * 2)
    assert np.array_equal(_epoch(zeros, disk, 1, count=count)[0][0], reference[0][0])
    # A killed run: data written, no index, the lock file left behind.
    prefix = os.path.join(disk.directory, "train")
    os.remove(prefix + data_cache.INDEX_SUFFIX)
    with open(prefix + "_0.lockfile", "w") as handle:
        handle.write("killed")
    rebuilt = _epoch(_uint8_pairs(count), disk, 1, count=count)
    np.testing.assert_array_equal(rebuilt[0][0], reference[0][0])
    assert os.path.exists(prefix + data_cache.INDEX_SUFFIX)


def test_remove_takes_the_disk_cache_away(tmp_path):
    disk = _plan("disk", 4, 0, work_dir=str(tmp_path))
    _epoch(_uint8_pairs(4), disk, 0, count=4)
    data_cache.remove(disk)
    assert not os.path.exists(disk.directory)


# --------------------------------------------------------------------------- #
# run_fn: the Trainer itself, over its budget
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_the_trainer_over_its_memory_budget_caches_on_disk_and_removes_it(transform_output_dir, tmp_path,
                                                                          monkeypatch, caplog):
    import dataclasses
    import logging

    from tfx.components.trainer.fn_args_utils import FnArgs

    from components.trainer import run_fn
    from components.typed_settings import pack
    from pipeline.config import load_config
    from tests.support.training import CONFIG_PATH, tiny_settings, write_tiny_examples
    from tests.support.transform_graph import TINY_IMAGE_SIZE

    config = load_config(str(CONFIG_PATH))
    budget_mb = 0.001                                        # ~1 KiB: 10 tiny pairs are ~15 KiB
    trainer = tiny_settings(epochs=2, epochs_decay=0, sample_images=1, cache="auto", cache_memory_mb=budget_mb)
    fn_args = FnArgs(
        train_files=[write_tiny_examples(tmp_path / "train.gz", 8)],
        eval_files=[write_tiny_examples(tmp_path / "eval.gz", 2)],
        transform_output=transform_output_dir, serving_model_dir=str(tmp_path / "serving"),
        model_run_dir=str(tmp_path / "model_run"),
        custom_config=pack(trainer=trainer, serving=config.serving, checkpoint_root=str(tmp_path / "checkpoints"),
                           transform=dataclasses.replace(config.transform, image_size=TINY_IMAGE_SIZE, channels=3)))
    cached = {}
    remove = data_cache.remove

    def look_then_remove(plan):          # what the disk held when training was done
        cached.update(plan=plan, files=sorted(os.listdir(plan.directory)) if plan.directory else [])
        remove(plan)
    monkeypatch.setattr(data_cache, "remove", look_then_remove)

    with caplog.at_level(logging.INFO):
        run_fn.run_fn(fn_args)

    assert cached["plan"].mode == data_cache.CACHE_DISK and cached["plan"].pairs == 10
    assert {"train.index", "eval.index"} <= set(cached["files"])
    assert any(f"trainer.cache: disk (10 pairs" in m and f"over trainer.cache_memory_mb {budget_mb:g}" in m
               for m in caplog.messages)
    assert not os.path.exists(cached["plan"].directory)
    assert (tmp_path / "serving" / "saved_model.pb").exists()
