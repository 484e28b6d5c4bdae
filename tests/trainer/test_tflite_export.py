"""The TFLite copies in each export: they load, answer as the served model does, and the JSON describes them."""
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.trainer import export, networks, precision, tflite_export
from components.transform import preprocessing
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE

pytestmark = pytest.mark.slow  # exports a model and converts it three times: seconds

NGF = 4
CHANNELS = 3   # RGB, as the session's Transform graph decodes
SEED = 0
INPUT_SEED = 3
# Served uint8 answers vs the interpreter's through the JSON's uint8 formulas (peak 255), and the interpreter's
# floats vs the Keras generator's (peak: the width of [-1, 1]): at least this many dB per variant.
MIN_PSNR_DB = {tflite_export.VARIANT_FLOAT32: 40.0, tflite_export.VARIANT_FLOAT16: 30.0}
# int8 weights: not a fidelity promise, only a check that the variant is the same model, not noise.
MIN_DYNAMIC_RANGE_PSNR_DB = 20.0
MIN_MIXED_PRECISION_PSNR_DB = 30.0   # bfloat16 Keras compute vs the float32 copy TFLite gets
# Half the weight bytes; the graph's structure is not halved, so a little over half the file.
MAX_FLOAT16_SIZE_RATIO = 0.6
# Spread of the test generator's weights and statistics (see _realistic_weights).
BIAS_STDDEV = 0.1
GAMMA_RANGE = (0.5, 1.5)
BETA_STDDEV = 0.2
MOVING_MEAN_STDDEV = 0.2
MOVING_VARIANCE_RANGE = (0.5, 2.0)
MIN_OUTPUT_STDDEV = 0.1   # of the test generator's output: far from the near-constant answer of a fresh one


def _realistic_weights(generator: tf.keras.Model, seed: int) -> tf.keras.Model:
    """Unit-gain kernels and non-trivial BatchNorm statistics.

    A fresh generator (kernels of stddev 0.02, moving statistics 0 and 1) answers
    almost 0 everywhere, which any conversion matches; with these, the output
    spans the range and BatchNorm's folding into the convolutions is exercised.
    """
    rng = np.random.default_rng(seed)

    def draw(sampler, *args, shape):
        return sampler(*args, size=shape).astype(np.float32)

    for layer in generator.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):  # and Conv2DTranspose, its subclass
            kernel_h, kernel_w = layer.kernel_size
            fan_in = kernel_h * kernel_w * layer.input_shape[-1]
            if isinstance(layer, tf.keras.layers.Conv2DTranspose):
                fan_in /= np.prod(layer.strides)  # each output sees one kernel tap in stride^2
            layer.kernel.assign(draw(rng.normal, 0.0, 1.0 / np.sqrt(fan_in), shape=layer.kernel.shape))
            if layer.use_bias:
                layer.bias.assign(draw(rng.normal, 0.0, BIAS_STDDEV, shape=layer.bias.shape))
        elif isinstance(layer, tf.keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.gamma.assign(draw(rng.uniform, *GAMMA_RANGE, shape=shape))
            layer.beta.assign(draw(rng.normal, 0.0, BETA_STDDEV, shape=shape))
            layer.moving_mean.assign(draw(rng.normal, 0.0, MOVING_MEAN_STDDEV, shape=shape))
            layer.moving_variance.assign(draw(rng.uniform, *MOVING_VARIANCE_RANGE, shape=shape))
    return generator


def _tiny_generator() -> tf.keras.Model:
    tf.keras.utils.set_random_seed(SEED)
    return _realistic_weights(networks.build_unet_generator(TINY_IMAGE_SIZE, channels=CHANNELS, ngf=NGF), SEED)


@pytest.fixture(scope="module")
def exported(transform_output_dir, tmp_path_factory):
    """One export with every variant: (export_dir, generator)."""
    generator = _tiny_generator()
    export_dir = str(tmp_path_factory.mktemp("tflite_export") / "model")
    export.export_generator(generator, tft.TFTransformOutput(transform_output_dir), export_dir,
                            tflite_variants=tflite_export.VARIANTS)
    return export_dir, generator


@pytest.fixture(scope="module")
def description(exported):
    with open(os.path.join(tflite_export.tflite_dir(exported[0]), tflite_export.DESCRIPTION_FILE)) as handle:
        return json.load(handle)


def _model_path(export_dir: str, variant: str) -> str:
    return os.path.join(tflite_export.tflite_dir(export_dir), tflite_export.MODEL_FILE.format(variant=variant))


def _interpreter(export_dir: str, variant: str) -> tf.lite.Interpreter:
    return tf.lite.Interpreter(model_path=_model_path(export_dir, variant))


def _run_tflite(export_dir: str, variant: str, images_float: np.ndarray) -> np.ndarray:
    runner = _interpreter(export_dir, variant).get_signature_runner(tflite_export.SIGNATURE)
    return runner(**{tflite_export.INPUT_NAME: images_float})[tflite_export.OUTPUT_NAME]


def _psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak ** 2 / mse))


