"""tf.distribute strategies from trainer.distribution_strategy (components/trainer/distribution.py).

Pins: ``mirrored`` on two logical CPUs splits the global batch across two replicas and its step
gives the single-device step's losses, gradients (Adam's moments) and weights; a single-worker and a
real two-process ``multi_worker_mirrored`` (localhost, TF_CONFIG) train in sync; only the chief
writes the real checkpoint folder, the others a temporary one they delete; bad settings are refused
naming the config key.

Logical devices and multi-worker collectives must be configured before TensorFlow starts, so the
training scenarios run in fresh interpreters (tests/support/distributed_training.py). The comparison uses
instance norm and no dropout: batch norm normalises each replica's half-batch with its own
statistics, and dropout draws different masks per replica, so neither can match one device.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import distribution
from tests.support import paths

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

ROOT = Path(paths.ROOT)
SCENARIO_TIMEOUT_S = 240
LOSS_KEYS = {"g_total", "g_gan", "g_l1", "d_total", "d_real", "d_fake", "d_gp"}


def run_scenario(scenario, tmp_path, name="result", tf_config=None):
    """Starts tests/support/distributed_training.py; returns the process (wait with ``finish``)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}  # the scenario imports components: legacy Keras
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    output = tmp_path / f"{name}.json"
    log = open(tmp_path / f"{name}.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "tests.support.distributed_training", scenario, str(output),
                                str(tmp_path / "checkpoints")], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT)
    return process, output, tmp_path / f"{name}.log"


