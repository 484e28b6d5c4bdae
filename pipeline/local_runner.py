"""Runs the pipeline on this machine: TFX LocalDagRunner, Beam DirectRunner, SQLite MLMD."""
from __future__ import annotations

import logging
import os

from tfx import v1 as tfx

from pipeline import run_summary
from pipeline.config import Config, ConfigError
from pipeline.pipeline_def import create_pipeline


def ensure_dataset(config: Config) -> str:
    """The dataset folder; the embedded synthetic dataset is generated when allowed."""
    dataset_dir = config.resolve(config.data.dataset_dir)
    if not os.path.exists(dataset_dir):
        if not config.data.generate_if_missing:
            raise ConfigError(f"data.dataset_dir: {dataset_dir} does not exist (and "
                              "data.generate_if_missing is false)")
        from data.synthetic_facades import generate_dataset  # only needed here

        synthetic = config.data.synthetic
        logging.info("Generating the embedded synthetic facades dataset (%d pairs, %dpx, seed %d) in %s",
                     synthetic.num_pairs, synthetic.image_size, synthetic.seed, dataset_dir)
        generate_dataset(dataset_dir, num_pairs=synthetic.num_pairs, image_size=synthetic.image_size,
                         seed=synthetic.seed)
    for sub_key in ("input_subdir", "target_subdir"):
        folder = os.path.join(dataset_dir, getattr(config.data, sub_key))
        if not os.path.isdir(folder):
            raise ConfigError(f"data.{sub_key}: {folder} is not a folder; the two_folder layout expects "
                              f"{config.data.input_subdir}/ and {config.data.target_subdir}/ under {dataset_dir}")
    return dataset_dir


def metadata_connection_config(config: Config):
    path = config.resolve(config.pipeline.metadata_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(path)


def run(config: Config) -> run_summary.RunSummary:
    """Runs every component (re-using cached results) and summarizes this run."""
    ensure_dataset(config)
    connection = metadata_connection_config(config)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config, metadata_connection_config=connection))
    return run_summary.summarize_latest_run(config, connection)
