"""Converts a paired-image dataset between the two_folder and aligned layouts, both ways.

    python -m data.convert_layout --from aligned --to two_folder SRC DST [--direction AtoB]
    python -m data.convert_layout --from two_folder --to aligned SRC DST [--direction AtoB]

Why: the classic pix2pix datasets ship aligned (A|B in one file), many users
have two folders, and the pipeline reads both -- but a dataset is easier to
inspect, clean or extend in one layout. Every sub-folder of SRC is mirrored in
DST, so ``train/ val/ test/`` stay splits. Output files are PNG (lossless,
16-bit kept): aligned -> two_folder -> aligned with the same ``--direction``
gives back the same pixels. Halves are cut and joined by the same code the
ExampleGen uses (``components/example_gen/aligned.py``).

Files that cannot be converted (odd width, unpaired, sizes that differ, not
decodable, duplicate stems) are listed and skipped; the exit status is 1 when
any was skipped, 2 when nothing could be done.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Optional, Tuple

import numpy as np

from components.example_gen import aligned, image_checks, layout, pairing

DEFAULT_INPUT_SUBDIR = "input"
DEFAULT_TARGET_SUBDIR = "target"
OUTPUT_EXTENSION = ".png"
# No minimum size; PIL's own decompression-bomb guard still applies when decoding.
CONVERTER_LIMITS = image_checks.ImageLimits(min_side=1, max_pixels=2 ** 40)


class Conversion:
    """What was written and what was skipped, for the closing summary."""

    def __init__(self) -> None:
        self.written: Dict[str, int] = {}
        self.skipped: List[Tuple[str, str]] = []

    def wrote(self, relative_dir: str) -> None:
        self.written[relative_dir or "."] = self.written.get(relative_dir or ".", 0) + 1

    def skip(self, path: str, why: str) -> None:
        self.skipped.append((path, why))
        print(f"skipped {path}: {why}", file=sys.stderr)


def _is_image(name: str) -> bool:
    return layout.extension_of(name) in image_checks.SUPPORTED_EXTENSIONS


def _decode(path: str) -> np.ndarray:
    with open(path, "rb") as handle:
        data = handle.read()
    header = image_checks.read_header(data)
    image_checks.check_limits(header, CONVERTER_LIMITS)
    return image_checks.decode_pixels(data, header)


def _write_png(path: str, pixels: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(image_checks.encode_png(pixels))


def _stems_once(directory: str, names: List[str], conversion: Conversion) -> Dict[str, str]:
    """stem -> file name, leaving out (and reporting) stems shared by several files."""
    by_stem: Dict[str, List[str]] = {}
    for name in sorted(names):
        by_stem.setdefault(layout.stem_of(name), []).append(name)
    unique = {}
    for stem, files in by_stem.items():
        if len(files) > 1:
            for name in files:
                conversion.skip(os.path.join(directory, name), f"stem {stem!r} is shared by {files}")
        else:
            unique[stem] = files[0]
    return unique


def aligned_to_two_folder(src: str, dst: str, direction: str, input_subdir: str, target_subdir: str,
                          conversion: Conversion) -> None:
    for directory, _, names in sorted(os.walk(src)):
        relative = os.path.relpath(directory, src)
        relative = "" if relative == "." else relative
        for stem, name in _stems_once(directory, [n for n in names if _is_image(n)], conversion).items():
            path = os.path.join(directory, name)
            try:
                input_pixels, target_pixels = aligned.split_halves(_decode(path), direction)
            except (image_checks.ImageRejected, ValueError) as error:
                conversion.skip(path, str(error))
                continue
            _write_png(os.path.join(dst, relative, input_subdir, stem + OUTPUT_EXTENSION), input_pixels)
            _write_png(os.path.join(dst, relative, target_subdir, stem + OUTPUT_EXTENSION), target_pixels)
            conversion.wrote(relative)


def common_format(first: np.ndarray, second: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Same depth and channels for both (gray -> RGB, + opaque alpha, 8 -> 16 bit), so they can be joined."""
    depth = np.uint16 if np.uint16 in (first.dtype, second.dtype) else np.uint8
    has_alpha = any(p.shape[-1] in (2, 4) for p in (first, second))
    has_color = any(p.shape[-1] in (3, 4) for p in (first, second))

    def convert(pixels: np.ndarray) -> np.ndarray:
        if pixels.dtype != depth:
            pixels = pixels.astype(np.uint16) * 257  # 0..255 -> 0..65535 exactly
        color = pixels[..., :-1] if pixels.shape[-1] in (2, 4) else pixels
        alpha = pixels[..., -1:] if pixels.shape[-1] in (2, 4) else np.full_like(pixels[..., :1], np.iinfo(depth).max)
        if has_color and color.shape[-1] == 1:
            color = np.repeat(color, 3, axis=-1)
        return np.concatenate([color, alpha], axis=-1) if has_alpha else color

    return convert(first), convert(second)


