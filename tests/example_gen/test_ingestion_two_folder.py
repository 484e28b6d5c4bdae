"""two_folder ingestion through the real executor: every format in, every kind of bad file quarantined.

The assertions compare the quarantine report with what the test put in the
folder, file by file, and check that each valid pair's stored bytes decode to
exactly the source pixels (and in Transform's decoder, at 1 and 3 channels).
"""
import collections
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from tfx.components.example_gen import base_example_gen_executor
from tfx.proto import example_gen_pb2

from components import features
from components.example_gen import pairing, quarantine as q
from components.transform import preprocessing
from tests.support import images
from tests.support.ingestion import image_bytes, run_example_gen

SIZE = 32
# 64x64 = 4096 px is "too many"; more bad files than good ones here, so a low gate.
LIMITS = dict(min_image_side=16, max_image_pixels=3000, min_valid_fraction=0.3)


def _pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _gif_two_frames(seed: int) -> bytes:
    frames = [Image.fromarray(images.smooth_pixels(SIZE, SIZE, seed=seed + k)).convert("P") for k in range(2)]
    return _pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])


def _valid_sources():
    """stem -> {role: (file name, bytes)} for every accepted format and mode."""
    px = images.smooth_pixels
    cmyk = Image.fromarray(px(SIZE, SIZE, seed=9)).convert("CMYK")
    return {
        "png_rgb": {"input": ("png_rgb.png", images.encode(px(SIZE, SIZE, seed=1))),
                    "target": ("png_rgb.png", images.encode(px(SIZE, SIZE, seed=2)))},
        "png16_gray": {"input": ("png16_gray.png", images.encode_png16(px(SIZE, SIZE, 1, 3, np.uint16))),
                       "target": ("png16_gray.png", images.encode_png16(px(SIZE, SIZE, 1, 4, np.uint16)))},
        "png16_rgba": {"input": ("png16_rgba.png", images.encode_png16(px(SIZE, SIZE, 4, 5, np.uint16))),
                       "target": ("png16_rgba.png", images.encode_png16(px(SIZE, SIZE, 2, 6, np.uint16)))},
        "png_gray_alpha": {"input": ("png_gray_alpha.png", images.encode(px(SIZE, SIZE, 2, 7))),
                           "target": ("png_gray_alpha.png", images.encode(px(SIZE, SIZE, 4, 8)))},
        "jpeg": {"input": ("jpeg.jpg", images.encode(px(SIZE, SIZE, seed=10), "JPEG")),
                 "target": ("jpeg.jpeg", images.encode(px(SIZE, SIZE, 1, 11), "JPEG"))},
        "bmp": {"input": ("bmp.bmp", images.encode(px(SIZE, SIZE, seed=12), "BMP")),
                "target": ("bmp.bmp", _pil_bytes(Image.fromarray(px(SIZE, SIZE, 1, 13) > 128), "BMP"))},
        "gif_and_cmyk": {"input": ("gif_and_cmyk.gif", _gif_two_frames(14)),
                         "target": ("gif_and_cmyk.jpg", _pil_bytes(cmyk, "JPEG"))},
        "mixed_sizes": {"input": ("mixed_sizes.png", images.encode(px(SIZE, SIZE, seed=15))),
                        "target": ("mixed_sizes.jpg", images.encode(px(40, 48, seed=16), "JPEG"))},
    }


def _expected_pixels(data: bytes) -> np.ndarray:
    """What a lossless re-encode must hold: PIL's first frame, nearest of L/LA/RGB/RGBA."""
    with Image.open(io.BytesIO(data)) as image:
        mode = {"1": "L", "L": "L", "P": "RGB", "CMYK": "RGB", "RGB": "RGB"}[image.mode]
        pixels = np.asarray(image.convert(mode))
    return pixels[..., None] if pixels.ndim == 2 else pixels


