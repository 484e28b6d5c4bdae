"""Spans: data that lands in a new folder per period, named by TFX's span and version patterns.

``data.dataset_dir`` may name the period folder with TFX's specs, e.g.::

    gs://bucket/facades/span-{SPAN}                  span-1/, span-2/, ...
    gs://bucket/facades/{YYYY}-{MM}-{DD}              2026-11-30/ (span = days since 1970-01-01)
    build/datasets/facades/span-{SPAN}/v{VERSION}     a span re-delivered as a new version

Below the span folder sits a dataset in the configured layout, exactly as
without spans. The folders before the first spec are the ExampleGen's
``input_base``; the rest prefixes every input split's pattern, so TFX's own
driver (locally and in the Vertex/Kubeflow container) resolves the newest span
and its newest version at run time and puts them on the Examples artifact as
its standard ``span`` and ``version`` properties. Nothing about the data is
frozen into a compiled pipeline.

TFX's ExampleGen ingests one span per run; ``data.spans.window`` > 1 adds the
train pairs of the spans before it (the newest ``window - 1`` that exist,
looked up at run time too) as the split ``earlier_train``, which the Trainer
trains on beside ``train``. Evaluation, statistics and drift stay on the newest
span. The matching itself is TFX's (``tfx.components.example_gen.utils``).
"""
from __future__ import annotations

import dataclasses
import json
import posixpath
import re
from typing import Dict, List, Optional, Tuple

from tfx.components.example_gen import utils as tfx_utils
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2, range_config_pb2

SPEC_START = "{"
SPANS_PROPERTY = "spans"     # on the Examples artifact: JSON list of the spans read, the newest first
DATA_SPAN_PROPERTY = "data_span"   # on a ModelBlessing: the newest span of the data the model was gated on
# Train pairs of the spans before the newest (data.spans.window > 1): trained on, never evaluated on.
EARLIER_TRAIN_SPLIT = "earlier_train"
_EARLIER_INPUT = "earlier"   # input split names of the earlier spans: earlier@<span>


class SpanPatternError(ValueError):
    """data.dataset_dir's span/version pattern is malformed, or matches no span folder; the message says how."""


@dataclasses.dataclass(frozen=True)
class SpanLocation:
    """``data.dataset_dir`` cut at its first spec: TFX's ``input_base`` and the span folder's pattern under it."""

    base: str      # the folders before the first spec
    pattern: str   # e.g. "span-{SPAN}" or "{YYYY}{MM}{DD}/v{VERSION}": relative to base

    @property
    def depth(self) -> int:
        return len(self.pattern.split("/"))

    def split_pattern(self, inner: str) -> str:
        """An input split's pattern (relative to base): the span folder, then the layout's pattern."""
        return f"{self.pattern}/{inner}"

    def flags(self) -> Tuple[bool, bool, bool]:
        """(span spec, date specs, version spec) as TFX reads them; raises SpanPatternError when malformed."""
        try:
            return tfx_utils.verify_split_pattern_specs(example_gen_pb2.Input.Split(name="x", pattern=self.pattern))
        except ValueError as error:
            raise SpanPatternError(f"{self.base}/{self.pattern}: {error}") from None

    def root_of(self, resolved_split_pattern: str) -> str:
        """The folder of the span a resolved split pattern reads (its first ``depth`` parts under base)."""
        return posixpath.join(self.base, *resolved_split_pattern.split("/")[:self.depth])

    def inner_of(self, resolved_split_pattern: str) -> str:
        """A resolved split pattern relative to its span folder (what the layout reads there)."""
        return "/".join(resolved_split_pattern.split("/")[self.depth:])


@dataclasses.dataclass(frozen=True)
class Span:
    """One span found under the location: its number, version (None without {VERSION}) and folder."""

    number: int
    version: Optional[int]
    root: str

    def describe(self) -> str:
        version = f" version {self.version}" if self.version is not None else ""
        return f"span {self.number}{version} ({self.root})"

    def as_dict(self) -> Dict:
        return {"span": self.number, "version": self.version, "location": self.root}


def parse(dataset_dir: str) -> Optional[SpanLocation]:
    """The location cut at its first path part with a spec, or None for a plain folder (no spans)."""
    scheme, sep, path = dataset_dir.partition("://")
    if not sep:
        scheme, path = "", dataset_dir
    parts = path.rstrip("/").split("/")
    first = next((index for index, part in enumerate(parts) if SPEC_START in part), None)
    if first is None:
        return None
    base = "/".join(parts[:first]) or "/"
    location = SpanLocation(base=f"{scheme}://{base}" if sep else base, pattern="/".join(parts[first:]))
    if not location.base.strip("/") or location.base.endswith("://"):
        raise SpanPatternError(f"{dataset_dir}: a span pattern needs a fixed folder before it (e.g. "
                               "gs://bucket/facades/span-{SPAN}), not one at the top of the file system")
    is_span, is_date, _ = location.flags()
    if not (is_span or is_date):
        raise SpanPatternError(f"{dataset_dir}: '{SPEC_START}' is only allowed in TFX's specs {{SPAN}}, "
                               "{SPAN:width}, {YYYY}{MM}{DD} and {VERSION}")
    leftover = re.sub(tfx_utils.VERSION_FULL_REGEX, "", re.sub(tfx_utils.SPAN_FULL_REGEX, "", location.pattern))
    for spec in tfx_utils.DATE_SPECS:
        leftover = leftover.replace(spec, "")
    if SPEC_START in leftover or "}" in leftover or any(ch in leftover + location.base for ch in "*?["):
        raise SpanPatternError(f"{dataset_dir}: only TFX's specs may vary in the span folder's name "
                               "({SPAN}, {SPAN:width}, {YYYY}{MM}{DD}, {VERSION}); no other braces or wildcards")
    return location


