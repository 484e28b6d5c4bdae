"""Streaming, checksum-verified reading of TFRecord files (plain or GZIP).

Beam's own TFRecord source stops the whole pipeline at the first bad record and
does not say which record it was. Importing a user's records needs both the
records that are fine and the index of the first one that is not, so this reads
one record at a time from a Beam ``FileSystems`` handle (local, GCS, S3 ...),
checking the length and data CRCs of the TFRecord framing.
"""
from __future__ import annotations

import dataclasses
import struct
from typing import Iterator, Union

import google_crc32c
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

GZIP_MAGIC = b"\x1f\x8b"
RECORD_HEADER = struct.Struct("<QI")           # length, masked CRC32C of the length
DATA_CRC = struct.Struct("<I")
MAX_RECORD_BYTES = 2 ** 31 - 1                 # protobuf cannot parse a larger Example
SKIP_CHUNK_BYTES = 1 << 20                     # an oversized record is checked and skipped this much at a time
_CRC_MASK_DELTA = 0xA282EAD8


class CorruptRecords(ValueError):
    """The framing breaks at record ``index``; nothing after it can be located."""

    def __init__(self, index: int, message: str):
        super().__init__(f"record {index}: {message}")
        self.index = index


@dataclasses.dataclass(frozen=True)
class OversizedRecord:
    """A well-framed record longer than the reader's limit: skipped unread (its checksum was verified)."""

    length: int


def _mask(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC32C rotated right by 15 bits plus a constant."""
    return _mask(google_crc32c.value(data))


def encode_record(data: bytes) -> bytes:
    """One framed record (tests build damaged files with it)."""
    length = struct.pack("<Q", len(data))
    return length + DATA_CRC.pack(masked_crc32c(length)) + data + DATA_CRC.pack(masked_crc32c(data))


def compression_of(path: str) -> str:
    """GZIP when the file starts with gzip's magic bytes, whatever its extension."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return CompressionTypes.GZIP if handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC else CompressionTypes.UNCOMPRESSED


def open_records(path: str):
    return FileSystems.open(path, compression_type=compression_of(path))


def _skip_record(handle, index: int, length: int) -> None:
    """Reads past a record in chunks, checking its data CRC, without holding it."""
    crc, left = 0, length
    while left:
        chunk = handle.read(min(left, SKIP_CHUNK_BYTES))
        if not chunk:
            raise CorruptRecords(index, f"file ends inside the record ({length - left} of {length} bytes)")
        crc = google_crc32c.extend(crc, chunk)
        left -= len(chunk)
    tail = handle.read(DATA_CRC.size)
    if len(tail) < DATA_CRC.size:
        raise CorruptRecords(index, "file ends inside the record's checksum")
    if _mask(crc) != DATA_CRC.unpack(tail)[0]:
        raise CorruptRecords(index, "data checksum mismatch")


def read_records(handle, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Union[bytes, OversizedRecord]]:
    """Yields each record's payload, or :class:`OversizedRecord` for one over ``max_record_bytes``.

    Raises :class:`CorruptRecords` where the framing breaks. No more than
    ``max_record_bytes`` (or a chunk) is ever held, whatever a header claims.
    """
    index = 0
    while True:
        header = handle.read(RECORD_HEADER.size)
        if not header:
            return
        if len(header) < RECORD_HEADER.size:
            raise CorruptRecords(index, f"file ends inside a record header ({len(header)} of "
                                        f"{RECORD_HEADER.size} bytes)")
        length, length_crc = RECORD_HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            raise CorruptRecords(index, "length checksum mismatch (not TFRecord framing, or damaged)")
        if length > MAX_RECORD_BYTES:
            raise CorruptRecords(index, f"length {length:,} bytes exceeds {MAX_RECORD_BYTES:,}")
        if length > max_record_bytes:
            _skip_record(handle, index, length)
            yield OversizedRecord(length)
            index += 1
            continue
        body = handle.read(length + DATA_CRC.size)
        if len(body) < length + DATA_CRC.size:
            raise CorruptRecords(index, f"file ends inside the record ({len(body)} of "
                                        f"{length + DATA_CRC.size} bytes)")
        data = body[:length]
        if masked_crc32c(data) != DATA_CRC.unpack(body[length:])[0]:
            raise CorruptRecords(index, "data checksum mismatch")
        yield data
        index += 1
