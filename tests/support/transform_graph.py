"""A real Transform graph at a tiny image size, built once per session by conftest.py's fixture."""
import functools
import os

TINY_IMAGE_SIZE = 16


def build_transform_graph(out_dir: str, temp_dir: str) -> str:
    """tft_beam on two tiny examples, written to ``out_dir``: what the Trainer and the export read."""
    import apache_beam as beam  # noqa: F401  (registers the Beam runner)
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from components import features
    from components.transform import preprocessing
    from tests.support import images

    raw_spec = {key: tf.io.FixedLenFeature([1], tf.string)
                for key in (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY, features.PAIR_ID_KEY)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    raw = [{features.INPUT_IMAGE_KEY: [images.png(20, 24, seed=i)], features.TARGET_IMAGE_KEY: [images.png(seed=i)],
            features.PAIR_ID_KEY: [f"p{i}".encode()]} for i in range(2)]
    fn = functools.partial(preprocessing.preprocessing_fn,
                           custom_config={"transform": {"image_size": TINY_IMAGE_SIZE, "channels": 3}})
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=temp_dir):
        transform_fn = (pipeline | beam.Create(raw), metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        _ = metadata | "RawMetadata" >> tft_beam.WriteMetadata(
            os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline)
    return out_dir
