"""Writing a component's output files, one way, on a local disk or an object store (gs://).

Artifacts live under the pipeline root, which is a local folder on a laptop
and a gs:// URI on Vertex AI, so every output goes through ``tf.io.gfile``.
A reader (a resume after a crash, TensorBoard, the report page, a person
refreshing a browser) finds the old file or the new one, never part of one:
locally the bytes are written beside the file, synced and renamed over it; an
object store publishes an object only once its upload is complete.
"""
from __future__ import annotations

import contextlib
import os
import posixpath

import tensorflow as tf

PARTIAL_SUFFIX = ".partial"   # .<name>.partial beside <name> while it is being written


def is_remote(path: str) -> bool:
    """A URI of a filesystem other than the local one (gs://, s3://, ...)."""
    return "://" in str(path)


def join(folder: str, *names: str) -> str:
    """``os.path.join`` for local folders, '/' for URIs (whatever the local separator)."""
    return posixpath.join(str(folder), *names) if is_remote(folder) else os.path.join(str(folder), *names)


def makedirs(folder: str) -> str:
    tf.io.gfile.makedirs(str(folder))
    return str(folder)


def write_bytes(path: str, data: bytes) -> str:
    """Writes ``data`` to ``path`` (its folder created), replacing any old file whole; returns ``path``."""
    path = str(path)
    folder = posixpath.dirname(path) if is_remote(path) else (os.path.dirname(path) or os.curdir)
    tf.io.gfile.makedirs(folder)
    if is_remote(path):
        with tf.io.gfile.GFile(path, "wb") as handle:
            handle.write(data)
        return path
    partial = os.path.join(folder, f".{os.path.basename(path)}{PARTIAL_SUFFIX}")
    try:
        with open(partial, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise
    descriptor = os.open(folder, os.O_RDONLY)  # the rename itself reaches the disk too
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return path


def write_text(path: str, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def read_bytes(path: str) -> bytes:
    with tf.io.gfile.GFile(str(path), "rb") as handle:
        return handle.read()
