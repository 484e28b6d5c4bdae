"""The paired-image ExampleGen: TFX's FileBasedExampleGen with our Beam executor."""
from __future__ import annotations

from typing import Any, Dict

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import features
from components.example_gen import driver, executor, layout
from pipeline.config import DataSettings, section_from_dict


def create_paired_image_example_gen(dataset_dir: str, data_section: Dict[str, Any]) -> FileBasedExampleGen:
    """One input split per split folder (``val/`` -> ``eval``), or a hash split on pair_id (data.split_mode).

    ``data_section`` is the config's ``data`` section as a dict; it is
    re-validated here and again in the executor, which receives it whole.
    Raises :class:`layout.DatasetLayoutError` for split folders without
    ``train``/``eval``.
    """
    settings: DataSettings = section_from_dict(DataSettings, data_section, "data")
    if settings.split_mode == "auto":  # looks at the dataset now, so only where the pipeline also runs
        present = layout.find_split_folders(dataset_dir, settings.split_folders, DataSettings.REQUIRED_SPLITS)
    elif settings.split_mode == "folders":
        present = dict(settings.split_folders)
    else:
        present = {}
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name=name, pattern=pattern)
        for name, pattern in layout.input_splits(settings.layout, present)])
    if present:
        output_config = example_gen_pb2.Output()  # the input splits are the output splits
    else:
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                    for name, buckets in settings.split_ratios.items()],
            partition_feature_name=features.PAIR_ID_KEY))
    gen = FileBasedExampleGen(
        input_base=dataset_dir,
        input_config=input_config,
        output_config=output_config,
        custom_config=executor.pack_settings(data_section),
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    )
    # TFX's driver, but its fingerprint does not stop at a broken symlink (see driver.py). Set on the instance:
    # a subclass would rename the component, and with it its MLMD type, cache and Kubeflow/Vertex step.
    gen.driver_class = driver.PairedImageDriver
    return gen
