"""The pushed generator loaded in this process: what TF Serving runs, without a server.

It calls the model's ``serving_default`` signature, the one TF Serving exposes,
so local results are byte-for-byte what clients of the server get. Used by
``serving.translate`` and by the Beam job's model handler.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Sequence

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from components import features  # noqa: E402
from serving.errors import tidy_tf_message  # noqa: E402

DEFAULT_MODEL_BASE = os.path.join("serving_model", "pix2pix")
SAVED_MODEL_FILE = "saved_model.pb"


def _gfile():
    import tensorflow as tf  # tf.io.gfile: local paths, gs:// and the other filesystems TF knows

    return tf.io.gfile


def available_versions(model_base: str) -> List[int]:
    """Numbered version folders under a TF Serving model base, ascending (the Pusher's layout rule)."""
    from components.pusher.executor import served_versions

    if not _gfile().isdir(model_base):
        raise FileNotFoundError(f"no pushed model under {model_base}: run `make run` first, or pass --model-dir")
    return served_versions(model_base)


def version_dir(model_base: str, version: Optional[int] = None) -> str:
    """``<model_base>/<version>``: the given one, or the newest (what TF Serving serves).

    A folder that is itself a SavedModel is accepted as is (when no version is asked for).
    """
    gfile = _gfile()
    if version is None and gfile.exists(os.path.join(model_base, SAVED_MODEL_FILE)):
        return model_base
    versions = available_versions(model_base)
    if version is not None:
        if version not in versions:
            raise FileNotFoundError(f"version {version} not in {model_base}; available: {versions}")
        return os.path.join(model_base, str(version))
    if not versions:
        raise FileNotFoundError(f"no numbered version folder in {model_base} (TF Serving's layout: "
                                f"{model_base}/<version>/{SAVED_MODEL_FILE})")
    return os.path.join(model_base, str(versions[-1]))


@dataclasses.dataclass(frozen=True)
class Translation:
    """One image's outcome: the generated PNG, or why the model refused the input."""
    png: Optional[bytes] = None
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.png is not None


class LocalGenerator:
    """``serving_default`` of one SavedModel version, loaded once."""

    def __init__(self, model_dir: str):
        import tensorflow as tf

        self.model_dir = model_dir
        self._model = tf.saved_model.load(model_dir)  # keeps the variables the signature uses alive
        signatures = self._model.signatures
        if features.SERVING_DEFAULT not in signatures:
            raise ValueError(f"{model_dir} has no {features.SERVING_DEFAULT!r} signature "
                             f"(has {sorted(signatures)}); is it a pix2pix-tfx export?")
        self._signature = signatures[features.SERVING_DEFAULT]
        inputs = set(self._signature.structured_input_signature[1])
        if inputs != {features.SERVING_INPUT_BYTES}:
            raise ValueError(f"{model_dir}: {features.SERVING_DEFAULT} takes {sorted(inputs)}, "
                             f"expected [{features.SERVING_INPUT_BYTES!r}]")

    def translate(self, encoded_images: Sequence[bytes]) -> List[bytes]:
        """Encoded images (any supported format and size, mixed) -> generated PNGs, in one call.

        Raises ``tf.errors.InvalidArgumentError`` if any image is refused.
        """
        import tensorflow as tf

        result = self._signature(**{features.SERVING_INPUT_BYTES: tf.constant(list(encoded_images), tf.string)})
        return [bytes(png) for png in result[features.SERVING_OUTPUT_BYTES].numpy()]

    def translate_each(self, encoded_images: Sequence[bytes]) -> List[Translation]:
        """Like ``translate``, but one refused image costs only that image.

        The batch runs in one call; when the model refuses it, each image is
        retried alone so the good ones still come out and the bad one says why.
        """
        import tensorflow as tf

        if not encoded_images:
            return []
        try:
            return [Translation(png=png) for png in self.translate(encoded_images)]
        except tf.errors.InvalidArgumentError as error:
            if len(encoded_images) == 1:
                return [Translation(error=tidy_tf_message(error.message))]
        return [outcome for image in encoded_images for outcome in self.translate_each([image])]