def _pixels() -> np.ndarray:
    """A random uint8 image at the training size, batch of 1."""
    return images.random_pixels(TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, channels=CHANNELS, seed=INPUT_SEED)[np.newaxis]


def _model_input(pixels: np.ndarray) -> np.ndarray:
    """``pixels`` in the generator's range, by Transform's own scaling."""
    return preprocessing.to_model_range(tf.constant(pixels / tflite_export.UINT8_MAX, tf.float32)).numpy()


def _from_uint8(pixels: np.ndarray, description: dict) -> np.ndarray:
    """What a mobile client does, by the JSON alone."""
    conversion = description["input"]["from_uint8"]
    return (pixels / conversion["scale"] + conversion["offset"]).astype(description["input"]["dtype"])


def _to_uint8(outputs: np.ndarray, description: dict) -> np.ndarray:
    conversion = description["output"]["to_uint8"]
    scaled = np.round((outputs - conversion["offset"]) * conversion["scale"])
    return np.clip(scaled, 0, tflite_export.UINT8_MAX).astype(np.uint8)


def _served(export_dir: str, pixels: np.ndarray) -> np.ndarray:
    """The SavedModel's serving_examples answer (uint8) on the PNG of ``pixels``, as the Evaluator calls it."""
    example = tf.train.Example(features=tf.train.Features(feature={
        features.INPUT_IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[images.encode(pixels[0])]))}))
    signature = tf.saved_model.load(export_dir).signatures[features.SERVING_EXAMPLES]
    result = signature(**{export.EXAMPLES_INPUT: tf.constant([example.SerializeToString()])})
    return result[features.SERVING_OUTPUT_PIXELS].numpy()


@pytest.fixture(scope="module")
def served(exported):
    return _served(exported[0], _pixels())


@pytest.mark.parametrize("variant", tflite_export.VARIANTS)
def test_each_variant_is_in_assets_extra_and_loads(exported, variant):
    interpreter = _interpreter(exported[0], variant)
    interpreter.allocate_tensors()
    assert list(interpreter.get_signature_list()) == [tflite_export.SIGNATURE]


def _min_psnr(variant: str) -> float:
    return MIN_PSNR_DB.get(variant, MIN_DYNAMIC_RANGE_PSNR_DB)


@pytest.mark.parametrize("variant", tflite_export.VARIANTS)
def test_interpreter_answers_as_the_served_model_does(exported, served, description, variant):
    """uint8 pixels -> the JSON's scaling -> interpreter -> the JSON's uint8 formula, vs serving_examples."""
    pixels = _pixels()
    answer = _to_uint8(_run_tflite(exported[0], variant, _from_uint8(pixels, description)), description)
    psnr = _psnr(answer, served, peak=tflite_export.UINT8_MAX)
    print(f"\nTFLite {variant} vs SavedModel serving_examples: PSNR {psnr:.1f} dB on the uint8 [0, 255] scale")
    assert answer.shape == served.shape
    assert psnr >= _min_psnr(variant)


