"""Lists every file of the dataset once, and reports what cannot be listed or read.

Beam's own local listing (``os.walk`` with no error handler) drops without a
word a folder it cannot list, a symlink to nothing, and everything under a
symlinked folder; and it lists a FIFO, which blocks the worker that opens it.
For a local dataset this walks the folder itself and turns each of those into
a quarantine row instead:

* an unreadable folder -> ``unreadable_folder`` (nothing under it was read);
* a symlink to nothing, or a symlink loop -> ``broken_symlink``;
* a symlink to a folder -> ``symlinked_folder``: not followed, so a link to
  ``/`` or back up the tree cannot walk the disk or loop (the dataset folder
  itself may be a symlink: it is where the walk starts);
* a FIFO, socket or device -> ``not_a_regular_file``, never opened.

Symlinks to regular files are read as files (their size is the target's).
Object stores (gs://, s3://) have none of these, so they keep Beam's listing.
"""
from __future__ import annotations

import os
import stat
from typing import Iterator, Union

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.fileio import EmptyMatchTreatment
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from components.example_gen import quarantine

FILES = "files"          # FileMetadata of each regular file
PROBLEMS = "problems"    # quarantine.Rejection of each entry that is not one

_SPECIAL_KINDS = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
                  (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def is_local(root: str) -> bool:
    return isinstance(FileSystems.get_filesystem(root), LocalFileSystem)


def _error_text(error: OSError) -> str:
    return error.strerror or type(error).__name__


def _special_kind(mode: int) -> str:
    return next((kind for test, kind in _SPECIAL_KINDS if test(mode)), f"file of mode {stat.filemode(mode)}")


def walk_local(root: str) -> Iterator[Union[FileMetadata, quarantine.Rejection]]:
    """Every regular file under ``root`` as FileMetadata, every other entry as a Rejection; never loops."""
    root = root.rstrip("/") or "/"
    try:
        top = os.stat(root)
    except OSError as error:
        yield quarantine.Rejection(root, quarantine.UNREADABLE_FOLDER, f"cannot be listed ({_error_text(error)})")
        return
    seen = {(top.st_dev, top.st_ino)}   # a bind mount can still bring a folder back: list each one once
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as error:
            yield quarantine.Rejection(folder, quarantine.UNREADABLE_FOLDER,
                                       f"cannot be listed ({_error_text(error)}); nothing under it was read")
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(info.st_mode):
                    yield from _symlink(entry.path)
                    continue
            except OSError as error:  # gone since the listing, or no permission to stat
                yield quarantine.Rejection(entry.path, quarantine.UNREADABLE_FILE, _error_text(error))
                continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    yield quarantine.Rejection(entry.path, quarantine.UNREADABLE_FOLDER,
                                               "the same folder as one already listed (a bind mount loop?); "
                                               "not listed twice")
                else:
                    seen.add(key)
                    folders.append(entry.path)
            elif stat.S_ISREG(info.st_mode):
                yield FileMetadata(entry.path, info.st_size, info.st_mtime)
            else:
                yield quarantine.Rejection(entry.path, quarantine.NOT_A_REGULAR_FILE,
                                           f"a {_special_kind(info.st_mode)}; only regular files are read "
                                           "(it was not opened)")


def _symlink(path: str) -> Iterator[Union[FileMetadata, quarantine.Rejection]]:
    try:
        points_to = os.readlink(path)
    except OSError as error:
        points_to = f"? ({_error_text(error)})"
    try:
        info = os.stat(path)
    except OSError as error:
        yield quarantine.Rejection(path, quarantine.BROKEN_SYMLINK,
                                   f"a symlink to {points_to}: {_error_text(error)}")
        return
    if stat.S_ISDIR(info.st_mode):
        yield quarantine.Rejection(path, quarantine.SYMLINKED_FOLDER,
                                   f"a symlink to the folder {points_to}; symlinked folders are not followed "
                                   "(move or copy the files into the dataset folder, or point "
                                   "data.dataset_dir at the real folder)")
    elif stat.S_ISREG(info.st_mode):
        yield FileMetadata(path, info.st_size, info.st_mtime)
    else:
        yield quarantine.Rejection(path, quarantine.NOT_A_REGULAR_FILE,
                                   f"a symlink to {points_to}, a {_special_kind(info.st_mode)}; only regular "
                                   "files are read (it was not opened)")


class _WalkLocal(beam.DoFn):
    def process(self, root: str):
        for item in walk_local(root):
            if isinstance(item, quarantine.Rejection):
                yield beam.pvalue.TaggedOutput(PROBLEMS, item)
            else:
                yield item


@beam.ptransform_fn
def ListDataset(pipeline, root: str):  # pylint: disable=invalid-name
    """{FILES: FileMetadata, PROBLEMS: Rejection} for everything under ``root``."""
    if not is_local(root):
        files = pipeline | "MatchFiles" >> fileio.MatchFiles(FileSystems.join(root, "**"),
                                                             empty_match_treatment=EmptyMatchTreatment.ALLOW)
        return {FILES: files, PROBLEMS: pipeline | "NoProblems" >> beam.Create([])}
    listed = (pipeline
              | "Root" >> beam.Create([root])
              | "Walk" >> beam.ParDo(_WalkLocal()).with_outputs(PROBLEMS, main=FILES))
    return {FILES: listed[FILES] | "Spread" >> beam.Reshuffle(), PROBLEMS: listed[PROBLEMS]}
