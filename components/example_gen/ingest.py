"""Beam transforms turning one layout's routed files into Examples and rejections.

Each takes the PCollection of :class:`layout.Route` and returns three outputs:
``examples`` as (input split name, tf.train.Example), ``rejected`` as
:class:`quarantine.Rejection`, and ``resized`` (one element per pair kept with
differing sizes). Only paths and ids are ever grouped: image bytes are read
inside the worker that checks them and flow straight to the writer, so no
runner (not even the in-memory DirectRunner) holds the dataset in memory.
"""
from __future__ import annotations

import dataclasses
import logging
import posixpath
import zlib
from typing import Dict, Iterator, Optional

import apache_beam as beam
from apache_beam.io.filesystem import BeamIOError, CompressionTypes
from apache_beam.io.filesystems import FileSystems

from components import features
from components.example_gen import aligned, image_checks, image_properties, layout, pairing, quarantine, tfrecord_files

log = logging.getLogger(__name__)

EXAMPLES = "examples"
REJECTED = "rejected"
RESIZED = "resized"
SIZE_MISMATCH_RESIZE = "resize"       # data.size_mismatch: keep both (Transform resizes them to one size)
SIZE_MISMATCH_REJECT = "reject"       # data.size_mismatch: quarantine both
SIZE_MISMATCH_POLICIES = (SIZE_MISMATCH_RESIZE, SIZE_MISMATCH_REJECT)
ITEMS_PER_EXAMPLE = {layout.TWO_FOLDER: 2, layout.ALIGNED: 1, layout.TFRECORD: 1}
ITEM_UNIT = {layout.TWO_FOLDER: "file", layout.ALIGNED: "file", layout.TFRECORD: "record"}
_READ_ERRORS = (OSError, BeamIOError)
RECORD_OVERHEAD_BYTES = 64 * 1024    # a record is two images plus its pair id and the Example framing


def limits_of(settings) -> image_checks.ImageLimits:
    return image_checks.ImageLimits(min_side=settings.min_image_side, max_pixels=settings.max_image_pixels)


def too_large(size: int, max_bytes: int, what: str) -> image_checks.ImageRejected:
    return image_checks.ImageRejected(quarantine.FILE_TOO_LARGE,
                                      f"{what}{size:,} bytes > data.max_file_bytes = {max_bytes:,}; not read")


def read_file(path: str, size: Optional[int], max_bytes: int) -> bytes:
    """The file's bytes, refused unread when the listing's ``size`` is over ``max_bytes``.

    At most ``max_bytes + 1`` bytes are ever read, so a file that grew since the
    listing (or a size the file system got wrong) cannot make it read more.
    """
    if size is not None and size > max_bytes:
        raise too_large(size, max_bytes, "")
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
            data = handle.read(max_bytes + 1)
    except _READ_ERRORS as error:
        raise image_checks.ImageRejected(quarantine.UNREADABLE_FILE, str(error)) from None
    if len(data) > max_bytes:
        raise image_checks.ImageRejected(
            quarantine.FILE_TOO_LARGE, f"over data.max_file_bytes = {max_bytes:,} bytes when read (listed as "
                                       f"{size if size is not None else '?'} bytes: it grew); not read further")
    return data


def _rejected(path: str, reason: str, detail: str, split: str) -> beam.pvalue.TaggedOutput:
    return beam.pvalue.TaggedOutput(REJECTED, quarantine.Rejection(path, reason, detail, split))


def _size_mismatch(input_image: image_checks.CheckedImage, target_image: image_checks.CheckedImage) -> Optional[str]:
    if input_image.size == target_image.size:
        return None
    return "input {}x{} vs target {}x{}".format(*input_image.size, *target_image.size)


