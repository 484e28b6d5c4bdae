"""Runs the pipeline on this machine: TFX LocalDagRunner, Beam DirectRunner, SQLite MLMD."""
from __future__ import annotations

import os

from tfx import v1 as tfx

from pipeline import output_paths, run_summary
from pipeline.config import Config
from pipeline.dataset import ensure_dataset, resolve_split_mode
from pipeline.pipeline_def import create_pipeline


def metadata_connection_config(config: Config):
    path = config.resolve(config.pipeline.metadata_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(path)


def run(config: Config) -> run_summary.RunSummary:
    """Runs every component (re-using cached results) and summarizes this run."""
    output_paths.check_output_paths(config)  # before anything is written: no output may overlap another or the data
    ensure_dataset(config)
    connection = metadata_connection_config(config)
    pipeline = create_pipeline(resolve_split_mode(config), metadata_connection_config=connection)
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return run_summary.summarize_latest_run(config, connection)
