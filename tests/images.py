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


def write_two_folder_dataset(root, stems, size: int = 8, fmt: str = "PNG", ext: str = ".png"):
    """``root/input/<stem><ext>`` and ``root/target/<stem><ext>`` for each stem."""
    for role in ("input", "target"):
        (root / role).mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems):
        (root / "input" / f"{stem}{ext}").write_bytes(encode(random_pixels(size, size, seed=2 * i), fmt))
        (root / "target" / f"{stem}{ext}").write_bytes(encode(random_pixels(size, size, seed=2 * i + 1), fmt))
    return root