@pytest.mark.parametrize("variant", tflite_export.VARIANTS)
def test_interpreter_matches_the_keras_generator_in_inference_mode(exported, variant):
    _, generator = exported
    images_float = _model_input(_pixels())
    expected = generator(images_float, training=False).numpy()
    assert expected.std() >= MIN_OUTPUT_STDDEV  # the comparison means something
    low, high = tflite_export.model_range()
    psnr = _psnr(_run_tflite(exported[0], variant, images_float), expected, peak=high - low)
    print(f"\nTFLite {variant} vs Keras generator(x, training=False): PSNR {psnr:.1f} dB on the float range "
          f"[{low:g}, {high:g}]")
    assert psnr >= _min_psnr(variant)


def test_float16_is_clearly_smaller_than_float32(exported):
    sizes = {variant: os.path.getsize(_model_path(exported[0], variant))
             for variant in (tflite_export.VARIANT_FLOAT32, tflite_export.VARIANT_FLOAT16)}
    print(f"\nTFLite sizes (bytes): {sizes}")
    assert sizes[tflite_export.VARIANT_FLOAT16] <= MAX_FLOAT16_SIZE_RATIO * sizes[tflite_export.VARIANT_FLOAT32]


@pytest.mark.parametrize("variant", tflite_export.VARIANTS)
def test_description_states_what_the_interpreter_reports(exported, description, variant):
    interpreter = _interpreter(exported[0], variant)
    (reported_input,), (reported_output,) = interpreter.get_input_details(), interpreter.get_output_details()
    shape = [tflite_export.BATCH, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, CHANNELS]
    for side, reported in ((description["input"], reported_input), (description["output"], reported_output)):
        assert side["shape"] == reported["shape"].tolist() == shape
        assert side["dtype"] == np.dtype(reported["dtype"]).name
        assert side["tensor"] == reported["name"]
        assert side["range"] == list(tflite_export.model_range())
    entry = description["variants"][variant]
    assert entry["bytes"] == os.path.getsize(_model_path(exported[0], variant))
    assert entry["file"] == os.path.basename(_model_path(exported[0], variant))
    assert description["input"]["from_uint8"]["formula"] == "x / 127.5 - 1"
    assert description["output"]["to_uint8"]["formula"] == "round(clip((y + 1) * 127.5, 0, 255))"
    assert description["image_size"] == TINY_IMAGE_SIZE
    assert "inference mode" in description["model"] and "tiles" in description["larger_images"]


def test_no_variants_write_no_tflite_folder(tmp_path):
    assert tflite_export.write_tflite_models(_tiny_generator(), str(tmp_path), ()) == {}
    assert not os.path.exists(tflite_export.tflite_dir(str(tmp_path)))


def test_an_unknown_variant_is_refused_by_name_before_anything_is_written(transform_output_dir, tmp_path):
    allowed = re.escape(str(list(tflite_export.VARIANTS)))
    with pytest.raises(ValueError, match=rf"unknown \['int8'\].*allowed values: {allowed}"):
        tflite_export.write_tflite_models(_tiny_generator(), str(tmp_path / "direct"), ["float32", "int8"])
    with pytest.raises(ValueError, match=r"unknown \['int8'\]"):
        export.export_generator(_tiny_generator(), tft.TFTransformOutput(transform_output_dir),
                                str(tmp_path / "export"), tflite_variants=["int8"])
    assert not os.listdir(tmp_path)


def test_a_mixed_precision_generator_converts_from_a_float32_copy(tmp_path):
    """TFLite's builtin kernels compute in float32: a bfloat16-compute generator must still convert."""
    tf.keras.utils.set_random_seed(SEED)
    with precision.policy_scope(precision.MIXED_BFLOAT16):
        generator = _realistic_weights(networks.build_unet_generator(TINY_IMAGE_SIZE, channels=CHANNELS, ngf=NGF), SEED)
    tflite_export.write_tflite_models(generator, str(tmp_path), [tflite_export.VARIANT_FLOAT32])
    images_float = _model_input(_pixels())
    low, high = tflite_export.model_range()
    psnr = _psnr(_run_tflite(str(tmp_path), tflite_export.VARIANT_FLOAT32, images_float),
                 generator(images_float, training=False).numpy(), peak=high - low)
    print(f"\nTFLite float32 of a mixed_bfloat16 generator vs its Keras output: PSNR {psnr:.1f} dB")
    assert psnr >= MIN_MIXED_PRECISION_PSNR_DB
