"""Finding the images a user points at, and refusing files that are not images before sending them.

Shared by the REST/gRPC client, the local translator and the batch job so that
"which files" and "is this an image" mean the same everywhere. Only the header
is read (Pillow opens lazily): checking a 100 MB file costs a few bytes.
"""
from __future__ import annotations

import collections
import dataclasses
import glob
import io
import os
import warnings
from typing import Dict, List, Sequence, Tuple

from PIL import Image, UnidentifiedImageError

from pipeline.output_paths import INSIDE, SAME, describe_pair, relation

# What the clients read, by extension and by Pillow's format name.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SUPPORTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF")
# Sent as they are. The served model refuses GIF (its decoder sizes by frames, not by the header)
# and top-down BMP (TF's decoder crashes on them): those are sent as lossless PNG of the first frame.
SENT_AS_IS = ("PNG", "JPEG")
TRANSCODED_FORMAT = "PNG"
GLOB_CHARACTERS = "*?["
OUTPUT_EXTENSION = ".png"


OVERWRITE_INPUTS_FLAG = "--overwrite-inputs"


class NotAnImageError(ValueError):
    """A file that the model could not decode: refused before it is sent anywhere."""


class OutputOverlapsInputError(ValueError):
    """An output folder (or file) that would overwrite the inputs or mix with them."""


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def is_glob(pattern: str) -> bool:
    return any(character in pattern for character in GLOB_CHARACTERS)