def range_config(pinned_span: Optional[int]) -> range_config_pb2.RangeConfig:
    """TFX's range config for the ExampleGen: the newest span, or one pinned span (a backfill)."""
    if pinned_span is None:
        return range_config_pb2.RangeConfig(rolling_range=range_config_pb2.RollingRange(num_spans=1))
    return range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
        start_span_number=pinned_span, end_span_number=pinned_span))


def _fill(pattern: str, flags: Tuple[bool, bool, bool], span_tokens: List[str], version_token: Optional[str]) -> str:
    """``pattern`` with the tokens matched in a path (zero padding kept), as TFX's driver fills split patterns."""
    is_span, is_date, is_version = flags
    if is_span:
        pattern = re.sub(tfx_utils.SPAN_FULL_REGEX, span_tokens[0], pattern)
    elif is_date:
        for spec, value in zip(tfx_utils.DATE_SPECS, span_tokens):
            pattern = pattern.replace(spec, value)
    if is_version and version_token is not None:
        pattern = re.sub(tfx_utils.VERSION_FULL_REGEX, version_token, pattern)
    return pattern


def available(location: SpanLocation, inner: str) -> List[Span]:
    """Every span with files matching ``inner`` under its folder, at its newest version, newest span first."""
    flags = location.flags()
    split = example_gen_pb2.Input.Split(name="spans", pattern=location.split_pattern(inner))
    glob, regex = tfx_utils._create_matching_glob_and_regex(  # pylint: disable=protected-access
        uri=location.base, split=split, is_match_span=flags[0], is_match_date=flags[1], is_match_version=flags[2],
        range_config=None)
    newest: Dict[int, Tuple[Optional[int], List[str], Optional[str]]] = {}
    for path in fileio.glob(glob):
        try:
            tokens, number, version_token, version = tfx_utils._find_matched_span_version_from_path(  # pylint: disable=protected-access
                path, regex, *flags)
        except ValueError:
            continue   # a folder that looks like a span but has no number (span-latest/): not a span
        known = newest.get(number)
        if known is None or (version is not None and (known[0] is None or version > known[0])):
            newest[number] = (version, tokens, version_token)
    return [Span(number, version, posixpath.join(location.base, _fill(location.pattern, flags, tokens, token)))
            for number, (version, tokens, token) in sorted(newest.items(), reverse=True)]


def resolve(location: SpanLocation, pinned: Optional[int] = None, inner: str = "*") -> Span:
    """The span a run reads now: the newest with anything under its folder, or the pinned one."""
    found = available(location, inner)
    chosen = [span for span in found if pinned is None or span.number == pinned]
    if not chosen:
        seen = ", ".join(str(span.number) for span in found[:10]) or "none"
        what = (f"has no span {pinned} (data.spans.pinned)" if pinned is not None
                else "matches no span folder with files")
        raise SpanPatternError(f"{location.base}/{location.pattern} {what}; spans found: {seen}. A span folder is "
                               "named by the pattern with a number (or a date) in place of the spec, and holds "
                               "the dataset in data.layout")
    return chosen[0]


def earlier(location: SpanLocation, inner: str, newest: int, count: int) -> List[Span]:
    """The ``count`` newest spans before span ``newest`` that have files matching ``inner``, newest first."""
    if count <= 0:
        return []
    return [span for span in available(location, inner) if span.number < newest][:count]


def spans_of(examples) -> List[Dict]:
    """The ``spans`` an Examples artifact lists ([{span, version, location, role}], newest first); [] without."""
    if SPANS_PROPERTY not in examples.mlmd_artifact.custom_properties:
        return []
    try:
        return list(json.loads(examples.get_string_custom_property(SPANS_PROPERTY)))
    except ValueError:
        return []


def describe_spans(listed: List[Dict]) -> str:
    """'span 3 (newest), span 2 (earlier_train)' for summaries and reports; '' without spans."""
    return ", ".join(f"span {entry['span']}" + (f" v{entry['version']}" if entry.get("version") is not None else "")
                     + f" ({entry.get('role')})" for entry in listed)


def earlier_input_split(span: Span) -> str:
    """The input split name of an earlier span's files: distinct per span, so stems never pair across spans."""
    return f"{_EARLIER_INPUT}@{span.number}"


def is_earlier_input(split_name: str) -> bool:
    return split_name.startswith(f"{_EARLIER_INPUT}@")
