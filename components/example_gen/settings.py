"""The ``data`` section as the paired-image ExampleGen reads it: where the pairs are and what it accepts.

The allowed values are the ones the ingestion code implements: layouts and
split modes (``layout.py``), directions (``aligned.py``), size-mismatch
policies (``ingest.py``), image formats (``image_checks.py``).
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Dict, List, Literal, Optional

from components.example_gen import aligned, image_checks, ingest, layout, spans
from components.typed_settings import require

SECTION = "data"
# The Trainer trains on "train" and picks its best epoch on "eval"; the Evaluator gates on "test", examples
# that neither training nor model selection has seen (else on "eval": see gate_split).
TRAIN_SPLIT = "train"
EVAL_SPLIT = "eval"
TEST_SPLIT = "test"
# Every dataset must give these; "test" is optional (older configs and datasets with train/ and val/ only).
REQUIRED_SPLITS = (TRAIN_SPLIT, EVAL_SPLIT)
HASH_SPLIT_CHOICES = (set(REQUIRED_SPLITS), set(REQUIRED_SPLITS) | {TEST_SPLIT})


def gate_split(split_names) -> str:
    """The split the Evaluator gates on: "test" when the data has one, else "eval" (which the Trainer
    then may not select on: ``selection_allowed``)."""
    return TEST_SPLIT if TEST_SPLIT in split_names else EVAL_SPLIT


def selection_allowed(gate: str) -> bool:
    """Best-epoch selection on "eval" is honest only when the gate scores other examples."""
    return gate != EVAL_SPLIT


@dataclasses.dataclass(frozen=True)
class SpanSettings:
    """Which spans a run reads when data.dataset_dir has a span pattern (``spans.py``)."""

    window: int                 # trained on: the newest span and the window - 1 before it; 1 = the newest only
    pinned: Optional[int]       # ingest this span instead of the newest (a backfill); null = the newest

    def validate(self, key: str) -> None:
        require(self.window >= 1, f"{key}.window", self.window, "an integer >= 1 (1 = the newest span only)")
        require(self.pinned is None or self.pinned >= 0, f"{key}.pinned", self.pinned,
                "null (the newest span) or a span number >= 0")


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """Where the paired images are, in which layout, and what ingestion accepts."""

    SUPPORTED_IMAGE_EXTENSIONS: typing.ClassVar[tuple] = image_checks.SUPPORTED_EXTENSIONS
    REQUIRED_SPLITS: typing.ClassVar[tuple] = REQUIRED_SPLITS

    dataset_dir: str
    layout: Literal[layout.LAYOUTS]
    input_subdir: str
    target_subdir: str
    direction: Literal[aligned.DIRECTIONS]
    image_extensions: List[str]
    tfrecord_extensions: List[str]
    split_mode: Literal[layout.SPLIT_MODES]
    split_folders: Dict[str, str]
    split_ratios: Dict[str, int]
    size_mismatch: Literal[ingest.SIZE_MISMATCH_POLICIES]
    min_image_side: int
    max_image_pixels: int
    max_file_bytes: int
    min_valid_fraction: float
    spans: SpanSettings

    def span_location(self) -> Optional[spans.SpanLocation]:
        """dataset_dir cut at its span pattern, or None for a plain folder."""
        return spans.parse(self.dataset_dir)

    def gate_split(self) -> str:
        """The split the Evaluator gates on, from the splits this data gives (split_mode resolved)."""
        names = self.split_ratios if self.split_mode == layout.SPLIT_HASH else self.split_folders
        return gate_split(names)

    def validate(self, key: str) -> None:
        try:
            location = self.span_location()
        except spans.SpanPatternError as error:
            require(False, f"{key}.dataset_dir", self.dataset_dir, f"a folder or a TFX span pattern ({error})")
        else:
            require(location is not None or (self.spans.window == 1 and self.spans.pinned is None),
                    f"{key}.spans", dataclasses.asdict(self.spans), "window: 1 and pinned: null when "
                    "dataset_dir has no span pattern such as .../span-{SPAN} (there is one dataset, no spans)")
        require(set(self.split_ratios) in HASH_SPLIT_CHOICES, f"{key}.split_ratios",
                dict(self.split_ratios), "the splits 'train', 'eval' and 'test' (e.g. {train: 8, eval: 1, test: 1}: "
                "the Trainer selects on eval, the Evaluator gates on test), or only 'train' and 'eval'")
        for split, ratio in self.split_ratios.items():
            require(ratio >= 1, f"{key}.split_ratios.{split}", ratio, "an integer >= 1")
        require(set(REQUIRED_SPLITS) <= set(self.split_folders), f"{key}.split_folders",
                dict(self.split_folders), "a mapping with at least the splits 'train' and 'eval' "
                "(TFX split name -> folder name), e.g. {train: train, eval: val, test: test}")
        for split, folder in self.split_folders.items():
            require(split.replace("_", "").replace("-", "").isalnum(), f"{key}.split_folders",
                    split, "split names made of letters, digits, '_' and '-'")
            require("/" not in folder and folder not in (".", ".."), f"{key}.split_folders.{split}",
                    folder, "a folder name directly under dataset_dir (no '/')")
        require(len(set(self.split_folders.values())) == len(self.split_folders), f"{key}.split_folders",
                dict(self.split_folders), "a different folder for each split")
        for sub_key in ("input_subdir", "target_subdir"):
            subdir = getattr(self, sub_key)
            require("/" not in subdir and subdir not in self.split_folders.values(), f"{key}.{sub_key}",
                    subdir, "a folder name without '/' that is not one of split_folders")
        require(self.input_subdir != self.target_subdir, f"{key}.target_subdir",
                self.target_subdir, "a folder different from input_subdir")
        require(bool(self.image_extensions), f"{key}.image_extensions",
                self.image_extensions, "a non-empty list such as ['.png', '.jpg']")
        for ext in self.image_extensions:
            require(ext.lower() in self.SUPPORTED_IMAGE_EXTENSIONS, f"{key}.image_extensions", ext,
                    f"extensions among {list(self.SUPPORTED_IMAGE_EXTENSIONS)}")
        require(bool(self.tfrecord_extensions), f"{key}.tfrecord_extensions",
                self.tfrecord_extensions, "a non-empty list such as ['.tfrecord', '.gz']")
        for ext in self.tfrecord_extensions:
            require(ext.startswith(".") and len(ext) > 1, f"{key}.tfrecord_extensions", ext,
                    "extensions that start with a dot, e.g. '.tfrecord'")
        require(self.min_image_side >= 1, f"{key}.min_image_side", self.min_image_side, "an integer >= 1")
        require(self.max_image_pixels >= self.min_image_side ** 2, f"{key}.max_image_pixels",
                self.max_image_pixels, f"an integer >= min_image_side^2 ({self.min_image_side ** 2})")
        require(self.max_file_bytes >= 1024, f"{key}.max_file_bytes", self.max_file_bytes,
                "an integer >= 1024 (bytes; larger files are quarantined unread)")
        require(0.0 <= self.min_valid_fraction <= 1.0, f"{key}.min_valid_fraction",
                self.min_valid_fraction, "a number in [0, 1]")
