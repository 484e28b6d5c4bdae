"""Fault injection, serving: hostile images to every signature TF Serving exposes (issue #12, items 1 and 2).

Every hostile input is built here, small: the limits of the export are tiny
(48 x 48 pixels, for every signature), so a bomb that the model
would decode costs hundreds of MB while the files stay a few KB. The bombs go
to a separate process that loads the SavedModel like a server does; its peak
RSS (VmHWM, reset before each request) must stay small and it must survive
every request.
"""
import io
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from PIL import Image

from components import features
from components.example_gen import pairing
from components.trainer import export, networks
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support import paths

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

CONFIG = paths.DEFAULT_CONFIG
REQUEST_LIMIT = 48 * 48           # serving.max_input_pixels: every signature's limit
AT_THE_LIMIT = (48, 48)
ABOVE_THE_LIMIT = (49, 48)
BOMB_SIDE = 4000                  # 16 M pixels: ~250 MB once decoded as floats, a few KB encoded
MAX_RSS_GROWTH_MB = 32            # what one bomb may add to the server's RSS (decoding one: ~250 MB)
SERVER_TIMEOUT_S = 120
GIF_REFUSED = "is a GIF, which serving does not accept"


def _pil(pixels: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _encoded(height: int, width: int, fmt: str = "PNG", **options) -> bytes:
    return _pil(images.random_pixels(height, width, seed=height + width), fmt, **options)


def _gif_with_screen(frame_side: int, screen_side: int) -> bytes:
    """A one-frame GIF whose logical screen (bytes 6-9) claims ``screen_side`` while its frame is larger."""
    data = bytearray(_pil(np.zeros((frame_side, frame_side), np.uint8), "GIF"))
    struct.pack_into("<HH", data, 6, screen_side, screen_side)
    return bytes(data)


def _animated_gif(side: int, frames: int) -> bytes:
    """``frames`` distinct frames (Pillow merges equal ones) on a screen below the request limit."""
    pictures = [Image.fromarray(np.full((side, side), index % 256, np.uint8)) for index in range(frames)]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:])
    return buffer.getvalue()


def _top_down_bmp(height: int, width: int) -> bytes:
    """The same pixels stored top row first: a negative height at byte 22."""
    data = bytearray(_encoded(height, width, "BMP"))
    struct.pack_into("<i", data, 22, -height)
    return bytes(data)


def _patched(data: bytes, offset: int, fmt: str, *values) -> bytes:
    patched = bytearray(data)
    struct.pack_into(fmt, patched, offset, *values)
    return bytes(patched)


def _jpeg_claiming(side: int, progressive: bool = False) -> bytes:
    """A tiny JPEG whose frame header (SOFn) claims ``side`` x ``side``."""
    data = bytearray(_pil(np.zeros((8, 8, 3), np.uint8), "JPEG", progressive=progressive))
    position = 2
    while not (0xC0 <= data[position + 1] <= 0xCF and data[position + 1] not in (0xC4, 0xC8, 0xCC)):
        position += 2 + struct.unpack_from(">H", data, position + 2)[0]
    struct.pack_into(">HH", data, position + 5, side, side)
    return bytes(data)


def _example(input_bytes: bytes, target_bytes: bytes) -> bytes:
    return pairing.make_example("p", input_bytes, target_bytes).SerializeToString()


@pytest.fixture(scope="module")
def export_dir(transform_output_dir, tmp_path_factory):
    tf.keras.utils.set_random_seed(0)
    generator = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    return export.export_generator(generator, tft.TFTransformOutput(transform_output_dir),
                                   str(tmp_path_factory.mktemp("faults_serving") / "model"),
                                   max_input_pixels=REQUEST_LIMIT)


@pytest.fixture(scope="module")
def model(export_dir):
    return tf.saved_model.load(export_dir)


def _serve(model, encoded_images):
    result = model.signatures[features.SERVING_DEFAULT](
        **{features.SERVING_INPUT_BYTES: tf.constant(encoded_images, tf.string)})
    return list(result[features.SERVING_OUTPUT_BYTES].numpy())


def _refusal(call) -> str:
    with pytest.raises(tf.errors.InvalidArgumentError) as refused:
        call()
    return refused.value.message


