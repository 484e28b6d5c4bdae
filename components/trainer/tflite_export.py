"""TFLite copies of the generator for mobile and edge clients, published inside each exported version.

``serving.tflite`` names the variants. Each is written to
``<export>/assets.extra/tflite/generator_<variant>.tflite``: TF Serving ignores
``assets.extra``, and the Pusher copies the whole export folder, so every pushed
version carries the TFLite files of the very weights it serves. Beside them,
``generator.json`` tells a mobile developer what the files take and give (read
from the interpreter itself), and how to get there from uint8 pixels.

The files hold the deterministic generator of ``serving_default`` (inference
mode: BatchNorm's moving statistics, dropout off), at the training size and a
batch of 1, so the interpreter needs no resize. They carry no preprocessing: a
client decodes, scales and (for larger images) tiles as the JSON describes.
Only TFLite's builtin ops are used (no Flex delegate), and a mixed-precision
generator is converted from a float32 copy of it: TFLite's kernels compute in
float32 (float16 is only a storage format for weights).
"""
from __future__ import annotations

import json
import logging
from typing import Dict, Sequence, Tuple

import numpy as np
import tensorflow as tf

from components import features, output_files
from components.trainer import warmup
from components.transform import preprocessing

log = logging.getLogger(__name__)

# Variants a user may ask for in ``serving.tflite``: float32 (the reference), float16 weights (half the size).
VARIANT_FLOAT32 = "float32"
VARIANT_FLOAT16 = "float16"
VARIANT_DYNAMIC_RANGE = "dynamic_range"
VARIANTS = (VARIANT_FLOAT32, VARIANT_FLOAT16, VARIANT_DYNAMIC_RANGE)
# What each variant stores, for the JSON and the logs.
VARIANT_WEIGHTS = {
    VARIANT_FLOAT32: "float32 weights and compute (the reference)",
    VARIANT_FLOAT16: "float16 weights, dequantized to float32 when the interpreter loads them; float32 compute",
    VARIANT_DYNAMIC_RANGE: "int8 weights; activations quantized on the fly where a kernel supports it",
}

TFLITE_DIR = "tflite"                          # under the export's assets.extra/
MODEL_FILE = "generator_{variant}.tflite"
DESCRIPTION_FILE = "generator.json"
SIGNATURE = features.SERVING_DEFAULT           # the TFLite signature key (the deterministic generator's)
INPUT_NAME = features.INPUT_XF                 # the transformed input, as Transform names it
OUTPUT_NAME = "generated"
BATCH = 1                                      # fixed: the interpreter allocates once, nothing to resize
UINT8_MAX = int(np.iinfo(np.uint8).max)        # decoding maps 0..255 to [0, 1] (preprocessing.decode_to_unit_range)
CHANNEL_LAYOUTS = {1: "grayscale", 3: "RGB"}   # what tf.io.decode_image gives for preprocessing.SUPPORTED_CHANNELS
BYTES_PER_MB = 1e6
COMPUTE_DTYPE = "float32"                      # TFLite's builtin kernels' float type


def check_variants(variants: Sequence[str]) -> Tuple[str, ...]:
    """The requested variants in order, each once; ValueError naming any unknown one."""
    unknown = [variant for variant in variants if variant not in VARIANTS]
    if unknown:
        raise ValueError(f"TFLite variants: unknown {unknown} (in {list(variants)}); allowed values: {list(VARIANTS)}")
    return tuple(dict.fromkeys(variants))


def tflite_dir(export_dir: str) -> str:
    return output_files.join(export_dir, warmup.WARMUP_DIR, TFLITE_DIR)


def model_range() -> Tuple[float, float]:
    """The generator's input range, as Transform makes it: ``to_model_range`` of the unit range's ends."""
    low, high = preprocessing.to_model_range(tf.constant([0.0, 1.0])).numpy().tolist()
    return low, high


def _float32_generator(generator: tf.keras.Model) -> tf.keras.Model:
    """``generator`` itself, or a float32-compute clone with the same weights when it was built mixed-precision."""
    if all(layer.compute_dtype == COMPUTE_DTYPE for layer in generator.layers):
        return generator

    def as_float32(layer):
        config = layer.get_config()
        config["dtype"] = COMPUTE_DTYPE
        return layer.__class__.from_config(config)

    clone = tf.keras.models.clone_model(generator, clone_function=as_float32)
    clone.set_weights(generator.get_weights())
    return clone


