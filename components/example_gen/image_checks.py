"""Is this file an image we can train on? Header limits, a full decode, and the bytes to store.

Order matters: the size limits are read from the header (PIL reads only the
header on open), so a decompression bomb is refused before a single pixel is
decoded. Then the image is decoded in full, so a truncated or damaged file never
reaches Transform.

What is stored in the Example: PNG and JPEG (grayscale or RGB) keep their exact
bytes, because TensorFlow's decoder -- the one Transform uses -- reads them in
every mode with ``channels`` 1 and 3, and those images are decoded here with that
same decoder. Everything else (BMP, GIF's first frame, CMYK JPEG) is re-encoded
losslessly as PNG: ``tf.io.decode_image`` refuses BMP with ``channels=1``, GIF
with ``channels=1``, 1-bit BMP at all, and CMYK JPEG with ``channels=1``.

EXIF orientation: a phone stores a portrait photo as landscape pixels plus an
EXIF tag saying how to turn them; TensorFlow's decoder ignores the tag. So an
image with an orientation other than upright is turned here (as every viewer
does) and stored as a PNG of the upright pixels; its size is the upright size,
so the pair's size check and the aligned halves see what a person sees.
"""
from __future__ import annotations

import dataclasses
import io
import struct
from typing import Optional

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from components.example_gen import quarantine

SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF")          # PIL's names
# File extensions of those formats (data.image_extensions picks among them; GIF: the first frame).
SUPPORTED_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
JPEG_MODES_KEPT_AS_IS = ("L", "RGB")                        # others (CMYK, YCCK) become PNG
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Magic bytes of the supported formats: a file that starts like one but does not open is corrupt, not "no image".
FORMAT_SIGNATURES = (PNG_SIGNATURE, b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")
PNG_BIT_DEPTH_OFFSET = 24        # signature (8) + IHDR length (4) + type (4) + width (4) + height (4)
PNG_COMPRESSION = 1              # zlib level of re-encoded PNGs: lossless at any level; 1 is the fastest
EXIF_ORIENTATION_TAG = 0x0112
UPRIGHT = 1                      # EXIF orientation 1: the pixels are stored as shown
# EXIF orientation -> the stored pixels [H, W, C] turned upright (what PIL's ImageOps.exif_transpose does).
_TO_UPRIGHT = {
    2: lambda p: p[:, ::-1],                          # mirrored left-right
    3: lambda p: p[::-1, ::-1],                       # upside down
    4: lambda p: p[::-1],                             # mirrored top-bottom
    5: lambda p: p.transpose(1, 0, 2),                # mirrored along the main diagonal
    6: lambda p: np.rot90(p, -1),                     # stored turned 90 degrees left: turn right
    7: lambda p: p.transpose(1, 0, 2)[::-1, ::-1],    # mirrored along the other diagonal
    8: lambda p: np.rot90(p, 1),                      # stored turned 90 degrees right: turn left
}
_PIL_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError,
               Image.DecompressionBombError)


class ImageRejected(Exception):
    """The image cannot be used; ``reason`` is one of the quarantine reasons."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True)
class ImageLimits:
    """From the config: data.min_image_side and data.max_image_pixels."""

    min_side: int
    max_pixels: int


@dataclasses.dataclass(frozen=True)
class Header:
    format: str
    mode: str
    width: int                   # as stored
    height: int
    orientation: int = UPRIGHT   # EXIF orientation, 1-8

    @property
    def upright_size(self) -> tuple:
        """(width, height) once turned upright: orientations 5-8 swap the sides."""
        return (self.height, self.width) if self.orientation >= 5 else (self.width, self.height)


@dataclasses.dataclass(frozen=True)
class CheckedImage:
    """A decodable image: the bytes the Example stores and its decoded pixels [H, W, C]."""

    encoded: bytes
    pixels: np.ndarray
    reencoded: bool

    @property
    def size(self) -> tuple:
        return self.pixels.shape[1], self.pixels.shape[0]


def read_header(data: bytes) -> Header:
    """Format, mode and size from the header alone; nothing is decoded."""
    if not data:
        raise ImageRejected(quarantine.EMPTY_FILE, "zero bytes")
    try:
        with Image.open(io.BytesIO(data)) as image:
            header = Header(image.format or "", image.mode, image.width, image.height, _exif_orientation(image))
    except Image.DecompressionBombError as error:  # PIL's own guard, at 2x Image.MAX_IMAGE_PIXELS
        raise ImageRejected(quarantine.TOO_MANY_PIXELS, f"not decoded: {error}") from None
    except UnidentifiedImageError:
        if data.startswith(FORMAT_SIGNATURES):
            raise ImageRejected(quarantine.CORRUPT_IMAGE,
                                f"starts like an image ({data[:8]!r}) but its header does not parse") from None
        raise ImageRejected(quarantine.NOT_AN_IMAGE,
                            f"no known image format (starts with {data[:8]!r})") from None
    except _PIL_ERRORS as error:
        raise ImageRejected(quarantine.CORRUPT_IMAGE, f"unreadable header: {error}") from None
    if header.format not in SUPPORTED_FORMATS:
        raise ImageRejected(quarantine.UNSUPPORTED_FORMAT,
                            f"{header.format or 'unknown'} image; supported: {list(SUPPORTED_FORMATS)}")
    return header


def check_limits(header: Header, limits: ImageLimits, min_side_of: Optional[tuple] = None) -> None:
    """Pixel limit on the whole image, minimum side on ``min_side_of`` (default: the image)."""
    pixels = header.width * header.height
    if pixels > limits.max_pixels:
        raise ImageRejected(quarantine.TOO_MANY_PIXELS,
                            f"{header.width}x{header.height} = {pixels:,} px > data.max_image_pixels "
                            f"= {limits.max_pixels:,}; not decoded")
    width, height = min_side_of or (header.width, header.height)
    if min(width, height) < limits.min_side:
        raise ImageRejected(quarantine.TOO_SMALL,
                            f"{width}x{height} px; data.min_image_side = {limits.min_side}")


def decode_pixels(data: bytes, header: Header) -> np.ndarray:
    """All pixels, [H, W, C] at the file's depth (uint16 for 16-bit PNG), first frame only."""
    try:
        if header.format == "PNG":
            pixels = tf.io.decode_png(data, channels=0, dtype=_png_dtype(data)).numpy()
        elif header.format == "JPEG" and header.mode in JPEG_MODES_KEPT_AS_IS:
            pixels = tf.io.decode_jpeg(data, channels=0).numpy()
        else:
            pixels = _decode_with_pil(data)
    except tf.errors.OpError as error:
        raise ImageRejected(quarantine.CORRUPT_IMAGE, _tf_error_text(error)) from None
    except _PIL_ERRORS as error:
        raise ImageRejected(quarantine.CORRUPT_IMAGE, str(error) or type(error).__name__) from None
    if pixels.shape[:2] != (header.height, header.width):
        raise ImageRejected(quarantine.CORRUPT_IMAGE,
                            f"decodes to {pixels.shape[1]}x{pixels.shape[0]}, header says "
                            f"{header.width}x{header.height}")
    return pixels


