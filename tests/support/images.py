"""Tiny encoded test images, made in memory (tests never download anything)."""
import io

import numpy as np
from PIL import Image


def random_pixels(height: int, width: int, channels: int = 3, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    high = 65536 if dtype == np.uint16 else 256
    shape = (height, width) if channels == 1 else (height, width, channels)
    return rng.integers(0, high, size=shape, dtype=np.int64).astype(dtype)


def encode(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def png(height: int = 8, width: int = 8, seed: int = 0) -> bytes:
    return encode(random_pixels(height, width, seed=seed))


def model_scale_shape(height: int, width: int, model_size: int) -> tuple:
    """(h, w) of a resize-mode answer: the long side at the model size, the aspect kept (never squashed)."""
    longest = max(height, width)
    return max(1, round(model_size * height / longest)), max(1, round(model_size * width / longest))


def write_two_folder_dataset(root, stems, size: int = 8, fmt: str = "PNG", ext: str = ".png"):
    """``root/input/<stem><ext>`` and ``root/target/<stem><ext>`` for each stem."""
    for role in ("input", "target"):
        (root / role).mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems):
        (root / "input" / f"{stem}{ext}").write_bytes(encode(random_pixels(size, size, seed=2 * i), fmt))
        (root / "target" / f"{stem}{ext}").write_bytes(encode(random_pixels(size, size, seed=2 * i + 1), fmt))
    return root


def smooth_pixels(height: int, width: int, channels: int = 3, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """Gradients plus a little noise: compresses like a photo (random noise JPEGs are huge and slow)."""
    rng = np.random.default_rng(seed)
    high = 65535 if dtype == np.uint16 else 255
    y, x = np.mgrid[0:height, 0:width]
    planes = [(np.sin((x * (c + 1) + y * (seed % 7 + 1)) / (9.0 + c)) + 1) / 2 for c in range(channels)]
    image = np.stack(planes, axis=-1) * 0.9 + rng.random((height, width, channels)) * 0.1
    image = (image * high).astype(dtype)
    return image[..., 0] if channels == 1 else image


def encode_png16(pixels: np.ndarray) -> bytes:
    """A 16-bit PNG of any channel count (PIL writes 16-bit grayscale only)."""
    import tensorflow as tf  # only the tests that need 16-bit colour pay for the import

    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    return tf.io.encode_png(pixels.astype(np.uint16)).numpy()


def png_claiming_size(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` with almost no pixel data: a decompression bomb's header."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
            + chunk(b"IEND", b""))


def write(path, data: bytes):
    """Writes bytes, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
