"""Local inference with a pushed generator, no server: images in, generated PNGs out.

``python -m serving.translate INPUT... --output DIR [--model-dir serving_model/pix2pix] [--version N]
[--batch-size 8] [--figure grid.png [--targets DIR] [--figure-rows 4]] [--overwrite-inputs]``

INPUT may be files, folders or globs (quote them: ``'photos/*.jpg'``), of any
supported format and size. It runs the model's ``serving_default`` signature,
the same one TF Serving exposes, so what you see here is what clients of the
server get. Outputs are ``DIR/<input stem>.png``. A file that is not an image,
or that the model refuses (e.g. above its pixel limit), is reported and
skipped; the others are still translated (exit status 1 if any was skipped).
An ``--output`` folder that is, holds or lies in a folder of inputs (or the
folder of an input file) is refused before anything is written, unless
``--overwrite-inputs`` says so.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from serving import image_files  # noqa: E402
from serving.local_model import DEFAULT_MODEL_BASE, LocalGenerator, version_dir  # noqa: E402,F401
from serving.progress import progress_bar  # noqa: E402

DEFAULT_BATCH_SIZE = 8
DEFAULT_FIGURE_ROWS = 4
EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE = 0, 1, 2
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"   # a --figure file may only replace an earlier figure


def translate(model_dir: str, encoded_images: Sequence[bytes]) -> List[bytes]:
    """Encoded images (any supported format and size) -> generated PNG bytes."""
    return LocalGenerator(model_dir).translate(encoded_images)


def _pixels(data: bytes):
    """Encoded image -> uint8 HxWx3 for the figure."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _find_target(targets_dir: str, source: str) -> Optional[str]:
    stem = os.path.splitext(os.path.basename(source))[0]
    for extension in image_files.IMAGE_EXTENSIONS:
        for candidate in (stem + extension, stem + extension.upper()):
            if os.path.isfile(os.path.join(targets_dir, candidate)):
                return os.path.join(targets_dir, candidate)
    return None


def save_figure(path: str, results: Sequence[Tuple[str, bytes, bytes]], rows: int,
                targets_dir: Optional[str] = None) -> Tuple[str, int]:
    """input | generated (| target) for the first ``rows`` results; with targets, only those that have one."""
    from components import visuals

    grid = []
    for source, encoded, png in results:
        images = [_pixels(encoded), _pixels(png)]
        if targets_dir is not None:
            target = _find_target(targets_dir, source)
            if target is None:
                continue
            images.append(_pixels(image_files.read_image(target)))
        grid.append((os.path.splitext(os.path.basename(source))[0], images))  # stems fit the label column
        if len(grid) == rows:
            break
    if not grid:
        raise FileNotFoundError(f"no target in {targets_dir} has the stem of a translated input")
    columns = ("input", "generated") + (("target",) if targets_dir is not None else ())
    return visuals.save_image_grid(path, grid, columns), len(grid)


def check_figure_path(path: str) -> None:
    """Refuses a ``--figure`` destination that exists and is not a PNG (a figure of an earlier run)."""
    if not os.path.lexists(path):
        return
    if os.path.isdir(path) or os.path.islink(path):
        raise ValueError(f"--figure {path}: is a {'folder' if os.path.isdir(path) else 'symlink'}; "
                         "expected a .png file name")
    with open(path, "rb") as handle:
        if handle.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
            raise ValueError(f"--figure {path}: exists and is not a PNG; it is not overwritten. "
                             "Choose another file name")


def run(inputs: Sequence[str], output_dir: str, model_dir: str, batch_size: int = DEFAULT_BATCH_SIZE,
        progress: bool = True, overwrite_inputs: bool = False,
        extra_outputs: Sequence[Tuple[str, str]] = ()) -> Tuple[List[Tuple[str, bytes, bytes]], Dict[str, str]]:
    """Translates every input into ``output_dir``; returns (source, input, png) per success and failures.

    Refuses (``OutputOverlapsInputError``) an ``output_dir`` or ``extra_outputs`` file that would
    overwrite or mix with the inputs, unless ``overwrite_inputs``; nothing is written then.
    """
    paths = image_files.collect_images(inputs)
    if not overwrite_inputs:
        image_files.check_output_apart(output_dir, image_files.input_folders(inputs), paths, extra_outputs)
    names = dict(zip(paths, image_files.output_names(paths)))
    generator = LocalGenerator(model_dir)
    os.makedirs(output_dir, exist_ok=True)
    done: List[Tuple[str, bytes, bytes]] = []
    failed: Dict[str, str] = {}
    with progress_bar(len(paths), "translate", progress) as bar:
        for start in range(0, len(paths), batch_size):
            batch, unreadable = image_files.read_images(paths[start:start + batch_size])
            failed.update(unreadable)
            for (path, encoded), outcome in zip(batch, generator.translate_each([data for _, data in batch])):
                if outcome.ok:
                    with open(os.path.join(output_dir, names[path]), "wb") as handle:
                        handle.write(outcome.png)
                    done.append((path, encoded, outcome.png))
                else:
                    failed[path] = f"{path}: refused by the model: {outcome.error}"
            bar.update(len(paths[start:start + batch_size]))
    return done, failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.translate", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="image files, folders or globs")
    parser.add_argument("--output", required=True, help="folder for the generated PNGs")
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_BASE,
                        help="pushed model base, or one version's folder (default: %(default)s)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="images per model call (default: %(default)s)")
    parser.add_argument("--figure", default=None, help="also save an input | generated (| target) grid here")
    parser.add_argument("--targets", default=None, help="folder of target images, matched by stem, for --figure")
    parser.add_argument("--figure-rows", type=int, default=DEFAULT_FIGURE_ROWS,
                        help="images in the figure (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(image_files.OVERWRITE_INPUTS_FLAG, action="store_true",
                        help="allow --output (or --figure) to be where the inputs are; their files may be replaced")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.figure_rows < 1:
        parser.error("--batch-size and --figure-rows must be >= 1")
    if args.targets is not None and args.figure is None:
        parser.error("--targets is used by --figure; give --figure PATH too")
    if args.targets is not None and not os.path.isdir(args.targets):
        parser.error(f"--targets {args.targets}: not a folder")
    try:
        if args.figure:
            check_figure_path(args.figure)
        model_dir = version_dir(args.model_dir, args.version)
        done, failed = run(args.inputs, args.output, model_dir, args.batch_size, progress=not args.no_progress,
                           overwrite_inputs=args.overwrite_inputs,
                           extra_outputs=[("--figure", args.figure)] if args.figure else [])
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    for reason in failed.values():
        print(f"skipped {reason}", file=sys.stderr)
    print(f"translated {len(done)} image(s) with {model_dir} into {args.output}"
          + (f"; {len(failed)} skipped" if failed else ""))
    if args.figure and done:
        try:
            path, rows = save_figure(args.figure, done, args.figure_rows, args.targets)
            print(f"figure ({rows} rows): {path}")
        except FileNotFoundError as error:
            print(f"error: --figure: {error}", file=sys.stderr)
            return EXIT_SOME_FAILED
    return EXIT_SOME_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