def _converter_inputs(generator: tf.keras.Model):
    """The batch-1 concrete function and a holder of only its variables.

    The converter saves the object it is given; a plain holder spares it tracing
    every Keras layer's call functions (seconds, most of a conversion).
    """
    _, size, _, channels = generator.input_shape

    @tf.function(input_signature=[tf.TensorSpec([BATCH, size, size, channels], tf.float32, name=INPUT_NAME)])
    def generate(images):
        return {OUTPUT_NAME: generator(images, training=False)}

    holder = tf.Module()
    holder.generator_variables = list(generator.variables)
    return generate.get_concrete_function(), holder


def convert(concrete_function, holder: tf.Module, variant: str) -> bytes:
    """One variant's flatbuffer, builtin ops only."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], holder)
    if variant in (VARIANT_FLOAT16, VARIANT_DYNAMIC_RANGE):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]   # without a representative dataset: weights only
    if variant == VARIANT_FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def _tensor_description(detail: dict) -> dict:
    return {"tensor": detail["name"], "shape": [int(side) for side in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name}


def _interface(model: bytes) -> Tuple[dict, dict]:
    """The input and output as the interpreter reports them (what a client will see)."""
    interpreter = tf.lite.Interpreter(model_content=model)
    runner = interpreter.get_signature_runner(SIGNATURE)
    return (_tensor_description(runner.get_input_details()[INPUT_NAME]),
            _tensor_description(runner.get_output_details()[OUTPUT_NAME]))


def _signed(value: float) -> str:
    return f"{'-' if value < 0 else '+'} {abs(value):g}"


def description(image_size: int, channels: int, interface: Tuple[dict, dict], files: Dict[str, dict]) -> dict:
    """What a mobile developer needs: tensors, ranges, the uint8 conversions, the variants' files."""
    low, high = model_range()
    scale = UINT8_MAX / (high - low)   # uint8 -> [low, high]: x / scale + low, as decode + to_model_range do
    inputs, outputs = interface
    return {
        "model": "pix2pix generator, deterministic: inference mode (BatchNorm moving statistics, dropout off), "
                 f"as the SavedModel's {features.SERVING_DEFAULT} runs it",
        "signature": SIGNATURE,
        "image_size": image_size,
        "channels": channels,
        "channel_layout": CHANNEL_LAYOUTS.get(channels, f"{channels} channels"),
        "input": {"name": INPUT_NAME, **inputs, "range": [low, high],
                  "from_uint8": {"formula": f"x / {scale:g} {_signed(low)}", "scale": scale, "offset": low}},
        "output": {"name": OUTPUT_NAME, **outputs, "range": [low, high],
                   "to_uint8": {"formula": f"round(clip((y {_signed(-low)}) * {scale:g}, 0, {UINT8_MAX}))",
                                "scale": scale, "offset": low}},
        "larger_images": f"the model translates {image_size}x{image_size} images only. Larger images: cut them into "
                         f"overlapping {image_size}x{image_size} tiles, translate each, blend the overlaps (sin^2 "
                         "window), as components/trainer/inference.py translate_tiled does; or resize the long side "
                         f"to {image_size} and reflect-pad to a square (translate_resized)",
        "variants": files,
    }


def write_tflite_models(generator: tf.keras.Model, export_dir: str, variants: Sequence[str]) -> Dict[str, str]:
    """Writes each variant and ``generator.json`` into ``<export_dir>/assets.extra/tflite/``; returns the paths.

    No variants: nothing is written (not even the folder).
    """
    variants = check_variants(variants)
    if not variants:
        return {}
    _, image_size, _, channels = generator.input_shape
    concrete_function, holder = _converter_inputs(_float32_generator(generator))
    folder = tflite_dir(export_dir)
    paths: Dict[str, str] = {}
    files: Dict[str, dict] = {}
    interface = None
    for variant in variants:
        model = convert(concrete_function, holder, variant)
        variant_interface = _interface(model)
        if interface is not None and variant_interface != interface:
            raise RuntimeError(f"TFLite {variant}: the interpreter reports {variant_interface}, other variants "
                               f"{interface}; the converter changed the model's interface")
        interface = variant_interface
        name = MODEL_FILE.format(variant=variant)
        paths[variant] = output_files.write_bytes(output_files.join(folder, name), model)
        files[variant] = {"file": name, "bytes": len(model), "weights": VARIANT_WEIGHTS[variant]}
        log.info("TFLite %s: %.2f MB, %s", variant, len(model) / BYTES_PER_MB, paths[variant])
    output_files.write_text(output_files.join(folder, DESCRIPTION_FILE),
                            json.dumps(description(image_size, channels, interface, files), indent=2) + "\n")
    return paths