def has_image_extension(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def collect_images(inputs: Sequence[str]) -> List[str]:
    """Files, folders (their images, not recursive) and globs -> image paths, in order, once each.

    A file named explicitly is kept whatever its extension (it is checked when
    read); folders and globs contribute only files with an image extension.
    """
    found: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found += sorted(os.path.join(item, name) for name in os.listdir(item)
                            if has_image_extension(name) and os.path.isfile(os.path.join(item, name)))
        elif os.path.isfile(item):
            found.append(item)
        elif is_glob(item):
            matches = sorted(path for path in glob.glob(item) if os.path.isfile(path) and has_image_extension(path))
            if not matches:
                raise FileNotFoundError(f"no image ({', '.join(IMAGE_EXTENSIONS)}) matches {item!r}")
            found += matches
        else:
            raise FileNotFoundError(f"input not found: {item} (expected an image file, a folder or a glob)")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise FileNotFoundError(f"no image ({', '.join(IMAGE_EXTENSIONS)}) in {', '.join(inputs)}")
    return unique


def sniff_image(data: bytes, source: str) -> ImageInfo:
    """Format and size from the header; NotAnImageError naming ``source`` otherwise."""
    if not data:
        raise NotAnImageError(f"{source}: empty file, expected a {'/'.join(SUPPORTED_FORMATS)} image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                info = ImageInfo(image.format or "unknown", *image.size)
    except Image.DecompressionBombError as error:
        raise NotAnImageError(f"{source}: {error}") from None
    except Exception as error:  # Pillow raises UnidentifiedImageError, SyntaxError, OSError...
        detail = "" if isinstance(error, UnidentifiedImageError) else f"; {error}"
        raise NotAnImageError(f"{source}: not a {'/'.join(SUPPORTED_FORMATS)} image "
                              f"({len(data)} bytes starting with {data[:8]!r}{detail})") from None
    if info.format not in SUPPORTED_FORMATS:
        raise NotAnImageError(f"{source}: {info.format} images are not supported; "
                              f"expected one of {', '.join(SUPPORTED_FORMATS)}")
    return info


def servable(data: bytes, source: str) -> bytes:
    """The bytes to send for one image file: PNG and JPEG unchanged, GIF and BMP as lossless PNG.

    The served model accepts only formats whose decoded size its header gives
    exactly; transcoding here (Pillow, first frame) keeps GIF and every BMP
    variant usable, with the same pixels.
    """
    info = sniff_image(data, source)
    if info.format in SENT_AS_IS:
        return data
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)
            encoded = io.BytesIO()
            image.save(encoded, format=TRANSCODED_FORMAT)
    except Exception as error:  # a header that parses but pixels that do not
        raise NotAnImageError(f"{source}: a {info.format} image that cannot be decoded: {error}") from None
    return encoded.getvalue()


def read_image(path: str) -> bytes:
    """The bytes to send for a file, once checked to be a supported image (see ``servable``)."""
    with open(path, "rb") as handle:
        data = handle.read()
    return servable(data, path)


def read_images(paths: Sequence[str]) -> Tuple[List[Tuple[str, bytes]], Dict[str, str]]:
    """Reads and checks a batch of files: (path, bytes) per image, and why each other file failed."""
    images: List[Tuple[str, bytes]] = []
    failed: Dict[str, str] = {}
    for path in paths:
        try:
            images.append((path, read_image(path)))
        except (NotAnImageError, OSError) as error:
            failed[path] = str(error)
    return images, failed


def output_name(path: str) -> str:
    """``photos/0001.jpg`` -> ``0001.png``: outputs are named by the source's stem."""
    return os.path.splitext(os.path.basename(path))[0] + OUTPUT_EXTENSION


def output_names(paths: Sequence[str]) -> List[str]:
    """Output file names, one per path, never two alike (one output must not overwrite another).

    ``0001.png`` -> ``0001.png``; when two sources share a stem (``a.png`` and
    ``a.jpg``) they keep their extension (``a.png.png``, ``a.jpg.png``); when
    even that clashes (``x/a.png`` and ``y/a.png``) they are numbered in input
    order (``a-1.png``, ``a-2.png``).
    """
    names = [output_name(path) for path in paths]
    renames = (lambda index, path: os.path.basename(path) + OUTPUT_EXTENSION,
               lambda index, path: f"{os.path.splitext(os.path.basename(path))[0]}-{index + 1}{OUTPUT_EXTENSION}")
    for rename in renames:
        counts = collections.Counter(names)
        names = [rename(index, path) if counts[name] > 1 else name
                 for index, (path, name) in enumerate(zip(paths, names))]
    return names


def pattern_folder(pattern: str) -> str:
    """The folder a glob or file pattern reads from: ``a/b/*.png`` -> ``a/b``, ``a/*/x.png`` -> ``a``."""
    parts = pattern.replace(os.sep, "/").split("/")
    for index, part in enumerate(parts):
        if is_glob(part):
            return "/".join(parts[:index]) or "."
    return os.path.dirname(pattern) or "."


def input_folders(inputs: Sequence[str]) -> List[str]:
    """Folders an output must stay apart from (not the same, not inside, not around): named folders and globs'."""
    return list(dict.fromkeys(item if os.path.isdir(item) else pattern_folder(item)
                              for item in inputs if os.path.isdir(item) or is_glob(item)))


def check_output_apart(output_dir: str, input_dirs: Sequence[str], input_files: Sequence[str] = (),
                       extra_outputs: Sequence[Tuple[str, str]] = (), output_flag: str = "--output") -> None:
    """Refuses outputs that would overwrite the inputs: unless ``--overwrite-inputs`` is given.

    ``output_dir`` may be neither the same as, nor inside, nor around a folder of
    inputs (the outputs would replace its images or mix with them, and the next
    run would read them as inputs); nor the folder of an input file named on
    its own (its output could be that very file). ``extra_outputs`` are other
    files written (``("--figure", path)``): none may be an input file or lie
    in an input folder. Local paths are compared as written and with symlinks
    followed; gs:// paths as URIs.
    """
    hint = f"choose another folder, or pass {OVERWRITE_INPUTS_FLAG} to write there anyway"
    for folder in input_dirs:
        what = relation(output_dir, folder)
        if what is not None:
            raise OutputOverlapsInputError(
                f"{describe_pair(output_flag, output_dir, what, 'the input folder', folder)}: "
                f"{'outputs would replace its images' if what == SAME else 'outputs and inputs would mix'}; {hint}")
    for path in input_files:
        folder = os.path.dirname(path) or "."
        if relation(output_dir, folder) == SAME:
            collides = os.path.join(output_dir, output_name(path))
            clash = (f" ({collides} would replace it)" if relation(collides, path) == SAME else "")
            raise OutputOverlapsInputError(f"{output_flag} {output_dir}: is the folder of the input {path}{clash}; "
                                           f"{hint}")
    for flag, extra in extra_outputs:
        for path in input_files:
            if relation(extra, path) == SAME:
                raise OutputOverlapsInputError(f"{flag} {extra}: is the input {path}; it would be overwritten; "
                                               f"choose another file, or pass {OVERWRITE_INPUTS_FLAG}")
        for folder in input_dirs:
            if relation(extra, folder) in (SAME, INSIDE):
                raise OutputOverlapsInputError(f"{flag} {extra}: is inside the input folder {folder}; choose "
                                               f"another file, or pass {OVERWRITE_INPUTS_FLAG}")
