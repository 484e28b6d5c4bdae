"""Aligned (A|B side by side) ingestion: halves are exact lossless PNGs, bad files are quarantined."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components import features
from components.example_gen import aligned, quarantine as q
from tests.support import images
from tests.support.ingestion import image_bytes, run_example_gen

H, W = 32, 64                     # each half 32x32
LIMITS = dict(min_image_side=16, max_image_pixels=5000, min_valid_fraction=0.3)


def _bmp(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="BMP")
    return buffer.getvalue()


def _decoded_source(data: bytes) -> np.ndarray:
    """The source decoded as the ExampleGen must: TF for PNG/JPEG (Transform's decoder), PIL otherwise."""
    if data.startswith(b"\x89PNG"):
        dtype = tf.uint16 if data[24] == 16 else tf.uint8
        return tf.io.decode_png(data, dtype=dtype).numpy()
    if data.startswith(b"\xff\xd8"):
        return tf.io.decode_jpeg(data).numpy()
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def classic(tmp_path_factory):
    """The classic pix2pix layout: train/ and val/ folders of A|B files."""
    root = tmp_path_factory.mktemp("aligned")
    px = images.smooth_pixels
    valid = {
        "train/1.jpg": images.encode(px(H, W, seed=1), "JPEG"),
        "train/2.png": images.encode_png16(px(H, W, 3, 2, np.uint16)),
        "train/3.png": images.encode(px(H, W, 2, 3)),
        "train/4.bmp": _bmp(px(H, W, seed=4)),
        "val/1.jpg": images.encode(px(H, W, seed=5), "JPEG"),    # same stem as train/1.jpg: a different pair
        "val/2.png": images.encode(px(H, W, seed=6)),
    }
    good = images.encode(px(H, W, seed=7))
    bad = {
        "train/odd.png": (images.encode(px(H, W - 1)), q.ODD_WIDTH),
        "train/narrow.png": (images.encode(px(H, 20)), q.TOO_SMALL),          # halves 10 px wide
        "train/dup.png": (good, q.DUPLICATE_STEM),
        "train/dup.jpg": (images.encode(px(H, W), "JPEG"), q.DUPLICATE_STEM),
        "train/cut.jpg": (images.encode(px(H, W), "JPEG")[:300], q.CORRUPT_IMAGE),
        "train/empty.png": (b"", q.EMPTY_FILE),
        "train/text.jpg": (b"<html>not found</html>", q.NOT_AN_IMAGE),
        "train/big.png": (images.encode(px(64, 128)), q.TOO_MANY_PIXELS),
        "val/bomb.png": (images.png_claiming_size(40000, 20000), q.TOO_MANY_PIXELS),
        "train/notes.txt": (b"x", q.UNSUPPORTED_EXTENSION),
        "train/extra/5.png": (good, q.OUTSIDE_LAYOUT),
        "6.png": (good, q.OUTSIDE_LAYOUT),
    }
    for relative, data in valid.items():
        images.write(root / relative, data)
    for relative, (data, _) in bad.items():
        images.write(root / relative, data)
    run = run_example_gen(root, tmp_path_factory.mktemp("work"), layout="aligned", **LIMITS)
    return root, valid, {rel: reason for rel, (_, reason) in bad.items()}, run


def test_split_folders_and_the_report(classic):
    root, valid, expected, run = classic
    assert run.ids("train") == ["1", "2", "3", "4"] and run.ids("eval") == ["1", "2"]
    assert set(run.examples) == {"train", "eval"}
    assert run.reasons_by_file(root) == expected
    assert run.audit.valid_items + run.audit.quarantined_items == len(valid) + len(expected)
    assert run.audit.unit == "file" and run.audit.valid_items == len(valid)


def test_halves_are_lossless_pngs_of_the_decoded_source(classic):
    _, valid, _, run = classic
    for split_folder, split in (("train", "train"), ("val", "eval")):
        examples = {e.features.feature[features.PAIR_ID_KEY].bytes_list.value[0].decode(): e
                    for e in run.examples[split]}
        for relative, data in valid.items():
            folder, name = relative.split("/")
            if folder != split_folder:
                continue
            source = _decoded_source(data)
            example = examples[name.split(".")[0]]
            for key, half in ((features.INPUT_IMAGE_KEY, source[:, : W // 2]),
                              (features.TARGET_IMAGE_KEY, source[:, W // 2:])):
                stored = image_bytes(example, key)
                assert stored.startswith(b"\x89PNG"), relative
                decoded = tf.io.decode_png(stored, dtype=tf.uint16 if half.dtype == np.uint16 else tf.uint8)
                np.testing.assert_array_equal(decoded.numpy(), half, err_msg=f"{relative} {key}")


def test_btoa_makes_the_right_half_the_input_and_no_split_folders_hash_split(tmp_path):
    root = tmp_path / "flat"
    sources = {f"p{i}": images.smooth_pixels(H, W, seed=10 + i) for i in range(8)}
    for stem, pixels in sources.items():
        images.write(root / f"{stem}.png", images.encode(pixels))
    run = run_example_gen(root, tmp_path / "work", layout="aligned", direction="BtoA",
                          split_ratios={"train": 1, "eval": 1}, **LIMITS)
    assert run.ids("train") and run.ids("eval") and sorted(run.by_id()) == sorted(sources)
    for stem, example in run.by_id().items():
        expected_input, expected_target = aligned.split_halves(sources[stem], "BtoA")
        np.testing.assert_array_equal(tf.io.decode_png(image_bytes(example, features.INPUT_IMAGE_KEY)).numpy(),
                                      expected_input)
        np.testing.assert_array_equal(expected_input, sources[stem][:, W // 2:])
        np.testing.assert_array_equal(tf.io.decode_png(image_bytes(example, features.TARGET_IMAGE_KEY)).numpy(),
                                      expected_target)


def test_split_and_join_are_inverse_and_check_their_input():
    pixels = images.smooth_pixels(4, 6)
    for direction in aligned.DIRECTIONS:
        np.testing.assert_array_equal(aligned.join_halves(*aligned.split_halves(pixels, direction), direction),
                                      pixels)
    left, right = aligned.split_halves(pixels, "AtoB")
    np.testing.assert_array_equal(left, pixels[:, :3])
    with pytest.raises(ValueError, match="even width"):
        aligned.split_halves(pixels[:, :5], "AtoB")
    with pytest.raises(ValueError, match="direction"):
        aligned.split_halves(pixels, "AB")
    with pytest.raises(ValueError, match="differ in shape"):
        aligned.join_halves(left, right[:, :2], "AtoB")