class _ReadTwoFolderPair(beam.DoFn):
    """All files sharing (split, stem) -> one Example, or a rejection for each file."""

    def __init__(self, settings):
        self._limits = limits_of(settings)
        self._size_policy = settings.size_mismatch
        self._max_bytes = settings.max_file_bytes

    def process(self, element) -> Iterator:
        (split, pair_id), tagged_paths = element
        paths_by_role: Dict[str, list] = {}
        sizes: Dict[str, Optional[int]] = {}
        for role, path, size in tagged_paths:
            paths_by_role.setdefault(role, []).append(path)
            sizes[path] = size
        pair, rejections = pairing.match_pair(pair_id, paths_by_role)
        if pair is None:
            for rejection in rejections:
                yield beam.pvalue.TaggedOutput(REJECTED, dataclasses.replace(rejection, split=split))
            return
        roles = (layout.INPUT_ROLE, layout.TARGET_ROLE)
        checked, failed = {}, {}
        for role, path in zip(roles, pair):
            try:
                checked[role] = image_checks.check_image(read_file(path, sizes[path], self._max_bytes), self._limits)
            except image_checks.ImageRejected as error:
                failed[role] = error
        if failed:
            for role, path in zip(roles, pair):
                if role in failed:
                    yield _rejected(path, failed[role].reason, failed[role].detail, split)
                else:
                    other_role, = set(roles) - {role}
                    other = pair[roles.index(other_role)]
                    yield _rejected(path, quarantine.PARTNER_REJECTED,
                                    f"valid, but its {other_role} {posixpath.basename(other)} is "
                                    f"{failed[other_role].reason}", split)
            return
        mismatch = _size_mismatch(checked[layout.INPUT_ROLE], checked[layout.TARGET_ROLE])
        if mismatch and self._size_policy == SIZE_MISMATCH_REJECT:
            for path in pair:
                yield _rejected(path, quarantine.SIZE_MISMATCH, f"{mismatch} (data.size_mismatch: reject)", split)
            return
        if mismatch:
            log.debug("ExampleGen kept pair %s/%s of different sizes (%s); Transform resizes both",
                     split, pair_id, mismatch)
            yield beam.pvalue.TaggedOutput(RESIZED, split)
        input_image, target_image = checked[layout.INPUT_ROLE], checked[layout.TARGET_ROLE]
        yield split, pairing.make_example(pair_id, input_image.encoded, target_image.encoded,
                                          image_properties.of_pair(input_image.pixels, target_image.pixels))


class _ReadAlignedFile(beam.DoFn):
    """The file(s) of one (split, stem) -> one Example with both halves as PNG."""

    def __init__(self, settings):
        self._limits = limits_of(settings)
        self._direction = settings.direction
        self._max_bytes = settings.max_file_bytes

    def process(self, element) -> Iterator:
        (split, pair_id), paths_and_sizes = element
        sizes = dict(paths_and_sizes)
        paths = sorted(sizes)
        if len(paths) > 1:
            names = ", ".join(posixpath.basename(p) for p in paths)
            for path in paths:
                yield _rejected(path, quarantine.DUPLICATE_STEM,
                                f"stem {pair_id!r} is shared by {names}: the pair is ambiguous", split)
            return
        try:
            input_pixels, target_pixels = aligned.checked_halves(
                read_file(paths[0], sizes[paths[0]], self._max_bytes), self._limits, self._direction)
        except image_checks.ImageRejected as error:
            yield _rejected(paths[0], error.reason, error.detail, split)
            return
        yield split, pairing.make_example(pair_id, image_checks.encode_png(input_pixels),
                                          image_checks.encode_png(target_pixels),
                                          image_properties.of_pair(input_pixels, target_pixels))


