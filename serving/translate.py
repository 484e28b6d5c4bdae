"""Local inference with a pushed generator, no server: images in, generated PNGs out.

``python -m serving.translate INPUT... --output DIR [--model-dir serving_model/pix2pix] [--version N]``

INPUT may be files or folders. It runs the model's ``serving_default``
signature, the same one TF Serving exposes, so what you see here is what
clients of the server get.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Iterable, List, Sequence

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components import features  # noqa: E402

DEFAULT_MODEL_BASE = os.path.join("serving_model", "pix2pix")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")


def version_dir(model_base: str, version: int | None = None) -> str:
    """``<model_base>/<version>``: the given one, or the newest (TF Serving's default policy)."""
    if not os.path.isdir(model_base):
        raise FileNotFoundError(f"no pushed model under {model_base}: run `make run` first")
    versions = sorted(int(name) for name in os.listdir(model_base) if name.isdigit())
    if version is not None:
        if version not in versions:
            raise FileNotFoundError(f"version {version} not in {model_base}; available: {versions}")
        return os.path.join(model_base, str(version))
    if not versions:
        raise FileNotFoundError(f"no numbered version folder in {model_base}")
    return os.path.join(model_base, str(versions[-1]))


def collect_images(paths: Sequence[str]) -> List[str]:
    found: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(os.path.join(path, n) for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise FileNotFoundError(f"input not found: {path}")
    return found


def translate(model_dir: str, encoded_images: Iterable[bytes]) -> List[bytes]:
    """Encoded images (any supported format and size) -> generated PNG bytes."""
    import tensorflow as tf

    signature = tf.saved_model.load(model_dir).signatures[features.SERVING_DEFAULT]
    outputs = []
    for encoded in encoded_images:  # one at a time: sizes and formats may differ
        result = signature(**{features.SERVING_INPUT_BYTES: tf.constant([encoded])})
        outputs.append(result[features.SERVING_OUTPUT_BYTES].numpy()[0])
    return outputs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.translate", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="image files or folders")
    parser.add_argument("--output", required=True, help="folder for the generated PNGs")
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_BASE, help="pushed model base (default: %(default)s)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    args = parser.parse_args(argv)
    try:
        model_dir = version_dir(args.model_dir, args.version)
        paths = collect_images(args.inputs)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    os.makedirs(args.output, exist_ok=True)
    blobs = []
    for path in paths:
        with open(path, "rb") as handle:
            blobs.append(handle.read())
    for path, png in zip(paths, translate(model_dir, blobs)):
        target = os.path.join(args.output, os.path.splitext(os.path.basename(path))[0] + ".png")
        with open(target, "wb") as handle:
            handle.write(png)
    print(f"translated {len(paths)} image(s) with {model_dir} into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
