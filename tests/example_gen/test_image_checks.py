"""Every accepted format and mode reaches Transform decodable; limits are checked before decoding."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from components.example_gen import image_checks, quarantine
from components.transform import preprocessing
from components.example_gen.settings import DataSettings
from tests.support import images

LIMITS = image_checks.ImageLimits(min_side=8, max_pixels=10_000)


def _pil(mode: str, fmt: str, size=(20, 24), **save) -> bytes:
    rgba = images.smooth_pixels(size[0], size[1], 4, seed=3)
    image = Image.fromarray(rgba, "RGBA").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


CASES = {  # name -> (bytes, keeps its bytes)
    "png_1bit": (_pil("1", "PNG"), True),
    "png_gray": (_pil("L", "PNG"), True),
    "png_gray_alpha": (_pil("LA", "PNG"), True),
    "png_palette": (_pil("P", "PNG"), True),
    "png_rgb": (_pil("RGB", "PNG"), True),
    "png_rgba": (_pil("RGBA", "PNG"), True),
    "png16_gray": (images.encode_png16(images.smooth_pixels(20, 24, 1, 1, np.uint16)), True),
    "png16_gray_alpha": (images.encode_png16(images.smooth_pixels(20, 24, 2, 1, np.uint16)), True),
    "png16_rgb": (images.encode_png16(images.smooth_pixels(20, 24, 3, 1, np.uint16)), True),
    "png16_rgba": (images.encode_png16(images.smooth_pixels(20, 24, 4, 1, np.uint16)), True),
    "jpeg_gray": (_pil("L", "JPEG"), True),
    "jpeg_rgb": (_pil("RGB", "JPEG"), True),
    "jpeg_progressive": (_pil("RGB", "JPEG", progressive=True), True),
    "jpeg_cmyk": (_pil("CMYK", "JPEG"), False),
    "bmp_1bit": (_pil("1", "BMP"), False),
    "bmp_gray": (_pil("L", "BMP"), False),
    "bmp_palette_rle": (_pil("P", "BMP", compression="bmp_rle"), False),
    "bmp_rgb": (_pil("RGB", "BMP"), False),
    "gif_palette": (_pil("P", "GIF"), False),
    "gif_gray": (_pil("L", "GIF"), False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_format_and_mode_is_stored_so_that_transform_decodes_it(name):
    data, keeps_bytes = CASES[name]
    checked = image_checks.check_image(data, LIMITS)
    assert checked.size == (24, 20)
    assert (checked.encoded == data) is keeps_bytes and checked.reencoded is not keeps_bytes
    if not keeps_bytes:
        np.testing.assert_array_equal(
            tf.io.decode_png(checked.encoded, dtype=tf.as_dtype(checked.pixels.dtype)).numpy(), checked.pixels)
    for channels in (1, 3):
        decoded = preprocessing.decode_and_normalize(tf.constant(checked.encoded), 16, channels)
        assert decoded.shape == (16, 16, channels)


def test_why_bmp_and_gif_are_reencoded():
    """Transform's decoder refuses these originals with channels=1 (grayscale models)."""
    for name in ("bmp_rgb", "gif_palette", "jpeg_cmyk"):
        with pytest.raises(tf.errors.InvalidArgumentError):
            preprocessing.decode_and_normalize(tf.constant(CASES[name][0]), 16, 1)


def test_sixteen_bit_pngs_keep_their_depth():
    data = CASES["png16_rgb"][0]
    checked = image_checks.check_image(data, LIMITS)
    assert checked.pixels.dtype == np.uint16 and checked.pixels.max() > 255
    np.testing.assert_array_equal(checked.pixels, tf.io.decode_png(data, dtype=tf.uint16).numpy())


@pytest.mark.parametrize("data, reason, detail", [
    (b"", quarantine.EMPTY_FILE, "zero bytes"),
    (b"GIF? no, a text file", quarantine.NOT_AN_IMAGE, "no known image format"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, quarantine.CORRUPT_IMAGE, "starts like an image"),
    (_pil("RGB", "TIFF"), quarantine.UNSUPPORTED_FORMAT, "TIFF image"),
    (_pil("RGB", "PNG", size=(7, 40)), quarantine.TOO_SMALL, "40x7 px; data.min_image_side = 8"),
    (_pil("RGB", "PNG", size=(101, 100)), quarantine.TOO_MANY_PIXELS, "100x101 = 10,100 px"),
    (images.png_claiming_size(90, 100), quarantine.CORRUPT_IMAGE, "Invalid PNG data"),
    (_pil("RGB", "JPEG")[:-200], quarantine.CORRUPT_IMAGE, "JPEG"),
    (_pil("RGB", "BMP")[:-100], quarantine.CORRUPT_IMAGE, ""),
])
def test_bad_images_are_rejected_with_reason_and_detail(data, reason, detail):
    with pytest.raises(image_checks.ImageRejected) as error:
        image_checks.check_image(data, LIMITS)
    assert error.value.reason == reason and detail in error.value.detail


def test_pixel_limit_is_read_from_the_header_before_any_decoding(monkeypatch):
    decoded = []
    monkeypatch.setattr(image_checks, "decode_pixels", lambda *args: decoded.append(args))
    with pytest.raises(image_checks.ImageRejected, match="too_many_pixels"):
        image_checks.check_image(images.png_claiming_size(200_000, 200_000), LIMITS)     # 40 gigapixels
    with pytest.raises(image_checks.ImageRejected, match="too_many_pixels"):              # PIL's own guard
        image_checks.check_image(images.png_claiming_size(200_000, 200_000),
                                 image_checks.ImageLimits(min_side=1, max_pixels=10 ** 12))
    assert decoded == []


def test_config_extensions_are_the_formats_the_checks_accept():
    registered = Image.registered_extensions()
    assert {registered[ext] for ext in DataSettings.SUPPORTED_IMAGE_EXTENSIONS} == set(image_checks.SUPPORTED_FORMATS)
