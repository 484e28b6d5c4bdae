"""The ExampleGen's driver: TFX's FileBasedDriver with a fingerprint that survives broken symlinks.

Span and version patterns are resolved by TFX's own code (the newest span, or
the range config's static span), as TFX's driver does on Vertex/Kubeflow.

Before the executor runs, the driver fingerprints the files of each input split
(count, sizes, mtimes) so that a changed dataset is not served from the cache.
TFX's fingerprint stats every match and stops the run with an empty
``NotFoundError`` at the first symlink to nothing, before the executor can put
it in the quarantine report. This one stats such an entry without following
it; the executor then reports it (``broken_symlink``). The fingerprint's text
is TFX's own, so a run on an unchanged dataset still hits the cache.
"""
from __future__ import annotations

import copy
import os
from typing import Iterable, List, Optional, Tuple

from tfx.components.example_gen import driver, input_processor
from tfx.components.example_gen import utils as example_gen_utils
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
    """TFX's span and version resolution (span 0 without a pattern), with the tolerant fingerprint."""

    def resolve_span_and_version(self) -> Tuple[int, Optional[int]]:
        span, version, patterns = 0, None, [split.pattern for split in self._splits]
        if self._is_match_span or self._is_match_date:
            span, version, patterns = self._resolve_spans()
        fingerprints = []
        for split, pattern in zip(self._splits, patterns):
            files = fileio.glob(os.path.join(self._input_base_uri, pattern))
            if not files:
                raise ValueError(f"Cannot find matching for split {split.name} based on {pattern}")
            fingerprints.append(fingerprint(split.name, files))
        self._fingerprint = "\n".join(fingerprints)
        return span, version

    def _resolve_spans(self) -> Tuple[int, Optional[int], List[str]]:
        """TFX's newest (or static-range) span and version per split; all splits must agree, said by name."""
        resolved = []
        for split in self._splits:
            split = copy.deepcopy(split)
            try:
                span, version = example_gen_utils._get_target_span_version(  # pylint: disable=protected-access
                    self._input_base_uri, split, range_config=self._range_config)
            except ValueError as error:
                raise ValueError(f"{self._input_base_uri}: split {split.name!r} ({split.pattern}): {error}; "
                                 "every split of a span needs files in that span's folder") from None
            resolved.append((split.name, span, version, split.pattern))
        first = resolved[0]
        for name, span, version, _ in resolved[1:]:
            if (span, version) != first[1:3]:
                raise ValueError(
                    f"{self._input_base_uri}: the newest span/version differs between splits: {first[0]!r} has "
                    f"span {first[1]} version {first[2]}, {name!r} has span {span} version {version}; a span "
                    "folder must hold every split before the next run reads it (land it whole, then rename)")
        for split, (name, span, version, pattern) in zip(self._splits, resolved):
            filled = self.get_pattern_for_span_version(split.pattern, span, version)
            if filled != pattern:   # what TFX's driver hands the executor, here and on Vertex/Kubeflow
                raise ValueError(
                    f"{self._input_base_uri}: split {name!r} matched {pattern}, but TFX fills the pattern "
                    f"{split.pattern} as {filled}: zero-padded numbers need the width in the spec, e.g. "
                    "span-{SPAN:3} for span-007 (and v{VERSION:2} for v01)")
        return first[1], first[2], [pattern for *_, pattern in resolved]


class PairedImageDriver(driver.FileBasedDriver):
    def get_input_processor(self, splits, range_config=None, input_base_uri=None):
        assert input_base_uri
        return _InputProcessor(input_base_uri, splits, range_config)
