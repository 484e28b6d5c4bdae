"""An edges-to-photo dataset from the real photographs installed with the venv, in the two_folder layout.

    python -m benchmarks.real_photo_pairs --pairs 120 --output DIR [--seed 0] [--split hash|regions]

Why: the embedded dataset is synthetic (procedural facades); this checks what the default settings
give a user with ~100 real photo pairs, without a download. The photos are the ones that ship with
the installed packages: scikit-learn's sample images (china.jpg, flower.jpg, 640x427) and
matplotlib's grace_hopper.jpg (512x600), whichever are installed. Each pair is a random square
crop (96 to 160 px, random position, random horizontal flip) of one of them:

- ``target/NNNN.jpg``: the photo crop (JPEG, quality 95);
- ``input/NNNN.png``: its edges as black lines on white (a small Canny: Gaussian blur, Sobel
  gradient, non-maximum suppression, hysteresis thresholds relative to the crop's own gradient,
  lines dilated to about 3 px so they survive Transform's downscaling to 64 px), as in
  edges2shoes / edges2handbags.

``--split hash`` (default) writes one flat dataset: the project's default hash split (8:1:1 on the
pair id) makes train/eval/test. Caveat: crops of the same three photos land in every split and may
overlap in pixels, so the test split measures interpolation within those photos, not
generalisation to new ones.

``--split regions`` writes ``train/``, ``val/`` and ``test/`` folders instead (split_mode auto picks
them up): in each photo the right-hand strip (160 px wide) is held out, its top half for val, its
bottom half for test, and train crops lie entirely left of it, so no pixel is in two splits (the
photos themselves still are). Pairs are divided 8:1:1.

Deterministic for a given ``--seed`` and set of installed photos.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage

MIN_CROP = 96
MAX_CROP = 160
HOLDOUT_WIDTH = 160          # --split regions: the right-hand strip of each photo
JPEG_QUALITY = 95


def photo_paths() -> List[str]:
    """The real photographs installed with the venv's packages (sorted, so the dataset is reproducible)."""
    found = []
    try:
        import sklearn.datasets
        images = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
        found += [os.path.join(images, name) for name in ("china.jpg", "flower.jpg")]
    except ImportError:
        pass
    try:
        import matplotlib
        found.append(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "sample_data",
                                  "grace_hopper.jpg"))
    except ImportError:
        pass
    return sorted(p for p in found if os.path.isfile(p))


def edge_map(rgb: np.ndarray, sigma: float = 1.2, low: float = 0.5, high: float = 0.85,
             min_low: float = 40.0, min_high: float = 100.0, thickness: int = 3) -> np.ndarray:
    """Canny-like edges of an RGB uint8 crop, rendered as black lines (0) on white (255), uint8 HxWx3.

    The hysteresis thresholds are the ``low`` and ``high`` quantiles of the crop's suppressed gradient
    magnitudes (a comparable amount of line in every textured crop), but at least ``min_low`` and
    ``min_high`` (Sobel of the blurred 0-255 gray image), so smooth sky or JPEG noise draws no lines.
    """
    gray = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    smooth = ndimage.gaussian_filter(gray, sigma)
    gy = ndimage.sobel(smooth, axis=0)
    gx = ndimage.sobel(smooth, axis=1)
    magnitude = np.hypot(gx, gy)
    # Non-maximum suppression along the gradient direction, quantised to 4 directions.
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    padded = np.pad(magnitude, 1, mode="edge")
    h, w = magnitude.shape

    def shifted(dy: int, dx: int) -> np.ndarray:
        return padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]

    keep = np.zeros_like(magnitude, dtype=bool)
    for lo, hi, (dy, dx) in ((0, 22.5, (0, 1)), (157.5, 180.1, (0, 1)), (22.5, 67.5, (1, 1)),
                             (67.5, 112.5, (1, 0)), (112.5, 157.5, (1, -1))):
        sector = (angle >= lo) & (angle < hi)
        local_max = (magnitude >= shifted(dy, dx)) & (magnitude >= shifted(-dy, -dx))
        keep |= sector & local_max
    thin = np.where(keep, magnitude, 0.0)
    values = thin[thin > 0]
    if values.size == 0:
        lines = np.zeros_like(thin, dtype=bool)
    else:
        low_t, high_t = np.quantile(values, [low, high])
        low_t, high_t = max(low_t, min_low), max(high_t, min_high)
        weak = thin >= low_t
        strong = thin >= high_t
        # Hysteresis: keep the weak segments connected to a strong pixel.
        labels, count = ndimage.label(weak, structure=np.ones((3, 3)))
        connected = np.zeros(count + 1, dtype=bool)
        connected[np.unique(labels[strong])] = True
        connected[0] = False
        lines = connected[labels]
    if thickness > 1:
        lines = ndimage.binary_dilation(lines, structure=np.ones((thickness, thickness), dtype=bool))
    out = np.where(lines, 0, 255).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=-1)