def finish(started):
    process, output, log = started
    try:
        process.wait(timeout=SCENARIO_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, log.read_text()[-4000:]
    return json.loads(output.read_text())


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def assert_close(actual, expected, rtol, scale_atol=0.0):
    """Element-wise closeness; ``scale_atol`` is relative to each array's largest magnitude
    (float32 sums in another order differ in the last bits, most visibly near zero)."""
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        want = np.array(want)
        np.testing.assert_allclose(np.array(got), want, rtol=rtol, atol=scale_atol * np.abs(want).max())


# --------------------------------------------------------------------------- #
# Real strategies, in fresh processes
# --------------------------------------------------------------------------- #
def test_mirrored_on_two_logical_cpus_matches_the_single_device_step(tmp_path):
    result = finish(run_scenario("mirrored", tmp_path))

    assert result["replicas"] == 2
    assert result["replica_batches"] == [2, 2]  # the global batch of 4, split
    for name in LOSS_KEYS:
        assert result["mirrored_losses"][name] == pytest.approx(result["single_losses"][name], rel=1e-5, abs=1e-6)
    # Adam's moments are proportional to the gradients: a replica loss not scaled by the global
    # batch would double them (the first Adam update alone would not show it).
    assert_close(result["mirrored_moments"], result["single_moments"], rtol=1e-3, scale_atol=1e-4)
    assert_close(result["mirrored_weights"], result["single_weights"], rtol=1e-4, scale_atol=1e-5)
    fit = result["fit"]
    assert fit["steps"] == 3 and all(np.isfinite(fit[name]) for name in LOSS_KEYS)
    assert result["checkpoints"] == ["ckpt-1", "ckpt-2", "ckpt-3"]


def test_multi_worker_mirrored_with_a_single_worker_tf_config_trains_as_chief(tmp_path):
    port, = free_ports(1)
    config = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
    result = finish(run_scenario("multi_worker", tmp_path, tf_config=config))

    assert result["replicas"] == 1 and result["chief"]
    assert result["write_dir"] == str(tmp_path / "checkpoints")
    assert result["checkpoints"] == ["ckpt-1", "ckpt-2", "ckpt-3"]
    assert all(np.isfinite(result["fit"][name]) for name in LOSS_KEYS)
    assert result["write_dir_left"]  # the chief's folder is the real one: kept


def test_two_multi_worker_processes_train_in_sync_and_only_the_chief_writes_the_real_folder(tmp_path):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    started = [run_scenario("multi_worker", tmp_path, name=f"worker{index}",
                            tf_config={"cluster": cluster, "task": {"type": "worker", "index": index}})
               for index in range(2)]
    chief, other = [finish(s) for s in started]

    assert chief["replicas"] == other["replicas"] == 2
    assert chief["chief"] and not other["chief"]
    real = str(tmp_path / "checkpoints")
    assert chief["write_dir"] == real and other["write_dir"] != real
    assert not other["write_dir"].startswith(real)
    for worker in (chief, other):
        assert worker["checkpoints"] == ["ckpt-1", "ckpt-2", "ckpt-3"]
        assert "ckpt-3.index" in worker["written"]
    assert sorted(os.listdir(real)) == chief["written"]
    assert not other["write_dir_left"]  # the non-chief's throw-away folder is gone
    timeless = lambda fit: {name: value for name, value in fit.items() if name not in ("seconds", "validation")}  # noqa: E731
    assert timeless(chief["fit"]) == pytest.approx(timeless(other["fit"]))
    assert_close(chief["weights"], other["weights"], rtol=0)  # synchronous: identical


# --------------------------------------------------------------------------- #
# Strategy choice, chief selection and refusals (this process)
# --------------------------------------------------------------------------- #
def test_default_is_tensorflows_default_strategy_and_mirrored_spans_the_local_devices():
    assert distribution.build_strategy("default") is tf.distribute.get_strategy()
    mirrored = distribution.build_strategy("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == len(distribution.local_devices()) >= 1


def test_multi_worker_without_tf_config_is_refused_naming_the_key(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="trainer.distribution_strategy.*TF_CONFIG.*mirrored"):
        distribution.build_strategy("multi_worker_mirrored")


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="trainer.distribution_strategy.*allowed values"):
        distribution.build_strategy("parameter_server")


def test_a_global_batch_that_replicas_cannot_share_evenly_is_refused():
    two_replicas = SimpleNamespace(num_replicas_in_sync=2)
    distribution.check_global_batch(8, two_replicas)
    with pytest.raises(ValueError, match="trainer.batch_size=3.*multiple of the 2 replicas.*distribution_strategy"):
        distribution.check_global_batch(3, two_replicas)


@pytest.mark.parametrize("task_type, task_id, cluster, chief", [
    (None, None, {}, True),                                                        # one machine
    ("worker", 0, {"worker": ["a:1", "b:1"]}, True),                               # no chief job: worker 0
    ("worker", 1, {"worker": ["a:1", "b:1"]}, False),
    ("chief", 0, {"chief": ["a:1"], "worker": ["b:1"]}, True),
    ("worker", 0, {"chief": ["a:1"], "worker": ["b:1"]}, False),                   # a chief job exists
])
def test_the_chief_is_the_chief_task_or_worker_zero(task_type, task_id, cluster, chief):
    assert distribution.is_chief_task(task_type, task_id, cluster) is chief


def _strategy_of(task_type, task_id, cluster):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)
    return SimpleNamespace(cluster_resolver=resolver)


def test_only_the_chief_writes_the_real_folder(tmp_path):
    cluster = {"worker": ["a:1", "b:1", "c:1"]}
    real = str(tmp_path / "run")
    assert distribution.write_dir(real, _strategy_of("worker", 0, cluster)) == real
    assert distribution.write_dir(real, tf.distribute.get_strategy()) == real
    others = {distribution.write_dir(real, _strategy_of("worker", i, cluster)) for i in (1, 2)}
    assert len(others) == 2 and real not in others  # one throw-away folder per worker
    other = others.pop()
    os.makedirs(other)
    distribution.remove_worker_dir(other, real)
    assert not os.path.exists(other)
    os.makedirs(real)
    distribution.remove_worker_dir(real, real)  # never the real one
    assert os.path.isdir(real)