class _ReadRecordFile(beam.DoFn):
    """One TFRecord file, read as a stream: pair ids (first pass) or Examples and rejections (second pass).

    The first pass yields only (split, pair_id) so duplicates can be found
    without shuffling any image bytes; the second gets the duplicate counts as
    a side input and checks every other record's images.
    """

    def __init__(self, settings, ids_only: bool = False):
        self._limits = limits_of(settings)
        self._size_policy = settings.size_mismatch
        self._max_bytes = settings.max_file_bytes
        self._ids_only = ids_only

    def process(self, route: layout.Route, duplicates=None) -> Iterator:
        path, split, index = route.path, route.split, 0
        try:
            with tfrecord_files.open_records(path) as handle:
                for record in tfrecord_files.read_records(handle, 2 * self._max_bytes + RECORD_OVERHEAD_BYTES):
                    locator = f"{path}#{index}"
                    index += 1
                    if isinstance(record, tfrecord_files.OversizedRecord):
                        if not self._ids_only:
                            yield _rejected(locator, quarantine.FILE_TOO_LARGE,
                                            f"record of {record.length:,} bytes: more than two images of "
                                            f"data.max_file_bytes = {self._max_bytes:,} each; not read", split)
                        continue
                    try:
                        pair_id, input_bytes, target_bytes = pairing.parse_example(record)
                    except pairing.BadRecord as error:
                        if not self._ids_only:
                            yield _rejected(locator, quarantine.BAD_RECORD, str(error), split)
                        continue
                    if self._ids_only:
                        yield split, pair_id
                    elif (split, pair_id) in duplicates:
                        yield _rejected(locator, quarantine.DUPLICATE_PAIR_ID,
                                        f"pair_id {pair_id!r} is in {duplicates[(split, pair_id)]} records of "
                                        f"split {split!r}", split)
                    else:
                        yield from self._check(locator, split, pair_id, input_bytes, target_bytes)
        except tfrecord_files.CorruptRecords as error:
            if not self._ids_only:
                yield self._broken(path, index, str(error), split)
            return
        except _READ_ERRORS as error:
            if not self._ids_only and index == 0:
                yield _rejected(path, quarantine.UNREADABLE_FILE, str(error), split)
            elif not self._ids_only:
                yield self._broken(path, index, f"record {index}: {type(error).__name__}: {error}", split)
            return
        except (EOFError, zlib.error) as error:  # a damaged gzip stream
            if not self._ids_only:
                yield self._broken(path, index, f"record {index}: {type(error).__name__}: {error}", split)
            return
        if index == 0 and not self._ids_only:
            yield _rejected(path, quarantine.EMPTY_FILE, "no records", split)

    def _check(self, locator: str, split: str, pair_id: str, input_bytes: bytes, target_bytes: bytes) -> Iterator:
        checked = []
        for key, data in ((features.INPUT_IMAGE_KEY, input_bytes), (features.TARGET_IMAGE_KEY, target_bytes)):
            try:
                if len(data) > self._max_bytes:
                    raise too_large(len(data), self._max_bytes, "encoded image of ")
                checked.append(image_checks.check_image(data, self._limits))
            except image_checks.ImageRejected as error:
                yield _rejected(locator, error.reason, f"{key}: {error.detail}", split)
                return
        mismatch = _size_mismatch(*checked)
        if mismatch and self._size_policy == SIZE_MISMATCH_REJECT:
            yield _rejected(locator, quarantine.SIZE_MISMATCH, f"{mismatch} (data.size_mismatch: reject)", split)
            return
        if mismatch:
            log.debug("ExampleGen kept record %s (%s) of different sizes (%s); Transform resizes both",
                     locator, pair_id, mismatch)
            yield beam.pvalue.TaggedOutput(RESIZED, split)
        yield split, pairing.make_example(pair_id, checked[0].encoded, checked[1].encoded,
                                          image_properties.of_pair(checked[0].pixels, checked[1].pixels))

    @staticmethod
    def _broken(path: str, index: int, detail: str, split: str) -> beam.pvalue.TaggedOutput:
        if index == 0:
            return _rejected(path, quarantine.NOT_A_TFRECORD, f"{detail}; nothing could be read", split)
        return _rejected(f"{path}#{index}", quarantine.CORRUPT_TFRECORD,
                         f"{detail}; records {index} to the end of the file cannot be located "
                         f"(records 0-{index - 1} were read)", split)


def _named(outputs) -> dict:
    return {name: outputs[name] for name in (EXAMPLES, REJECTED, RESIZED)}


@beam.ptransform_fn
def IngestTwoFolder(routes, settings):  # pylint: disable=invalid-name
    return _named(routes
                  | "KeyByStem" >> beam.Map(lambda r: ((r.split, layout.stem_of(r.path)), (r.role, r.path, r.size)))
                  | "GroupByStem" >> beam.GroupByKey()
                  | "ReadPairs" >> beam.ParDo(_ReadTwoFolderPair(settings)).with_outputs(
                      REJECTED, RESIZED, main=EXAMPLES))


@beam.ptransform_fn
def IngestAligned(routes, settings):  # pylint: disable=invalid-name
    return _named(routes
                  | "KeyByStem" >> beam.Map(lambda r: ((r.split, layout.stem_of(r.path)), (r.path, r.size)))
                  | "GroupByStem" >> beam.GroupByKey()
                  | "SplitHalves" >> beam.ParDo(_ReadAlignedFile(settings)).with_outputs(
                      REJECTED, RESIZED, main=EXAMPLES))


@beam.ptransform_fn
def IngestTFRecords(routes, settings):  # pylint: disable=invalid-name
    duplicates = (routes
                  | "ReadPairIds" >> beam.ParDo(_ReadRecordFile(settings, ids_only=True))
                  | "CountPairIds" >> beam.combiners.Count.PerElement()
                  | "KeepDuplicates" >> beam.Filter(lambda key_count: key_count[1] > 1))
    return _named(routes
                  | "ReadRecords" >> beam.ParDo(_ReadRecordFile(settings), duplicates=beam.pvalue.AsDict(duplicates))
                  .with_outputs(REJECTED, RESIZED, main=EXAMPLES))


INGEST_BY_LAYOUT = {layout.TWO_FOLDER: IngestTwoFolder, layout.ALIGNED: IngestAligned,
                    layout.TFRECORD: IngestTFRecords}
