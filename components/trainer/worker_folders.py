"""The folders a training run writes, as this worker writes them.

With several workers only the chief writes the real folders; every other worker runs the same code
(saves are collective) into throw-away folders of its own, removed at the end.
"""
from __future__ import annotations

import dataclasses

import tensorflow as tf

from components.trainer import distribution


@dataclasses.dataclass(frozen=True)
class WorkerFolders:
    """The ModelRun, the serving model and the checkpoint work folder: ``real_*`` the pipeline's,
    the others this worker's (the same on the chief)."""
    is_chief: bool
    real_run_dir: str
    real_serving_model_dir: str
    real_work_dir: str
    run_dir: str
    serving_model_dir: str
    work_dir: str

    @classmethod
    def create(cls, strategy: tf.distribute.Strategy, *, run_dir: str, serving_model_dir: str,
               work_dir: str) -> "WorkerFolders":
        """This worker's folders; the ModelRun and work folders exist on return."""
        folders = cls(distribution.is_chief(strategy), run_dir, serving_model_dir, work_dir,
                      *(distribution.write_dir(real, strategy) for real in (run_dir, serving_model_dir, work_dir)))
        tf.io.gfile.makedirs(folders.run_dir)
        tf.io.gfile.makedirs(folders.work_dir)
        return folders

    def remove_worker_copies(self) -> None:
        """A non-chief's throw-away folders go; the chief's (the real ones) stay."""
        for path, real in ((self.work_dir, self.real_work_dir), (self.run_dir, self.real_run_dir),
                           (self.serving_model_dir, self.real_serving_model_dir)):
            distribution.remove_worker_dir(path, real)