def random_crop(rng: np.random.Generator, photo: np.ndarray,
                box: Tuple[int, int, int, int]) -> np.ndarray:
    """A random square crop inside box (x0, y0, x1, y1), randomly mirrored."""
    x0, y0, x1, y1 = box
    largest = min(MAX_CROP, x1 - x0, y1 - y0)
    size = int(rng.integers(MIN_CROP, largest + 1))
    x = int(rng.integers(x0, x1 - size + 1))
    y = int(rng.integers(y0, y1 - size + 1))
    crop = photo[y:y + size, x:x + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def regions(photo: np.ndarray, split: str) -> dict:
    """{split folder: box} the crops of each split are drawn from."""
    h, w = photo.shape[:2]
    if split == "hash":
        return {"": (0, 0, w, h)}
    left = w - HOLDOUT_WIDTH
    return {"train": (0, 0, left, h), "val": (left, 0, w, h // 2), "test": (left, h // 2, w, h)}


def split_of(index: int, split: str) -> str:
    """--split regions: pairs go 8:1:1 to train/val/test in a fixed cycle of 10."""
    if split == "hash":
        return ""
    return {8: "val", 9: "test"}.get(index % 10, "train")


def write_pair(folder: str, stem: str, crop: np.ndarray) -> None:
    for role in ("input", "target"):
        os.makedirs(os.path.join(folder, role), exist_ok=True)
    Image.fromarray(crop).save(os.path.join(folder, "target", f"{stem}.jpg"), quality=JPEG_QUALITY)
    Image.fromarray(edge_map(crop)).save(os.path.join(folder, "input", f"{stem}.png"))


def build(output: str, pairs: int, seed: int, split: str, paths: Sequence[str]) -> dict:
    """Writes the dataset into output (which must not exist yet); returns {split: pairs}."""
    if not paths:
        raise SystemExit("no photographs found (scikit-learn's or matplotlib's sample images)")
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    rng = np.random.default_rng(seed)
    parent = os.path.dirname(os.path.abspath(output)) or "."
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".real_photo_pairs.", dir=parent)
    counts: dict = {}
    try:
        for index in range(pairs):
            photo = photos[index % len(photos)]          # the photos take turns: balanced sources
            folder = split_of(index, split)
            crop = random_crop(rng, photo, regions(photo, split)[folder])
            write_pair(os.path.join(staging, folder), f"{index:04d}", crop)
            counts[folder or "all"] = counts.get(folder or "all", 0) + 1
        os.rename(staging, output)                       # never a half-written dataset at output
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return counts


def main(argv: Sequence[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=120)
    parser.add_argument("--output", required=True, help="dataset folder to create (must not exist)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("hash", "regions"), default="hash",
                        help="hash: one flat folder, the pipeline's hash split; regions: train/val/test "
                             "folders from disjoint regions of each photo")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error(f"--pairs {args.pairs}: expected at least 1")
    if os.path.lexists(args.output):
        parser.error(f"{args.output} exists: choose a new folder")
    paths = photo_paths()
    counts = build(args.output, args.pairs, args.seed, args.split, paths)
    print(f"wrote {args.pairs} edges-to-photo pairs to {args.output} ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
          f"from {len(paths)} photos: {', '.join(os.path.basename(p) for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
