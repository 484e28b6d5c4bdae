"""The resumable checkpoint: where a training run keeps its state, and how a re-run resumes from it.

Checkpoints live in a work folder outside the execution's ModelRun (``run_fn`` names it by the
training's fingerprint), so a re-run after an interruption finds them. A crash or a full disk
while saving can leave a checkpoint, the state file or the loss history cut short: each damaged
file is reported and set aside in ``unusable/`` and the previous checkpoint is used, never a
reason to stop. At the end the last checkpoint moves into the ModelRun and the work folder goes.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
from typing import Callable, List, Optional, Tuple

import tensorflow as tf

from components.trainer import run_outputs
from components.trainer.gan_trainer import Pix2PixGAN
from components.trainer.validation import BEST_DIR

log = logging.getLogger(__name__)

# tf.train.CheckpointManager's names: checkpoint <prefix>-<step> is <prefix>-<step>.index plus
# data shards <prefix>-<step>.data-*, and the state file lists the ones it keeps.
CHECKPOINT_PREFIX = "ckpt"
CHECKPOINT_STATE = "checkpoint"
_CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}-(\d+)")
# The newest and the previous one: the previous is the fall-back when the newest was cut short.
KEPT_CHECKPOINTS = 2
# Folder of the ModelRun artifact that receives the finished run's checkpoint.
# Unusable checkpoints (and a damaged loss history) move here, out of the way of the next resume.
UNUSABLE_DIR = "unusable"
# What restoring a damaged checkpoint raises: OpError (an index cut short or overwritten, a data
# shard missing or failing its checksum), IndexError (a data shard cut short: "Read less bytes than
# requested"), AssertionError / ValueError (a checkpoint that does not match the networks).
RESTORE_ERRORS = (tf.errors.OpError, IndexError, AssertionError, ValueError)


def manager(checkpoint: tf.train.Checkpoint, directory: str) -> tf.train.CheckpointManager:
    return tf.train.CheckpointManager(checkpoint, directory, max_to_keep=KEPT_CHECKPOINTS)


def resume(build_gan: Callable[[], Pix2PixGAN], directory: str, *,
           repair: bool) -> Tuple[Pix2PixGAN, Optional[str], List[dict]]:
    """The GAN to train, the checkpoint it was restored from (None: a fresh start) and the loss
    history of the epochs that checkpoint holds.

    The folder is listed before the networks are built: with several workers, building them is a
    collective step, so every worker has listed the same checkpoints before the chief (``repair``)
    sets any aside, and all of them decide alike to build again after a failed restore.
    """
    found = find_checkpoints(directory)
    gan = build_gan()
    restored = restore_newest_usable(gan.checkpoint(), found, repair=repair)
    if restored is not None:
        history, damaged = run_outputs.read_history(directory, up_to_epoch=int(gan.epoch.numpy()))
        if damaged and repair:
            set_aside(directory, [os.path.join(directory, run_outputs.LOSS_HISTORY)])
        return gan, restored, history
    if found.paths:  # every restore failed; one that failed on a mismatch may have assigned some variables
        gan = build_gan()
    history_path = os.path.join(directory, run_outputs.LOSS_HISTORY)
    if repair and tf.io.gfile.exists(history_path):  # the epochs of the checkpoints set aside
        set_aside(directory, [history_path])
    return gan, None, []


def archive(work_dir: str, destination: str) -> None:
    """The finished run's last checkpoint, its best epoch's generator and any files set aside as unusable
    move into the ModelRun; the work folder goes."""
    for source_dir, target_dir in [(work_dir, destination)] + [
            (os.path.join(work_dir, name), os.path.join(destination, name)) for name in (UNUSABLE_DIR, BEST_DIR)]:
        if not tf.io.gfile.isdir(source_dir):
            continue
        tf.io.gfile.makedirs(target_dir)
        for name in tf.io.gfile.listdir(source_dir):
            source = os.path.join(source_dir, name)
            if not tf.io.gfile.isdir(source):
                tf.io.gfile.copy(source, os.path.join(target_dir, name), overwrite=True)
    tf.io.gfile.rmtree(work_dir)


@dataclasses.dataclass
class FoundCheckpoints:
    """The checkpoints of a folder, newest first, and what the state file got wrong (None: nothing)."""
    directory: str
    paths: List[str]
    state_problem: Optional[str] = None
    listed: List[str] = dataclasses.field(default_factory=list)  # names the state file lists


def find_checkpoints(directory: str) -> FoundCheckpoints:
    """Every checkpoint the state file lists or the folder holds, newest (highest step) first.

    The state file is only an index: when it is cut short, garbage or gone, the checkpoints on
    disk are still found, and why the state cannot be trusted is reported.
    """
    state_path = os.path.join(directory, CHECKPOINT_STATE)
    listed, problem = [], None
    if tf.io.gfile.exists(state_path):
        try:
            state = tf.train.get_checkpoint_state(directory)
            if state is None:  # TensorFlow logs its parse error and ignores the file
                raise ValueError("not a checkpoint state (text CheckpointState proto)")
            listed = [os.path.basename(path) for path in
                      list(state.all_model_checkpoint_paths) + [state.model_checkpoint_path]]
        except (tf.errors.OpError, ValueError) as error:  # UnicodeDecodeError is a ValueError
            problem = f"{type(error).__name__}: {error}"
    on_disk = [os.path.basename(path)[:-len(".index")]
               for path in tf.io.gfile.glob(os.path.join(directory, f"{CHECKPOINT_PREFIX}-*.index"))]
    if on_disk and problem is None and not listed:
        problem = "missing"
    names = {name for name in listed + on_disk if _CHECKPOINT_NAME.fullmatch(name)}
    ordered = sorted(names, key=lambda name: int(_CHECKPOINT_NAME.fullmatch(name).group(1)), reverse=True)
    return FoundCheckpoints(directory, [os.path.join(directory, name) for name in ordered], problem,
                            sorted(set(listed)))


def restore_newest_usable(checkpoint: tf.train.Checkpoint, found: FoundCheckpoints, *,
                          repair: bool) -> Optional[str]:
    """Restores the newest of ``found`` that reads back whole and matches; returns its path or None.

    A crash or a full disk while saving can leave a checkpoint cut short: each one that fails is
    named in a warning with its error, and the next older one is tried. With ``repair`` (only the
    chief writes), unusable checkpoints move to ``unusable/`` and the state file is rewritten to
    list the ones left, so the CheckpointManager neither resumes from nor keeps them. A restore that
    failed on a mismatch may already have assigned some variables: when this returns None after a
    failure, build the networks again.
    """
    state_path = os.path.join(found.directory, CHECKPOINT_STATE)
    if found.state_problem:
        log.warning("checkpoint state file %s is unusable (%s): looking for the checkpoints on disk",
                    state_path, found.state_problem)
    restored, unusable = None, []
    for path in found.paths:
        try:
            checkpoint.restore(path).assert_existing_objects_matched()
        except RESTORE_ERRORS as error:
            files = tf.io.gfile.glob(f"{path}.*") or [f"{path}.index"]
            log.warning("checkpoint %s is unusable (%s: %s); files: %s", path,
                        type(error).__name__, str(error).strip(), ", ".join(files))
            unusable.append(path)
            continue
        restored = path
        break
    if restored is None and (unusable or found.state_problem):
        log.warning("no usable checkpoint in %s: training starts from scratch", found.directory)
    elif unusable:
        log.warning("resuming from the previous checkpoint %s", restored)
    kept = [path for path in reversed(found.paths) if path not in unusable and tf.io.gfile.exists(f"{path}.index")]
    if repair and (unusable or found.state_problem or {os.path.basename(p) for p in kept} != set(found.listed)):
        moved = [name for path in unusable for name in tf.io.gfile.glob(f"{path}.*")]
        if restored:
            # With their times (and an older "last preserved" one) the manager counts them in
            # max_to_keep and deletes them in turn; without, it would keep them for ever.
            times = [tf.io.gfile.stat(f"{path}.index").mtime_nsec / 1e9 for path in kept]
            tf.compat.v1.train.update_checkpoint_state(
                found.directory, restored, all_model_checkpoint_paths=kept, all_model_checkpoint_timestamps=times,
                last_preserved_timestamp=min(times) - 1)
        elif tf.io.gfile.exists(state_path):
            moved.append(state_path)
        set_aside(found.directory, moved)
    return restored


def set_aside(directory: str, paths: List[str]) -> None:
    """Moves ``paths`` into ``directory``/unusable: kept for a look, never read back."""
    if not paths:
        return
    destination = os.path.join(directory, UNUSABLE_DIR)
    tf.io.gfile.makedirs(destination)
    for path in paths:
        tf.io.gfile.rename(path, os.path.join(destination, os.path.basename(path)), overwrite=True)
    log.warning("moved %s to %s", ", ".join(os.path.basename(path) for path in paths),
                destination)
