"""The tf.distribute strategy named by ``trainer.distribution_strategy``, and who writes what.

* ``default``: TensorFlow's default strategy, one device (what the loop did before strategies).
* ``mirrored``: ``MirroredStrategy`` over every local GPU, or every logical CPU device when there
  is no GPU (TensorFlow's own default would pick one CPU): synchronous data parallelism in one
  process, gradients summed across replicas.
* ``multi_worker_mirrored``: ``MultiWorkerMirroredStrategy``; the workers come from ``TF_CONFIG``.
  Without ``TF_CONFIG`` it is refused: TensorFlow would silently train alone on every machine, and
  each would overwrite the same exported model. It must be created before TensorFlow runs any op in
  the process (collectives are configured at start-up), so the Trainer must run in a process of its
  own per worker (Vertex AI, Kubeflow); TFX's LocalDagRunner runs every component in one process.

With several workers every worker runs the same code, including saves (reading batch-norm
statistics for a checkpoint, a sample or the export is a collective all workers must join), but
only the chief writes to the real folders; the others write to a worker-local temporary folder
that is deleted at the end: the documented MultiWorkerMirroredStrategy pattern.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Dict, List, Optional

import tensorflow as tf

KEY = "trainer.distribution_strategy"
STRATEGY_DEFAULT = "default"
STRATEGY_MIRRORED = "mirrored"
STRATEGY_MULTI_WORKER = "multi_worker_mirrored"
STRATEGIES = (STRATEGY_DEFAULT, STRATEGY_MIRRORED, STRATEGY_MULTI_WORKER)
TF_CONFIG = "TF_CONFIG"
CHIEF = "chief"
WORKER = "worker"
# Parent of the non-chief workers' throw-away output folders.
WORKER_TEMP_DIR = "pix2pix_worker_temp"


def local_devices() -> List[str]:
    """The devices ``mirrored`` replicates over: all GPUs, else all logical CPUs."""
    gpus = tf.config.list_logical_devices("GPU")
    return [device.name for device in (gpus or tf.config.list_logical_devices("CPU"))]


def build_strategy(name: str) -> tf.distribute.Strategy:
    """The strategy for the config value ``name`` (call it before TensorFlow runs any op)."""
    if name == STRATEGY_DEFAULT:
        return tf.distribute.get_strategy()
    if name == STRATEGY_MIRRORED:
        return tf.distribute.MirroredStrategy(devices=local_devices())
    if name == STRATEGY_MULTI_WORKER:
        if not os.environ.get(TF_CONFIG):
            raise ValueError(
                f"{KEY}: {STRATEGY_MULTI_WORKER} needs the {TF_CONFIG} environment variable (cluster and "
                f"task of this worker); for one machine use {STRATEGY_MIRRORED}")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise RuntimeError(
                f"{KEY}: {STRATEGY_MULTI_WORKER} must be created before TensorFlow runs anything in the "
                "process; run the Trainer in a process of its own per worker (TFX's LocalDagRunner runs "
                f"all components in one process: use {STRATEGY_MIRRORED} there) ({error})") from error
    raise ValueError(f"{KEY}: got {name!r}; allowed values: {list(STRATEGIES)}")


def check_global_batch(batch_size: int, strategy: tf.distribute.Strategy) -> None:
    """Every replica must get the same share of the global batch (one traced shape, equal weights)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"trainer.batch_size={batch_size} is the global batch and must be a multiple of the "
            f"{replicas} replicas of {KEY}; use a multiple of {replicas}")


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """Global batches -> per-replica batches. Workers shard by element (DATA), not by file:
    ExampleGen may write fewer files than there are workers, and every worker shuffles with the
    same seed, so their shares are disjoint."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def is_chief_task(task_type: Optional[str], task_id: Optional[int], cluster_spec: Dict[str, list]) -> bool:
    """The chief writes the real outputs: the "chief" task, or worker 0 when there is no chief job;
    without a cluster (one process) the only task is the chief."""
    if not cluster_spec or task_type is None:
        return True
    if CHIEF in cluster_spec:
        return task_type == CHIEF
    return task_type == WORKER and task_id == 0


def task_of(strategy: tf.distribute.Strategy):
    """(task_type, task_id, cluster_spec dict) of this process; (None, None, {}) on one machine."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return None, None, {}
    return resolver.task_type, resolver.task_id, resolver.cluster_spec().as_dict()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    return is_chief_task(*task_of(strategy))


def write_dir(real_dir: str, strategy: tf.distribute.Strategy) -> str:
    """``real_dir`` for the chief; a worker-local temporary folder, unique per task and real
    folder, for the other workers (they must save too, see the module docstring)."""
    task_type, task_id, cluster_spec = task_of(strategy)
    if is_chief_task(task_type, task_id, cluster_spec):
        return real_dir
    key = hashlib.sha256(json.dumps([real_dir, cluster_spec], sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), WORKER_TEMP_DIR, f"{task_type}_{task_id}", key)


def remove_worker_dir(path: str, real_dir: str) -> None:
    """Deletes a non-chief's throw-away folder; never the real one."""
    if path != real_dir and tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)
