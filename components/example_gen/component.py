"""The paired-image ExampleGen: TFX's FileBasedExampleGen with our Beam executor."""
from __future__ import annotations

from google.protobuf import any_pb2, struct_pb2
from tfx.components import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import features
from components.example_gen import executor

# Every file one folder below the dataset root (input/x.png, target/x.png):
# what TFX fingerprints, so any change to either folder re-runs ExampleGen.
WHOLE_DATASET_PATTERN = "*/*"


def create_paired_image_example_gen(
        dataset_dir: str, input_subdir: str, target_subdir: str,
        image_extensions, split_ratios: dict) -> FileBasedExampleGen:
    """Reads ``input/`` + ``target/`` pairs and splits them by a stable hash of the pair id."""
    settings = struct_pb2.Struct()
    settings.update({
        "input_subdir": input_subdir,
        "target_subdir": target_subdir,
        "image_extensions": list(image_extensions),
    })
    packed = any_pb2.Any()
    packed.Pack(settings)
    return FileBasedExampleGen(
        input_base=dataset_dir,
        input_config=example_gen_pb2.Input(splits=[
            example_gen_pb2.Input.Split(name="all", pattern=WHOLE_DATASET_PATTERN)]),
        output_config=example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(
            splits=[example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
                    for name, buckets in split_ratios.items()],
            partition_feature_name=features.PAIR_ID_KEY)),
        custom_config=example_gen_pb2.CustomConfig(custom_config=packed),
        custom_executor_spec=executor_spec.BeamExecutorSpec(executor.Executor),
    )
