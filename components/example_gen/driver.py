"""The ExampleGen's driver: TFX's FileBasedDriver with a fingerprint that survives broken symlinks.

Before the executor runs, the driver fingerprints the files of each input split
(count, sizes, mtimes) so that a changed dataset is not served from the cache.
TFX's fingerprint stats every match and stops the run with an empty
``NotFoundError`` at the first symlink to nothing, before the executor can put
it in the quarantine report. This one stats such an entry without following
it; the executor then reports it (``broken_symlink``). The fingerprint's text
is TFX's own, so a run on an unchanged dataset still hits the cache.
"""
from __future__ import annotations

import os
from typing import Iterable, Optional, Tuple

from tfx.components.example_gen import driver, input_processor
from tfx.dsl.io import fileio
from tfx.utils import io_utils

from components.example_gen import listing


def fingerprint(split_name: str, files: Iterable[str]) -> str:
    """``io_utils.generate_fingerprint``'s text for ``files``, lstat-ing what cannot be stat-ed."""
    files = list(files)
    total_bytes = xor_checksum = sum_checksum = 0
    for path in files:
        length, mtime = _length_and_mtime(path)
        total_bytes += length
        xor_checksum ^= mtime
        sum_checksum += mtime
    return (f"split:{split_name},num_files:{len(files)},total_bytes:{total_bytes},"
            f"xor_checksum:{xor_checksum},sum_checksum:{sum_checksum}")


def _length_and_mtime(path: str) -> Tuple[int, int]:
    if not listing.is_local(path):
        info = fileio.stat(path)
        return info.length, int(info.mtime_nsec / io_utils.NANO_PER_SEC)
    try:
        info = os.stat(path)
    except OSError:  # a symlink to nothing, or a loop: the link itself
        info = os.lstat(path)
    return info.st_size, int(info.st_mtime_ns / io_utils.NANO_PER_SEC)


class _InputProcessor(input_processor.FileBasedInputProcessor):
    """Patterns without {SPAN}/{VERSION} (the only ones this component builds): span 0, tolerant fingerprint."""

    def resolve_span_and_version(self) -> Tuple[int, Optional[int]]:
        if self._is_match_span or self._is_match_date or self._is_match_version:
            return super().resolve_span_and_version()
        fingerprints = []
        for split in self._splits:
            files = fileio.glob(os.path.join(self._input_base_uri, split.pattern))
            if not files:
                raise ValueError(f"Cannot find matching for split {split.name} based on {split.pattern}")
            fingerprints.append(fingerprint(split.name, files))
        self._fingerprint = "\n".join(fingerprints)
        return 0, None


class PairedImageDriver(driver.FileBasedDriver):
    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        assert input_base_uri
        return _InputProcessor(input_base_uri, splits, range_config)