# --- serving_default: GIF ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("gif", [
    pytest.param(_gif_with_screen(frame_side=60, screen_side=1), id="1x1-screen-60x60-frame"),
    pytest.param(_animated_gif(side=40, frames=8), id="8-frames-on-a-40x40-screen"),
    pytest.param(_encoded(8, 8, "GIF"), id="small-still-gif"),
])
def test_a_gif_is_refused_whatever_its_screen_says(model, gif):
    """TF decodes every GIF frame at sizes its header does not give: no GIF is decoded, small or not."""
    message = _refusal(lambda: _serve(model, [images.png(8, 8), gif]))
    assert f"image_bytes[1] {GIF_REFUSED}" in message
    assert "send a PNG, JPEG or BMP image" in message


# --- serving_default: BMP ----------------------------------------------------------------------------------------
def test_a_top_down_bmp_is_refused_before_it_reaches_the_decoder(model):
    """TF 2.16 decodes a negative-height BMP as floats past its buffer (a segfault); it is refused by name."""
    message = _refusal(lambda: _serve(model, [_top_down_bmp(6, 10)]))
    assert "image_bytes[0] is a top-down BMP (negative height)" in message


@pytest.mark.parametrize("bmp, problem", [
    pytest.param(_patched(_encoded(8, 8, "BMP"), 28, "<h", 16), "is a BMP of a depth TensorFlow cannot decode",
                 id="16-bit"),
    pytest.param(_encoded(8, 8, "BMP") + b"\x00" * 12, "is a BMP whose size does not match its header",
                 id="trailing-bytes"),
    pytest.param(_encoded(8, 8, "BMP")[:-7], "is a BMP whose size does not match its header", id="truncated"),
    pytest.param(_patched(_encoded(8, 8, "BMP"), 18, "<i", -8), "is a BMP whose header is cut short or damaged",
                 id="negative-width"),
    pytest.param(_encoded(8, 8, "BMP")[:30], "is a BMP whose header is cut short or damaged", id="header-cut"),
    pytest.param(b"BM" + bytes(3), "is a BMP whose header is cut short or damaged", id="five-bytes"),
])
def test_a_bmp_the_decoder_would_refuse_is_refused_naming_the_element(model, bmp, problem):
    assert f"image_bytes[1] {problem}" in _refusal(lambda: _serve(model, [images.png(8, 8), bmp]))


# --- serving_default: JPEG and PNG headers -----------------------------------------------------------------------
@pytest.mark.parametrize("jpeg", [
    pytest.param(_encoded(8, 8, "JPEG")[:12], id="cut-inside-app0"),
    pytest.param(b"\xff\xd8\xff\xda\x00\x08" + bytes(6), id="scan-before-frame-header"),
    pytest.param(_encoded(8, 8, "JPEG")[:20] + b"\x00\x00\x00\x00" + _encoded(8, 8, "JPEG")[20:], id="junk-marker"),
    pytest.param(b"\xff\xd8\xff\xe0\xff\xff" + bytes(16), id="segment-past-the-end"),
    pytest.param(b"\xff\xd8" + b"\xff" * export.MAX_JPEG_MARKERS + _encoded(8, 8, "JPEG")[2:], id="endless-fill"),
])
def test_a_jpeg_whose_header_is_damaged_is_refused_naming_the_element(model, jpeg):
    assert "image_bytes[1] is a JPEG whose header is cut short or damaged" in _refusal(
        lambda: _serve(model, [images.png(8, 8), jpeg]))


def test_a_png_whose_first_chunk_is_not_ihdr_is_refused_naming_the_element(model):
    png = images.png(8, 8)
    text_chunk = struct.pack(">I", 4) + b"tEXt" + b"a\x00bc" + struct.pack(">I", 0)
    moved = png[:8] + text_chunk + png[8:]
    assert "image_bytes[0] is a PNG whose header is cut short or damaged" in _refusal(lambda: _serve(model, [moved]))