def _exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation from what PIL read with the header (never a decode); 1 when absent or invalid.

    ``image.getexif()`` is not used: for a PNG without an early eXIf chunk it
    loads the pixels, before the size limits are checked.
    """
    raw = image.info.get("exif")
    if not raw:
        return UPRIGHT
    exif = Image.Exif()
    try:
        exif.load(raw)
        value = exif.get(EXIF_ORIENTATION_TAG, UPRIGHT)
    except _PIL_ERRORS + (KeyError, TypeError, struct.error):
        return UPRIGHT  # an unreadable EXIF block: shown as stored by viewers too
    return value if value in _TO_UPRIGHT else UPRIGHT


def upright(pixels: np.ndarray, header: Header) -> np.ndarray:
    """The decoded pixels turned as the header's EXIF orientation says."""
    if header.orientation == UPRIGHT:
        return pixels
    return np.ascontiguousarray(_TO_UPRIGHT[header.orientation](pixels))


def keeps_its_bytes(header: Header) -> bool:
    """Whether Transform's decoder reads the original bytes in every mode, upright (see module doc)."""
    if header.orientation != UPRIGHT:
        return False
    return header.format == "PNG" or (header.format == "JPEG" and header.mode in JPEG_MODES_KEPT_AS_IS)


def encode_png(pixels: np.ndarray) -> bytes:
    """Lossless; keeps 16-bit depth (PIL cannot write 16-bit RGB PNG, TensorFlow can)."""
    return tf.io.encode_png(pixels, compression=PNG_COMPRESSION).numpy()


def check_image(data: bytes, limits: ImageLimits) -> CheckedImage:
    """Header limits, full decode, and the bytes to store (see module doc)."""
    header = read_header(data)
    check_limits(header, limits)
    pixels = upright(decode_pixels(data, header), header)
    if keeps_its_bytes(header):
        return CheckedImage(encoded=data, pixels=pixels, reencoded=False)
    return CheckedImage(encoded=encode_png(pixels), pixels=pixels, reencoded=True)


def _png_dtype(data: bytes) -> tf.DType:
    is_16_bit = data.startswith(PNG_SIGNATURE) and len(data) > PNG_BIT_DEPTH_OFFSET \
        and data[PNG_BIT_DEPTH_OFFSET] == 16
    return tf.uint16 if is_16_bit else tf.uint8


def _decode_with_pil(data: bytes) -> np.ndarray:
    """BMP, GIF (first frame) and CMYK JPEG, to the nearest of L, LA, RGB, RGBA (or 16-bit gray)."""
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        image.load()
        mode = image.mode
        if mode.startswith("I;16"):
            pixels = np.asarray(image).astype(np.uint16)
        elif mode in ("I", "F"):
            pixels = np.clip(np.asarray(image), 0, 65535).astype(np.uint16)
        else:
            pixels = np.asarray(image.convert(_pil_target_mode(image)))
    return pixels[..., np.newaxis] if pixels.ndim == 2 else pixels


def _pil_target_mode(image: Image.Image) -> str:
    if image.mode in ("1", "L"):
        return "L"
    if image.mode in ("LA", "La"):
        return "LA"
    if image.mode in ("P", "PA"):
        return "RGBA" if image.mode == "PA" or "transparency" in image.info else "RGB"
    if image.mode in ("RGBA", "RGBa"):
        return "RGBA"
    return "RGB"  # RGB, CMYK, YCbCr, LAB, HSV


def _tf_error_text(error: tf.errors.OpError) -> str:
    """'Invalid PNG data, size 5714' out of TensorFlow's function-node decorated message."""
    text = error.message.splitlines()[0] if error.message else type(error).__name__
    text = text.split("}} ", 1)[-1]
    return text.split(" [Op:", 1)[0].strip()
