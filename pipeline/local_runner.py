"""Runs the pipeline on this machine: TFX LocalDagRunner, Beam DirectRunner, SQLite MLMD."""
from __future__ import annotations

import difflib
import logging
import os

from tfx import v1 as tfx

from pipeline import output_paths, run_summary
from pipeline.config import Config, ConfigError
from pipeline.pipeline_def import create_pipeline


def ensure_dataset(config: Config) -> str:
    """The dataset folder, its folders checked against data.layout; the embedded dataset is generated when allowed.

    Remote datasets (gs://...) are not checked here: the ExampleGen reports what it finds.
    """
    from components.example_gen import layout  # heavy imports after the config is known to be valid

    data = config.data
    dataset_dir = config.resolve(data.dataset_dir)
    if "://" in dataset_dir:
        return dataset_dir
    if not os.path.exists(dataset_dir):
        _generate_embedded_dataset(config, dataset_dir)
    if not os.path.isdir(dataset_dir):
        raise ConfigError(f"data.dataset_dir: {dataset_dir} is not a folder")
    try:
        split_folders = layout.find_split_folders(dataset_dir, data.split_folders, data.REQUIRED_SPLITS)
    except layout.DatasetLayoutError as error:
        raise ConfigError(f"data.split_folders: {error}") from None
    if data.split_mode == "folders":
        missing = [f"{folder}/ ({split})" for split, folder in data.split_folders.items() if split not in split_folders]
        if missing:
            raise ConfigError(f"data.split_folders: data.split_mode is folders but {dataset_dir} has no files under "
                              f"{', '.join(missing)}; remove those entries or set data.split_mode: auto")
    elif data.split_mode == "hash":
        split_folders = {}
    if data.layout == layout.TWO_FOLDER:
        for parent in [os.path.join(dataset_dir, folder) for folder in split_folders.values()] or [dataset_dir]:
            for sub_key in ("input_subdir", "target_subdir"):
                folder = os.path.join(parent, getattr(data, sub_key))
                if not os.path.isdir(folder):
                    raise ConfigError(f"data.{sub_key}: {folder} is not a folder; the two_folder layout expects "
                                      f"{data.input_subdir}/ and {data.target_subdir}/ under {parent}")
    return dataset_dir


def _generate_embedded_dataset(config: Config, dataset_dir: str) -> None:
    """Makes the embedded synthetic dataset at ``dataset_dir``, or says why a missing dataset is an error.

    Only a folder named like the embedded dataset is generated, and away from
    its default place only inside a folder that exists: any other missing path
    is a typo or an unmounted disk, and training on generated data there could
    push a model of it over the served one.
    """
    from components.example_gen import layout
    from data import synthetic_facades  # only needed here

    data = config.data
    if os.path.islink(dataset_dir):
        raise ConfigError(f"data.dataset_dir: {dataset_dir} is a symlink to {os.readlink(dataset_dir)}, which does "
                          "not exist (an unmounted disk?); nothing is generated there")
    if not data.generate_if_missing:
        raise ConfigError(f"data.dataset_dir: {dataset_dir} does not exist (and "
                          "data.generate_if_missing is false)")
    default_dir = config.resolve(synthetic_facades.DEFAULT_DATASET_DIR)
    parent = os.path.dirname(os.path.normpath(dataset_dir))
    if (synthetic_facades.is_embedded_location(dataset_dir) and os.path.normpath(dataset_dir) != default_dir
            and not os.path.isdir(parent)):
        raise ConfigError(f"data.dataset_dir: {dataset_dir} does not exist, nor does its folder {parent}: a typo in "
                          f"the path? data.generate_if_missing generates the embedded dataset at its default place "
                          f"({default_dir}) or in a missing {synthetic_facades.DATASET_NAME}/ inside a folder that "
                          "exists; create that folder first to generate there")
    if not synthetic_facades.is_embedded_location(dataset_dir):
        raise ConfigError(
            f"data.dataset_dir: {dataset_dir} does not exist{_did_you_mean(dataset_dir)}. Check the path (it is "
            f"relative to the config file's folder). data.generate_if_missing only generates the embedded "
            f"synthetic dataset, in a folder named {synthetic_facades.DATASET_NAME!r} (by default "
            f"{config.resolve(synthetic_facades.DEFAULT_DATASET_DIR)}), never in place of a missing dataset")
    if data.layout != layout.TWO_FOLDER:
        raise ConfigError(
            f"data.dataset_dir: {dataset_dir} does not exist; data.generate_if_missing only makes the embedded "
            f"two_folder dataset and data.layout is {data.layout!r}. For an aligned dataset run "
            f"`python -m data.download facades --output {dataset_dir}`, or convert one with "
            "`python -m data.convert_layout`")
    synthetic = data.synthetic
    logging.info("Generating the embedded synthetic facades dataset (%d pairs, %dpx, seed %d) in %s",
                 synthetic.num_pairs, synthetic.image_size, synthetic.seed, dataset_dir)
    synthetic_facades.generate_dataset(dataset_dir, num_pairs=synthetic.num_pairs, image_size=synthetic.image_size,
                                       seed=synthetic.seed)


def _did_you_mean(missing: str) -> str:
    """' (did you mean /x/facades?)' from the folders next to a mistyped path, or ''."""
    parent, name = os.path.split(missing.rstrip(os.sep))
    try:
        siblings = [entry for entry in os.listdir(parent) if os.path.isdir(os.path.join(parent, entry))]
    except OSError:
        return f" (nor does its folder {parent})" if not os.path.isdir(parent) else ""
    close = difflib.get_close_matches(name, siblings, n=1)
    return f" (did you mean {os.path.join(parent, close[0])}?)" if close else ""


def metadata_connection_config(config: Config):
    path = config.resolve(config.pipeline.metadata_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(path)


def run(config: Config) -> run_summary.RunSummary:
    """Runs every component (re-using cached results) and summarizes this run."""
    output_paths.check_output_paths(config)  # before anything is written: no output may overlap another or the data
    ensure_dataset(config)
    connection = metadata_connection_config(config)
    tfx.orchestration.LocalDagRunner().run(create_pipeline(config, metadata_connection_config=connection))
    return run_summary.summarize_latest_run(config, connection)