# --- serving_examples and transform_features ---------------------------------------------------------------------
def test_transform_features_refuses_an_oversized_target_naming_the_feature(model):
    serialized = tf.constant([_example(images.png(8, 8), _encoded(*ABOVE_THE_LIMIT, "JPEG", progressive=True))])
    message = _refusal(lambda: model.signatures[features.TRANSFORM_FEATURES](examples=serialized))
    assert f"examples[0] feature {features.TARGET_IMAGE_KEY} is {ABOVE_THE_LIMIT[1]}x{ABOVE_THE_LIMIT[0]} pixels" in message
    assert f"above the limit of {REQUEST_LIMIT} pixels" in message


@pytest.mark.parametrize("signature", [features.SERVING_EXAMPLES, features.TRANSFORM_FEATURES])
@pytest.mark.parametrize("hostile, problem", [
    pytest.param(_gif_with_screen(frame_side=60, screen_side=1), GIF_REFUSED, id="gif-1x1-screen"),
    pytest.param(_top_down_bmp(6, 10), "is a top-down BMP (negative height)", id="bmp-top-down"),
    pytest.param(images.png_claiming_size(100_000, 100_000), "is 100000x100000 pixels", id="png-bomb"),
])
def test_the_examples_signatures_refuse_what_serving_default_refuses(model, signature, hostile, problem):
    serialized = tf.constant([_example(hostile, images.png(8, 8))])
    message = _refusal(lambda: model.signatures[signature](examples=serialized))
    assert f"examples[0] feature {features.INPUT_IMAGE_KEY} {problem}" in message


def test_the_examples_signatures_score_up_to_the_serving_limit_and_refuse_above_it(model):
    """One limit for every signature: what serving_default refuses, the examples signatures refuse too."""
    at_limit = _encoded(*AT_THE_LIMIT, "JPEG")
    serialized = tf.constant([_example(at_limit, at_limit)])
    pixels = model.signatures[features.SERVING_EXAMPLES](examples=serialized)[features.SERVING_OUTPUT_PIXELS]
    assert pixels.shape == (1, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    xf = model.signatures[features.TRANSFORM_FEATURES](examples=serialized)
    assert xf[features.TARGET_XF].shape == (1, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE, 3)
    assert len(_serve(model, [at_limit])) == 1

    height, width = ABOVE_THE_LIMIT
    above = _encoded(height, width)
    expected = f"is {width}x{height} pixels (width x height) = {width * height} pixels, above the limit of {REQUEST_LIMIT}"
    assert f"image_bytes[0] {expected}" in _refusal(lambda: _serve(model, [above]))
    serialized = tf.constant([_example(images.png(8, 8), images.png(8, 8)), _example(above, at_limit)])
    for signature in (features.SERVING_EXAMPLES, features.TRANSFORM_FEATURES):
        message = _refusal(lambda: model.signatures[signature](examples=serialized))
        assert f"examples[1] feature {features.INPUT_IMAGE_KEY} {expected}" in message


def test_ingestion_cannot_admit_images_the_served_model_refuses():
    """The Evaluator scores through the served signatures: data.max_image_pixels must fit their limit."""
    from pipeline.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=r"data.max_image_pixels: got 50000000; expected at most "
                                          r"serving.max_input_pixels \(16777216\)"):
        load_config(CONFIG, ["data.max_image_pixels=50000000"])
    assert load_config(CONFIG, ["data.max_image_pixels=50000000", "serving.max_input_pixels=50000000"])
    assert load_config(CONFIG, ["data.max_image_pixels=50000000", "serving.max_input_pixels=null"])


# --- the bombs, in a process of their own ------------------------------------------------------------------------
SERVER = r"""
import json, re, sys
import tensorflow as tf


def status_mb(field):
    return int(re.search(field + r":\s+(\d+) kB", open("/proc/self/status").read()).group(1)) / 1024


model = tf.saved_model.load(sys.argv[1])
requests = json.loads(sys.stdin.read())
accepted = [bytes.fromhex(data) for data in requests.pop("accepted")]
model.signatures["serving_default"](image_bytes=tf.constant([bytes.fromhex(requests.pop("warm_up"))]))
model.signatures["serving_examples"](examples=tf.constant([bytes.fromhex(requests.pop("warm_up_example"))]))
for name, (signature, argument, data) in requests.items():
    before = status_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM, the peak RSS, to the current RSS
    try:
        model.signatures[signature](**{argument: tf.constant([bytes.fromhex(data)])})
        outcome = "served"
    except tf.errors.InvalidArgumentError as error:
        outcome = error.message
    print(json.dumps({"name": name, "outcome": outcome, "growth_mb": status_mb("VmHWM") - before}), flush=True)
served = model.signatures["serving_default"](image_bytes=tf.constant(accepted))["generated_image_bytes"]
print(json.dumps({"name": "accepted", "outcome": len(served.numpy()), "growth_mb": 0}), flush=True)
"""