@pytest.fixture(scope="module")
def everything(tmp_path_factory):
    root = tmp_path_factory.mktemp("two_folder")
    sources = _valid_sources()
    for stem, roles in sources.items():
        for role, (name, data) in roles.items():
            images.write(root / role / name, data)
    good = images.encode(images.smooth_pixels(SIZE, SIZE, seed=20))
    png = images.encode(images.smooth_pixels(SIZE, SIZE, seed=21))
    jpeg = images.encode(images.smooth_pixels(SIZE, SIZE, seed=22), "JPEG")
    bad = {  # relative path -> (bytes, expected reason)
        "input/lonely.png": (good, q.UNPAIRED),
        "target/orphan.jpg": (jpeg, q.UNPAIRED),
        "input/dup.png": (good, q.DUPLICATE_STEM),
        "input/dup.jpg": (jpeg, q.DUPLICATE_STEM),
        "target/dup.png": (good, q.DUPLICATE_STEM),
        "input/empty.png": (b"", q.EMPTY_FILE),
        "target/empty.png": (good, q.PARTNER_REJECTED),
        "input/text.png": (b"this is not an image\n", q.NOT_AN_IMAGE),
        "target/text.png": (good, q.PARTNER_REJECTED),
        "input/cut.png": (png[: len(png) // 2], q.CORRUPT_IMAGE),
        "target/cut.jpg": (jpeg[: len(jpeg) * 2 // 3], q.CORRUPT_IMAGE),
        "input/tiff.png": (_pil_bytes(Image.fromarray(images.smooth_pixels(SIZE, SIZE)), "TIFF"), q.UNSUPPORTED_FORMAT),
        "target/tiff.png": (good, q.PARTNER_REJECTED),
        "input/tiny.png": (images.encode(images.smooth_pixels(8, 40)), q.TOO_SMALL),
        "target/tiny.png": (images.encode(images.smooth_pixels(8, 40)), q.TOO_SMALL),
        "input/large.png": (images.encode(images.smooth_pixels(64, 64)), q.TOO_MANY_PIXELS),
        "target/large.png": (good, q.PARTNER_REJECTED),
        "input/bomb.png": (good, q.PARTNER_REJECTED),
        "target/bomb.png": (images.png_claiming_size(30000, 30000), q.TOO_MANY_PIXELS),  # PIL's own guard
        "input/notes.txt": (b"hello", q.UNSUPPORTED_EXTENSION),
        "input/nested/deeper.png": (good, q.OUTSIDE_LAYOUT),
        "stray.png": (good, q.OUTSIDE_LAYOUT),
    }
    for relative, (data, _) in bad.items():
        images.write(root / relative, data)
    images.write(root / "README.md", b"not a data file: ignored, but counted")
    run = run_example_gen(root, tmp_path_factory.mktemp("work"), split_ratios={"train": 1, "eval": 1}, **LIMITS)
    return root, sources, {rel: reason for rel, (_, reason) in bad.items()}, run


def test_every_bad_file_is_in_the_report_with_its_reason(everything):
    root, _, expected, run = everything
    assert run.reasons_by_file(root) == expected
    assert run.audit.quarantined == dict(collections.Counter(expected.values()))
    details = {os.path.relpath(row["file"], root): row["detail"] for row in run.rows}
    assert "exceeds limit" in details["target/bomb.png"]                   # PIL's DecompressionBombError
    assert "64x64 = 4,096 px > data.max_image_pixels = 3,000" in details["input/large.png"]
    assert "its input empty.png is empty_file" in details["target/empty.png"]
    assert {row["split"] for row in run.rows} == {"all"}                    # no split folders: hash split


def test_every_valid_pair_is_an_example_and_nothing_is_lost(everything):
    root, sources, expected, run = everything
    assert sorted(run.by_id()) == sorted(sources)
    data_files = sum(len(files) for _, _, files in os.walk(root)) - 1          # all but README.md
    assert run.audit.valid_items == 2 * len(sources)
    assert run.audit.valid_items + run.audit.quarantined_items == data_files
    assert run.audit.ignored_files == 1
    assert run.audit.resized_pairs == 1                                         # mixed_sizes (policy resize)
    assert sum(run.audit.examples.values()) == len(sources)


def test_png_and_jpeg_keep_their_bytes_and_others_decode_to_the_source_pixels(everything):
    _, sources, _, run = everything
    examples = run.by_id()
    for stem, roles in sources.items():
        for role, key in (("input", features.INPUT_IMAGE_KEY), ("target", features.TARGET_IMAGE_KEY)):
            name, data = roles[role]
            stored = image_bytes(examples[stem], key)
            if name.endswith((".png", ".jpg", ".jpeg")) and not stem.startswith("gif_and_cmyk"):
                assert stored == data, (stem, role)
            else:  # BMP, GIF (first frame), CMYK JPEG: lossless PNG of what PIL decodes
                assert stored.startswith(b"\x89PNG"), (stem, role)
                np.testing.assert_array_equal(tf.io.decode_png(stored).numpy(), _expected_pixels(data))
    sixteen = image_bytes(examples["png16_rgba"], features.INPUT_IMAGE_KEY)
    assert tf.io.decode_png(sixteen, dtype=tf.uint16).dtype == tf.uint16


@pytest.mark.parametrize("channels", [1, 3])
def test_every_stored_image_decodes_in_transform(everything, channels):
    _, _, _, run = everything
    for example in run.by_id().values():
        for key in (features.INPUT_IMAGE_KEY, features.TARGET_IMAGE_KEY):
            image = preprocessing.decode_and_normalize(tf.constant(image_bytes(example, key)), 16, channels)
            assert image.shape == (16, 16, channels)


def test_hash_split_is_tfx_partition_of_the_pair_id_alone(everything):
    """So a pair never moves between splits when the dataset grows."""
    _, _, _, run = everything
    split_config = example_gen_pb2.SplitConfig(
        splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=1),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)],
        partition_feature_name=features.PAIR_ID_KEY)
    for split, index in (("train", 0), ("eval", 1)):
        for pair_id in run.ids(split):
            example = pairing.make_example(pair_id, b"", b"")
            assert base_example_gen_executor._PartitionFn(example, 2, [1, 2], split_config) == index
    assert run.ids("train") and run.ids("eval")
