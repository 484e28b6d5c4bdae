"""Why a file (or record) was left out, the report of every one, and the verdict.

Ingestion never drops anything silently: every file the layout covers ends in
an example or in the quarantine report, one row per file with its reason. The
audit counts both, so ``files in examples + files quarantined == files read``
can be checked, and decides whether the dataset is good enough to train on.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from typing import Dict, Iterable, List, Optional

# Reasons, one constant each; the report and the run summary count by these.
UNSUPPORTED_EXTENSION = "unsupported_extension"  # in a layout folder, extension not in the config
OUTSIDE_LAYOUT = "outside_layout"                # a data file where the layout does not look
UNREADABLE_FILE = "unreadable_file"              # the file system refused to read it
UNREADABLE_FOLDER = "unreadable_folder"          # a folder that cannot be listed: nothing under it was read
BROKEN_SYMLINK = "broken_symlink"                # a symlink to nothing (or a symlink loop)
SYMLINKED_FOLDER = "symlinked_folder"            # a symlink to a folder inside the dataset: not followed
NOT_A_REGULAR_FILE = "not_a_regular_file"        # a FIFO, socket or device: never opened (a FIFO would block)
FILE_TOO_LARGE = "file_too_large"                # above data.max_file_bytes (e.g. junk appended); not read
EMPTY_FILE = "empty_file"                        # zero bytes
NOT_AN_IMAGE = "not_an_image"                    # no known image format (e.g. text named .png)
UNSUPPORTED_FORMAT = "unsupported_format"        # an image, but not PNG/JPEG/BMP/GIF (e.g. TIFF named .png)
CORRUPT_IMAGE = "corrupt_image"                  # header fine, pixels do not decode (truncated, damaged)
TOO_SMALL = "too_small"                          # a side below data.min_image_side
TOO_MANY_PIXELS = "too_many_pixels"              # above data.max_image_pixels (decompression bomb guard)
ODD_WIDTH = "odd_width"                          # aligned: cannot be cut into two equal halves
UNPAIRED = "unpaired"                            # two_folder: no file with the same stem in the other folder
DUPLICATE_STEM = "duplicate_stem"                # several files share a stem, the pair is ambiguous
PARTNER_REJECTED = "partner_rejected"            # two_folder: valid, but the other image of its pair is not
SIZE_MISMATCH = "size_mismatch"                  # input and target differ in size (data.size_mismatch: reject)
NOT_A_TFRECORD = "not_a_tfrecord"                # tfrecord: the file does not start with a valid record
CORRUPT_TFRECORD = "corrupt_tfrecord"            # tfrecord: a record's length/CRC is wrong; the rest of the file
BAD_RECORD = "bad_record"                        # tfrecord: not an Example in the project's format
DUPLICATE_PAIR_ID = "duplicate_pair_id"          # tfrecord: several records share a pair_id in one split

REPORT_FOLDER = "quarantine"        # under the Examples artifact's uri
REPORT_FILE = "quarantine.csv"
SUMMARY_FILE = "summary.json"
AUDIT_PROPERTY = "ingestion_audit"  # custom property of the Examples artifact: IngestionAudit as JSON
REPORT_COLUMNS = ("split", "file", "reason", "detail")


@dataclasses.dataclass(frozen=True)
class Rejection:
    """One file (or TFRecord record, ``path#index``) that is not in any example, and why."""

    path: str
    reason: str
    detail: str = ""
    split: str = ""

    def csv_row(self) -> str:
        """One line of the report; newlines in details would break line-based readers."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(
            [self.split, self.path, self.reason, " ".join(self.detail.split())])
        return buffer.getvalue()


def csv_header() -> str:
    return ",".join(REPORT_COLUMNS)


def read_report(text: str) -> List[Dict[str, str]]:
    """Rows of a quarantine.csv, as dicts (for tests and tools)."""
    return list(csv.DictReader(io.StringIO(text)))


@dataclasses.dataclass
class IngestionAudit:
    """Counts of one ExampleGen run; JSON in the report folder and on the Examples artifact."""

    dataset: str = ""
    layout: str = ""
    unit: str = "file"                                   # what was counted: "file" or "record"
    examples: Dict[str, int] = dataclasses.field(default_factory=dict)   # per output split
    valid_items: int = 0                                 # files (records) that are in an example
    quarantined: Dict[str, int] = dataclasses.field(default_factory=dict)  # by reason
    resized_pairs: int = 0                               # size mismatches kept (data.size_mismatch: resize)
    ignored_files: int = 0                               # outside the layout and not data files (README.txt)
    report: str = ""

    @property
    def pairs(self) -> int:
        return sum(self.examples.values())

    @property
    def quarantined_items(self) -> int:
        return sum(self.quarantined.values())

    @property
    def total_items(self) -> int:
        return self.valid_items + self.quarantined_items

    @property
    def valid_fraction(self) -> float:
        return self.valid_items / self.total_items if self.total_items else 0.0

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "IngestionAudit":
        return cls(**json.loads(text))

    def failure(self, min_valid_fraction: float, required_splits: Iterable[str]) -> Optional[str]:
        """Why this dataset must not be trained on, or None when it may."""
        if self.pairs == 0:
            misplaced = self.quarantined.get(OUTSIDE_LAYOUT, 0)
            hint = (f" ({misplaced} files sit where the {self.layout} layout does not look: check data.layout "
                    "and data.dataset_dir)" if misplaced else "")
            return f"no valid pair{hint}"
        empty = [split for split in required_splits if self.examples.get(split, 0) == 0]
        if empty:
            return (f"no valid pair in split(s) {empty} (the Trainer trains on 'train' and validates on 'eval', "
                    "the Evaluator gates on 'test' when there is one; add pairs there or change data.split_ratios)")
        if self.valid_fraction < min_valid_fraction:
            return (f"only {self.valid_fraction:.1%} of the {self.unit}s are usable, "
                    f"below data.min_valid_fraction = {min_valid_fraction:.1%}")
        return None

    def describe(self) -> str:
        """One line for the log and the run summary."""
        splits = ", ".join(f"{name} {count}" for name, count in sorted(self.examples.items()))
        text = (f"{self.pairs} pairs ({splits}) from {self.valid_items} of {self.total_items} "
                f"{self.unit}s ({self.valid_fraction:.1%} usable)")
        if self.quarantined:
            reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(self.quarantined.items()))
            text += f"; quarantined {self.quarantined_items}: {reasons}"
        else:
            text += "; nothing quarantined"
        if self.resized_pairs:
            text += f"; kept {self.resized_pairs} pair(s) of different sizes (Transform resizes both)"
        if self.ignored_files:
            text += f"; ignored {self.ignored_files} non-data file(s) outside the layout"
        return text


def count_by_reason(rejections: Iterable[Rejection]) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for rejection in rejections:
        counts[rejection.reason] = counts.get(rejection.reason, 0) + 1
    return counts