# At the request limit, in every format serving accepts: still translated after the bombs.
ACCEPTED = (_encoded(48, 48, "PNG"), _encoded(48, 48, "JPEG"), _encoded(48, 48, "JPEG", progressive=True),
            _encoded(48, 48, "BMP"), images.encode_png16(images.random_pixels(48, 48, dtype=np.uint16)))


def _bombs():
    """name -> (signature, its input, bytes); each would decode to hundreds of MB."""
    request = (features.SERVING_DEFAULT, features.SERVING_INPUT_BYTES)
    example = (features.SERVING_EXAMPLES, export.EXAMPLES_INPUT)
    return {
        "gif-1x1-screen": (*request, _gif_with_screen(frame_side=BOMB_SIDE, screen_side=1)),
        "gif-many-frames": (*request, _animated_gif(side=40, frames=256)),
        "png": (*request, images.png_claiming_size(BOMB_SIDE, BOMB_SIDE)),
        "jpeg-baseline": (*request, _jpeg_claiming(BOMB_SIDE)),
        "jpeg-progressive": (*request, _jpeg_claiming(BOMB_SIDE, progressive=True)),
        "bmp-above-the-limit": (*request, _encoded(*ABOVE_THE_LIMIT, "BMP")),
        "bmp-top-down": (*request, _top_down_bmp(6, 10)),
        "example-gif-1x1-screen": (*example, _example(_gif_with_screen(BOMB_SIDE, 1), images.png(8, 8))),
        "example-png": (*example, _example(images.png_claiming_size(BOMB_SIDE, BOMB_SIDE), images.png(8, 8))),
        "example-bmp-top-down": (*example, _example(_top_down_bmp(6, 10), images.png(8, 8))),
    }


def test_no_bomb_blows_the_servers_memory_or_crashes_it(export_dir):
    """A server process gets every bomb, one request each: it survives, refuses each by name, stays small,
    and still translates an image of every accepted format at the limit."""
    bombs = _bombs()
    payload = {name: (signature, argument, data.hex()) for name, (signature, argument, data) in bombs.items()}
    payload["warm_up"] = images.png(8, 8).hex()
    payload["warm_up_example"] = _example(images.png(8, 8), images.png(8, 8)).hex()
    payload["accepted"] = [data.hex() for data in ACCEPTED]
    server = subprocess.run([sys.executable, "-c", SERVER, export_dir], input=json.dumps(payload),
                            capture_output=True, text=True, timeout=SERVER_TIMEOUT_S,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    results = {line["name"]: line for line in map(json.loads, server.stdout.splitlines())}
    assert server.returncode == 0, f"the server died ({server.returncode}) after {list(results)}: " \
                                   f"{server.stderr[-2000:]}"
    assert set(results) == {*bombs, "accepted"}
    assert results.pop("accepted")["outcome"] == len(ACCEPTED)
    for name, result in results.items():
        element = f"examples[0] feature {features.INPUT_IMAGE_KEY}" if name.startswith("example") \
            else "image_bytes[0]"
        assert re.search(re.escape(element) + r" (is a |is \d+x\d+ pixels)", result["outcome"]), (name, result)
    assert max(result["growth_mb"] for result in results.values()) < MAX_RSS_GROWTH_MB, results


def test_a_header_whose_sides_overflow_the_pixel_product_is_refused(model):
    """2^32-1 x 2^32-1 wraps width x height around in int64: each side is checked first."""
    side = 2 ** 32 - 1
    message = _refusal(lambda: _serve(model, [images.png_claiming_size(side, side)]))
    assert f"image_bytes[0] is {side}x{side} pixels" in message and f"above the limit of {REQUEST_LIMIT}" in message
