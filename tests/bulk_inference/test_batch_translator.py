"""BatchTranslator: the Beam batch job as a component, on a real exported model and ExampleGen-like records."""
import json
import os

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts

from components.bulk_inference import executor
from components.bulk_inference.settings import BulkInferenceSettings
from components.example_gen import pairing
from components.trainer import export
from components.typed_settings import ConfigError, pack
from tests.support import images
from tests.support.serving_doubles import exported_model

pytestmark = pytest.mark.slow  # exports a model and runs a Beam job


@pytest.fixture(scope="module")
def model(transform_output_dir, tmp_path_factory):
    """A Model artifact whose Format-Serving/ is a real tiny export answering at the input's size."""
    export_dir, _ = exported_model(transform_output_dir, tmp_path_factory, output_size=export.OUTPUT_SIZE_INPUT)
    artifact = standard_artifacts.Model()
    artifact.uri = str(tmp_path_factory.mktemp("model"))
    os.symlink(export_dir, os.path.join(artifact.uri, "Format-Serving"))
    return artifact


def examples_with(tmp_path, pairs):
    artifact = standard_artifacts.Examples()
    artifact.uri = str(tmp_path / "examples")
    artifact.split_names = artifact_utils.encode_split_names(["test"])
    split = tmp_path / "examples" / "Split-test"
    split.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(split / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
        for pair_id, data in pairs.items():
            writer.write(pairing.make_example(pair_id, data, images.png(seed=9)).SerializeToString())
    return artifact


def translate(tmp_path, model, examples, pushed_flag=1, **settings):
    pushed = standard_artifacts.PushedModel()
    pushed.set_int_custom_property("pushed", pushed_flag)
    result = standard_artifacts.InferenceResult()
    result.uri = str(tmp_path / "result")
    section = BulkInferenceSettings(**{"split": "test", "contact_sheet_images": 2, **settings})
    executor.Executor().Do({executor.EXAMPLES: [examples], executor.MODEL: [model], executor.PUSHED_MODEL: [pushed]},
                           {executor.RESULT: [result]},
                           {executor.CUSTOM_CONFIG: json.dumps(pack(bulk_inference=section))})
    return result


def test_a_pushed_model_translates_the_whole_split_with_a_contact_sheet(tmp_path, model):
    pairs = {f"pair_{i}": images.png(10 + i, 20, seed=i) for i in range(3)}
    result = translate(tmp_path, model, examples_with(tmp_path, pairs))
    folder = os.path.join(result.uri, executor.IMAGES_FOLDER)
    assert sorted(name for name in os.listdir(folder) if name.endswith(".png")) == [f"{p}.png" for p in sorted(pairs)]
    assert result.get_int_custom_property(executor.TRANSLATED) == 3
    assert result.get_int_custom_property(executor.FAILED) == 0
    sheet = result.get_string_custom_property(executor.CONTACT_SHEET)
    assert os.path.isfile(sheet) and open(sheet, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    for pair_id, data in pairs.items():   # the model answers at the input's size
        generated = tf.io.decode_png(open(os.path.join(folder, f"{pair_id}.png"), "rb").read())
        assert generated.shape[:2] == tf.io.decode_png(data).shape[:2]


def test_a_model_that_was_not_pushed_is_not_translated(tmp_path, model):
    result = translate(tmp_path, model, examples_with(tmp_path, {"p": images.png(seed=1)}), pushed_flag=0)
    assert result.get_string_custom_property(executor.SKIPPED) == "the model was not pushed"
    assert not os.path.exists(os.path.join(result.uri, executor.IMAGES_FOLDER))


def test_a_split_the_examples_lack_is_named(tmp_path, model):
    with pytest.raises(ValueError, match=r"bulk_inference.split: 'eval' is not a split of the Examples \['test'\]"):
        translate(tmp_path, model, examples_with(tmp_path, {"p": images.png(seed=1)}), split="eval")


def test_an_empty_split_name_is_a_config_error():
    with pytest.raises(ConfigError, match="bulk_inference.split"):
        BulkInferenceSettings(split=" ").validate("bulk_inference")
