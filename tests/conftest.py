"""Shared test setup: legacy Keras before TensorFlow is imported, quiet logs."""
import os

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import functools  # noqa: E402

import pytest  # noqa: E402

TINY_IMAGE_SIZE = 16


@pytest.fixture(scope="session")
def transform_output_dir(tmp_path_factory):
    """A real Transform graph (tft_beam on two tiny examples) at TINY_IMAGE_SIZE."""
    import apache_beam as beam  # noqa: F401  (registers the Beam runner)
    import tensorflow as tf
    import tensorflow_transform as tft
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

    from components import features
    from components.transform import preprocessing
    from tests import images

    raw_spec = {key: tf.io.FixedLenFeature([1], tf.string)
                for key in (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY, features.PAIR_ID_KEY)}
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(raw_spec))
    raw = [{features.INPUT_IMAGE_KEY: [images.png(20, 24, seed=i)], features.TARGET_IMAGE_KEY: [images.png(seed=i)],
            features.PAIR_ID_KEY: [f"p{i}".encode()]} for i in range(2)]
    out_dir = str(tmp_path_factory.mktemp("transform_graph"))
    fn = functools.partial(preprocessing.preprocessing_fn,
                           custom_config={"transform": {"image_size": TINY_IMAGE_SIZE, "channels": 3}})
    with beam.Pipeline() as pipeline, tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft_tmp"))):
        transform_fn = (pipeline | beam.Create(raw), metadata) | tft_beam.AnalyzeDataset(fn)
        _ = transform_fn | tft_beam.WriteTransformFn(out_dir)
        _ = metadata | "RawMetadata" >> tft_beam.WriteMetadata(
            os.path.join(out_dir, tft.TFTransformOutput.RAW_METADATA_DIR), pipeline)
    return out_dir
