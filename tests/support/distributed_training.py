"""Training scenarios that need a fresh process, run by tests/trainer/test_distribution.py.

Logical CPU devices and MultiWorkerMirroredStrategy's collectives must be configured before
TensorFlow runs its first op, so each scenario runs in its own interpreter:

    python -m tests.distributed_training SCENARIO OUTPUT_JSON [CHECKPOINT_DIR]

* ``mirrored``: two logical CPUs; one step of MirroredStrategy (2 replicas) vs the default
  strategy on the same global batch from the same weights, then a few ``fit`` steps.
* ``multi_worker``: MultiWorkerMirroredStrategy from this process's TF_CONFIG; a few ``fit``
  steps checkpointing into ``distribution.write_dir(CHECKPOINT_DIR)``.
The results (losses, weights, replica counts, paths) go to OUTPUT_JSON.
"""
import dataclasses
import json
import os
import sys

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from tests.support import paths

IMAGE_SIZE = 32
CHANNELS = 3
GLOBAL_BATCH = 4
LOGICAL_CPUS = 2
FIT_STEPS = 3


def settings(**changes):
    """Tiny, deterministic settings: no dropout, no batch norm (per-replica batch statistics would
    differ from the global batch's), one D layer less for speed."""
    from pipeline.config import load_config

    trainer_settings = load_config(paths.DEFAULT_CONFIG).trainer
    tiny = {"ngf": 4, "ndf": 4, "n_layers_d": 2, "batch_size": GLOBAL_BATCH, "norm": "instance",
            "dropout_rate": 0.0, "epochs": 1, "epochs_decay": 0}
    return dataclasses.replace(trainer_settings, **{**tiny, **changes})


def images(count, seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, (count, IMAGE_SIZE, IMAGE_SIZE, CHANNELS)).astype(np.float32)


def dataset(tf, count):
    return tf.data.Dataset.from_tensor_slices((images(count, 1), images(count, 2))).batch(
        GLOBAL_BATCH, drop_remainder=True)


def weights(gan):
    return [w.tolist() for w in gan.generator.get_weights() + gan.discriminator.get_weights()]


def adam_moments(gan):
    """Adam's first and second moments: proportional to the gradients and their squares, unlike
    Adam's first update (about lr * sign(gradient)), which would hide a wrongly scaled gradient."""
    return [v.numpy().tolist() for optimizer in (gan.g_optimizer, gan.d_optimizer)
            for v in optimizer.variables if v.shape.rank]


def fit_steps(tf, gan, checkpoint_dir):
    from components.trainer import gan_trainer

    manager = tf.train.CheckpointManager(gan.checkpoint(), checkpoint_dir, max_to_keep=None)
    history = gan_trainer.fit(gan, dataset(tf, GLOBAL_BATCH * FIT_STEPS), steps_per_epoch=FIT_STEPS,
                              total_epochs=1, checkpoint_manager=manager, checkpoint_every_steps=1)
    return history[0].as_dict(), [os.path.basename(path) for path in manager.checkpoints]


def mirrored(output, checkpoint_dir):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * LOGICAL_CPUS)
    from components.trainer import distribution
    from components.trainer.gan_trainer import Pix2PixGAN

    tf.keras.utils.set_random_seed(0)
    single = Pix2PixGAN(settings(distribution_strategy="default"), IMAGE_SIZE, CHANNELS)
    replicated = Pix2PixGAN(settings(distribution_strategy="mirrored"), IMAGE_SIZE, CHANNELS)
    replicated.generator.set_weights(single.generator.get_weights())
    replicated.discriminator.set_weights(single.discriminator.get_weights())

    batch = (tf.constant(images(GLOBAL_BATCH, 3)), tf.constant(images(GLOBAL_BATCH, 4)))
    single_losses = single.train_step(*batch)
    distributed = distribution.distribute_dataset(
        replicated.strategy, tf.data.Dataset.from_tensors(batch))
    per_replica_input = next(iter(distributed))[0]
    replica_batches = [int(t.shape[0]) for t in replicated.strategy.experimental_local_results(per_replica_input)]
    replicated_losses = replicated.train_step(*next(iter(distributed)))
    result = {
        "replicas": replicated.strategy.num_replicas_in_sync,
        "replica_batches": replica_batches,
        "single_losses": {k: float(v) for k, v in single_losses.items()},
        "mirrored_losses": {k: float(v) for k, v in replicated_losses.items()},
        "single_weights": weights(single),
        "mirrored_weights": weights(replicated),
        "single_moments": adam_moments(single),
        "mirrored_moments": adam_moments(replicated),
    }
    result["fit"], result["checkpoints"] = fit_steps(tf, replicated, checkpoint_dir)
    return result


def multi_worker(output, checkpoint_dir):
    import tensorflow as tf

    from components.trainer import distribution
    from components.trainer.gan_trainer import Pix2PixGAN

    strategy = distribution.build_strategy("multi_worker_mirrored")
    tf.keras.utils.set_random_seed(0)
    gan = Pix2PixGAN(settings(distribution_strategy="multi_worker_mirrored"), IMAGE_SIZE, CHANNELS,
                     strategy=strategy)
    write_dir = distribution.write_dir(checkpoint_dir, strategy)
    result = {"replicas": strategy.num_replicas_in_sync, "chief": distribution.is_chief(strategy),
              "write_dir": write_dir}
    result["fit"], result["checkpoints"] = fit_steps(tf, gan, write_dir)
    result["written"] = sorted(os.listdir(write_dir))
    result["weights"] = weights(gan)
    distribution.remove_worker_dir(write_dir, checkpoint_dir)
    result["write_dir_left"] = os.path.exists(write_dir)
    return result


SCENARIOS = {"mirrored": mirrored, "multi_worker": multi_worker}

if __name__ == "__main__":
    scenario, output_path, checkpoint_dir = sys.argv[1:4]
    outcome = SCENARIOS[scenario](output_path, checkpoint_dir)
    with open(output_path, "w", encoding="utf-8") as handle:
        json.dump(outcome, handle)
