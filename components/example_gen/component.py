"""The paired-image ExampleGen: TFX's FileBasedExampleGen with our Beam executor."""
from __future__ import annotations

from typing import Any, Dict

from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import features, typed_settings
from components.example_gen import driver, executor, layout, spans
from components.example_gen.settings import SECTION, DataSettings


def create_paired_image_example_gen(custom_config: Dict[str, Any]) -> FileBasedExampleGen:
    """One input split per split folder (``val/`` -> ``eval``), or a hash split on pair_id (data.split_mode);
    with a span pattern in ``dataset_dir``, the splits of the newest span (``spans.py``).

    ``custom_config`` holds the ``data`` section (``typed_settings.pack``) with
    an absolute ``dataset_dir`` and a concrete ``split_mode``: ``auto`` looks at
    the dataset, so the runner resolves it before the pipeline is built
    (``pipeline.dataset.resolve_split_mode``). The executor receives the same
    custom_config and re-validates it.
    """
    settings = typed_settings.unpack(custom_config, SECTION, DataSettings)
    if settings.split_mode == layout.SPLIT_AUTO:
        raise typed_settings.ConfigError(
            f"{SECTION}.split_mode: {layout.SPLIT_AUTO} must be resolved to {layout.SPLIT_FOLDERS} or "
            f"{layout.SPLIT_HASH} before the pipeline is built (the local runner does, from the dataset's folders)")
    present = dict(settings.split_folders) if settings.split_mode == layout.SPLIT_FOLDERS else {}
    location = settings.span_location()
    # With a span pattern, every split's pattern starts with the span folder's: TFX's driver resolves the
    # newest span (or the pinned one) when the component runs, and the executor reads that folder.
    input_base = location.base if location else settings.dataset_dir
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name=name, pattern=location.split_pattern(pattern) if location else pattern)
        for name, pattern in layout.input_splits(settings.layout, present)])
    if present:
        output_config = example_gen_pb2.Output()  # the input splits are the output splits
    else:
        output_config = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                    for name, buckets in settings.split_ratios.items()],
            partition_feature_name=features.PAIR_ID_KEY))
    gen = FileBasedExampleGen(
        input_base=input_base,
        input_config=input_config,
        output_config=output_config,
        range_config=spans.range_config(settings.spans.pinned) if location else None,
        custom_config=executor.pack_custom_config(custom_config),
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    )
    # TFX's driver, but its fingerprint does not stop at a broken symlink (see driver.py). Set on the instance:
    # a subclass would rename the component, and with it its MLMD type, cache and Kubeflow/Vertex step.
    gen.driver_class = driver.PairedImageDriver
    return gen