def two_folder_to_aligned(src: str, dst: str, direction: str, input_subdir: str, target_subdir: str,
                          conversion: Conversion) -> None:
    for directory, subdirs, _ in sorted(os.walk(src)):
        if input_subdir not in subdirs or target_subdir not in subdirs:
            continue
        relative = os.path.relpath(directory, src)
        relative = "" if relative == "." else relative
        paths_by_stem: Dict[str, Dict[str, List[str]]] = {}
        for role, subdir in ((layout.INPUT_ROLE, input_subdir), (layout.TARGET_ROLE, target_subdir)):
            folder = os.path.join(directory, subdir)
            for name in sorted(os.listdir(folder)):
                if _is_image(name) and os.path.isfile(os.path.join(folder, name)):
                    paths_by_stem.setdefault(layout.stem_of(name), {}).setdefault(role, []).append(
                        os.path.join(folder, name))
        for stem, paths_by_role in sorted(paths_by_stem.items()):
            pair, rejections = pairing.match_pair(stem, paths_by_role)
            for rejection in rejections:
                conversion.skip(rejection.path, f"{rejection.reason}: {rejection.detail}")
            if pair is None:
                continue
            try:
                input_pixels, target_pixels = common_format(_decode(pair[0]), _decode(pair[1]))
                joined = aligned.join_halves(input_pixels, target_pixels, direction)
            except (image_checks.ImageRejected, ValueError) as error:
                conversion.skip(f"{pair[0]} + {pair[1]}", str(error))
                continue
            _write_png(os.path.join(dst, relative, stem + OUTPUT_EXTENSION), joined)
            conversion.wrote(relative)


def convert(source_layout: str, target_layout: str, src: str, dst: str, direction: str = aligned.A_TO_B,
            input_subdir: str = DEFAULT_INPUT_SUBDIR, target_subdir: str = DEFAULT_TARGET_SUBDIR) -> Conversion:
    """Converts SRC into DST (which must not exist or be empty)."""
    if {source_layout, target_layout} != {layout.TWO_FOLDER, layout.ALIGNED}:
        raise ValueError(f"--from {source_layout} --to {target_layout}: expected two_folder -> aligned "
                         "or aligned -> two_folder")
    if not os.path.isdir(src):
        raise ValueError(f"{src}: not a folder")
    real_src, real_dst = os.path.realpath(src), os.path.realpath(dst)
    if os.path.commonpath([real_src, real_dst]) == real_src:
        raise ValueError(f"{dst}: inside {src} (or the same folder): the conversion would read its own output; "
                         "choose an output folder outside the source")
    if os.path.exists(dst) and (not os.path.isdir(dst) or os.listdir(dst)):
        raise ValueError(f"{dst}: exists and is not an empty folder; choose a new output folder")
    conversion = Conversion()
    step = aligned_to_two_folder if source_layout == layout.ALIGNED else two_folder_to_aligned
    step(src, dst, direction, input_subdir, target_subdir, conversion)
    return conversion


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.convert_layout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source_layout", required=True, choices=[layout.TWO_FOLDER, layout.ALIGNED])
    parser.add_argument("--to", dest="target_layout", required=True, choices=[layout.TWO_FOLDER, layout.ALIGNED])
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--direction", default=aligned.A_TO_B, choices=list(aligned.DIRECTIONS),
                        help="AtoB: the left half is the input (default); BtoA: the right half is")
    parser.add_argument("--input-subdir", default=DEFAULT_INPUT_SUBDIR)
    parser.add_argument("--target-subdir", default=DEFAULT_TARGET_SUBDIR)
    args = parser.parse_args(argv)
    try:
        conversion = convert(args.source_layout, args.target_layout, args.src, args.dst, args.direction,
                             args.input_subdir, args.target_subdir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    written = sum(conversion.written.values())
    folders = ", ".join(f"{folder}: {count}" for folder, count in sorted(conversion.written.items()))
    print(f"converted {written} pairs from {args.source_layout} to {args.target_layout} in {args.dst}"
          + (f" ({folders})" if folders else "") + (f"; skipped {len(conversion.skipped)} file(s), listed above"
                                                    if conversion.skipped else ""))
    if written == 0:
        return 2
    return 1 if conversion.skipped else 0


if __name__ == "__main__":
    sys.exit(main())
