"""Span and version patterns in data.dataset_dir: TFX's own resolution, run by the real driver and executor.

A dataset folder gains one folder per period; each run reads the newest span (at its newest version), and
with data.spans.window > 1 also the train pairs of the spans before it, as the split earlier_train.
"""
import datetime
import json

import pytest

from components.example_gen import executor, spans
from components.typed_settings import ConfigError
from pipeline import dataset
from pipeline.config import load_config
from tests.support import images, paths
from tests.support.ingestion import run_example_gen

SMALL = dict(min_image_side=8, min_valid_fraction=0.3)


def _span(root, name, stems, seed=0, splits=("train", "val", "test")):
    """A two_folder span folder with split folders; every pair's pixels differ by span (seed)."""
    for split in splits:
        folder = root / name / split
        for role in ("input", "target"):
            (folder / role).mkdir(parents=True, exist_ok=True)
        for index, stem in enumerate(stems):
            for offset, role in enumerate(("input", "target")):
                pixels = images.random_pixels(8, 8, seed=seed * 1000 + 10 * index + offset + hash(split) % 97)
                (folder / role / f"{stem}.png").write_bytes(images.encode(pixels))
    return root / name


def _span_and_version(run):
    """What TFX's driver put on the Examples (custom properties) and the executor's typed copy agree."""
    artifact = run.artifact
    custom = (artifact.get_int_custom_property("span"), artifact.get_int_custom_property("version"))
    assert (artifact.span, artifact.version) == custom
    return custom


def _spans_of(run):
    return json.loads(run.artifact.get_string_custom_property(spans.SPANS_PROPERTY))


# ---- the pattern ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset_dir, base, pattern", [
    ("/data/facades/span-{SPAN}", "/data/facades", "span-{SPAN}"),
    ("gs://bucket/facades/{YYYY}-{MM}-{DD}/v{VERSION}", "gs://bucket/facades", "{YYYY}-{MM}-{DD}/v{VERSION}"),
    ("gs://bucket/facades/span-{SPAN:3}/", "gs://bucket/facades", "span-{SPAN:3}"),
])
def test_the_location_is_cut_at_its_first_spec(dataset_dir, base, pattern):
    location = spans.parse(dataset_dir)
    assert (location.base, location.pattern) == (base, pattern)
    assert location.split_pattern("val/*/*") == f"{pattern}/val/*/*"


def test_a_plain_folder_has_no_spans():
    assert spans.parse("/data/facades") is None and spans.parse("gs://bucket/facades") is None


@pytest.mark.parametrize("dataset_dir, message", [
    ("/data/v{VERSION}", "Version spec provided, but Span or Date spec is not present"),
    ("/data/{SPAN}-{SPAN}", "Only one {SPAN} is allowed"),
    ("/data/{YYYY}-{MM}", "Exactly one of each date spec"),
    ("/data/span-{SPAN}-{spam}", "only TFX's specs may vary"),
    ("/data/span-*/{SPAN}", "only TFX's specs may vary"),
    ("/data/{span}", "only allowed in TFX's specs"),
    ("/{SPAN}", "needs a fixed folder before it"),
])
def test_a_malformed_pattern_is_refused_naming_the_key(tmp_path, dataset_dir, message):
    with pytest.raises(ConfigError, match=r"data.dataset_dir: got .*" + message.replace("{", r"\{")
                       .replace("}", r"\}").replace("(", r"\(")):
        load_config(paths.DEFAULT_CONFIG, [f"data.dataset_dir={dataset_dir}"])


def test_span_settings_without_a_pattern_are_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"data.spans: .*window: 1 and pinned: null when dataset_dir has no span"):
        load_config(paths.DEFAULT_CONFIG, [f"data.dataset_dir={tmp_path}", "data.spans.window=3"])


# ---- resolution (TFX's driver) and ingestion ------------------------------------------------------------

def test_the_newest_span_is_read_and_carried_on_the_artifact(tmp_path):
    _span(tmp_path, "span-1", ["a", "b"], seed=1)
    _span(tmp_path, "span-2", ["c", "d", "e"], seed=2)
    _span(tmp_path, "span-10", ["f"], seed=10)           # numbers, not text: 10 is newer than 2
    run = run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", **SMALL)
    assert _span_and_version(run)[0] == 10 and run.ids("train") == ["f"] and run.ids("test") == ["f"]
    assert run.audit.dataset == str(tmp_path / "span-10")
    assert _spans_of(run) == [{"span": 10, "version": None, "location": str(tmp_path / "span-10"),
                               "role": "newest"}]


def test_the_newest_version_of_the_newest_span_is_read(tmp_path):
    _span(tmp_path, "span-1/v1", ["a"], seed=1)
    _span(tmp_path, "span-2/v1", ["b"], seed=2)
    _span(tmp_path, "span-2/v2", ["c"], seed=3)          # span 2 delivered again, corrected
    run = run_example_gen(tmp_path / "span-{SPAN}" / "v{VERSION}", tmp_path / "work", **SMALL)
    assert _span_and_version(run) == (2, 2) and run.ids("train") == ["c"]


def test_date_spans_are_days_since_the_epoch(tmp_path):
    _span(tmp_path, "2026-11-23", ["a"], seed=1)
    _span(tmp_path, "2026-11-30", ["b"], seed=2)
    run = run_example_gen(tmp_path / "{YYYY}-{MM}-{DD}", tmp_path / "work", **SMALL)
    assert _span_and_version(run)[0] == (datetime.date(2026, 11, 30) - datetime.date(1970, 1, 1)).days
    assert run.ids("train") == ["b"]


def test_a_pinned_span_is_read_instead_of_the_newest(tmp_path):
    _span(tmp_path, "span-1", ["a"], seed=1)
    _span(tmp_path, "span-2", ["b"], seed=2)
    run = run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", spans={"window": 1, "pinned": 1}, **SMALL)
    assert _span_and_version(run)[0] == 1 and run.ids("train") == ["a"]


def test_a_window_adds_the_earlier_spans_train_pairs_only(tmp_path):
    _span(tmp_path, "span-1", ["a", "b"], seed=1)
    _span(tmp_path, "span-2", ["a", "c"], seed=2)        # the same stem in two spans: two different pairs
    _span(tmp_path, "span-3", ["d"], seed=3)
    run = run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", spans={"window": 2, "pinned": None},
                          **SMALL)
    assert _span_and_version(run)[0] == 3 and run.ids("train") == ["d"] and run.ids("test") == ["d"]
    assert run.ids(spans.EARLIER_TRAIN_SPLIT) == ["a", "c"]               # span 2's train split, not span 1
    assert [entry["span"] for entry in _spans_of(run)] == [3, 2]
    assert [entry["role"] for entry in _spans_of(run)] == ["newest", spans.EARLIER_TRAIN_SPLIT]
    assert run.audit.examples[spans.EARLIER_TRAIN_SPLIT] == 2 and not run.rows

    wide = run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "wide", spans={"window": 5, "pinned": None},
                           **SMALL)
    assert wide.ids(spans.EARLIER_TRAIN_SPLIT) == ["a", "a", "b", "c"]   # every span there is, no more


def test_the_first_span_of_a_window_trains_alone(tmp_path):
    _span(tmp_path, "span-1", ["a"], seed=1)
    run = run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", spans={"window": 3, "pinned": None},
                          **SMALL)
    assert run.error is None and run.ids("train") == ["a"] and run.ids(spans.EARLIER_TRAIN_SPLIT) == []
    assert spans.EARLIER_TRAIN_SPLIT in json.loads(run.artifact.split_names)


def test_hash_split_spans_keep_only_the_earlier_spans_train_bucket(tmp_path):
    for number in (1, 2):
        images.write_two_folder_dataset(tmp_path / f"span-{number}", [f"s{number}_{i}" for i in range(40)])
    run = run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", split_mode="hash",
                          spans={"window": 2, "pinned": None}, **SMALL)
    earlier = run.ids(spans.EARLIER_TRAIN_SPLIT)
    assert earlier and all(pair.startswith("s1_") for pair in earlier) and len(earlier) < 40
    newest = run.ids("train") + run.ids("eval") + run.ids("test")
    assert sorted(newest) == sorted(f"s2_{i}" for i in range(40))
    alone = run_example_gen(tmp_path / "span-1", tmp_path / "alone", split_mode="hash", **SMALL)
    assert alone.ids("train") == earlier            # the pairs a span trained on, and no others


def test_a_newest_span_without_every_split_stops_the_driver_naming_it(tmp_path):
    _span(tmp_path, "span-1", ["a"], seed=1)
    _span(tmp_path, "span-2", ["b"], seed=2, splits=("train", "val"))   # test/ not landed yet
    with pytest.raises(ValueError, match=r"newest span/version differs between splits: .*span 2.*span 1"):
        run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", split_mode="folders", **SMALL)


def test_zero_padded_folders_need_the_width_in_the_spec(tmp_path):
    _span(tmp_path, "span-007", ["a"], seed=1)
    with pytest.raises(ValueError, match=r"zero-padded numbers need the width in the spec"):
        run_example_gen(tmp_path / "span-{SPAN}", tmp_path / "work", **SMALL)
    run = run_example_gen(tmp_path / "span-{SPAN:3}", tmp_path / "padded", **SMALL)
    assert _span_and_version(run)[0] == 7 and run.audit.dataset == str(tmp_path / "span-007")


# ---- what the local runner checks before building the pipeline -----------------------------------------

def test_the_runner_checks_the_span_a_run_reads_and_never_generates_one(tmp_path):
    config = load_config(paths.DEFAULT_CONFIG, [f"data.dataset_dir={tmp_path}/span-{{SPAN}}"])
    with pytest.raises(ConfigError, match=r"data.dataset_dir: .*span-\{SPAN\} matches no span folder with files"):
        dataset.ensure_dataset(config)
    _span(tmp_path, "span-4", ["a"], seed=1, splits=("train", "val"))
    assert dataset.ensure_dataset(config) == str(tmp_path / "span-4")
    resolved = dataset.resolve_split_mode(config).data
    assert resolved.split_mode == "folders" and set(resolved.split_folders) == {"train", "eval"}
    pinned = load_config(paths.DEFAULT_CONFIG, [f"data.dataset_dir={tmp_path}/span-{{SPAN}}",
                                                "data.spans.pinned=3"])
    with pytest.raises(ConfigError, match=r"has no span 3 \(data.spans.pinned\); spans found: 4"):
        dataset.ensure_dataset(pinned)


def test_the_run_summary_lists_the_spans_read():
    from ml_metadata.proto import metadata_store_pb2
    from pipeline import run_summary

    artifact = metadata_store_pb2.Artifact()
    assert run_summary._spans_line(artifact) is None                      # no span pattern: no line
    artifact.custom_properties[spans.SPANS_PROPERTY].string_value = json.dumps(
        [{"span": 3, "version": 2, "location": "/d/span-3/v2", "role": "newest"},
         {"span": 2, "version": None, "location": "/d/span-2", "role": spans.EARLIER_TRAIN_SPLIT}])
    line = run_summary._spans_line(artifact)
    assert line == "span 3 v2 (newest), span 2 (earlier_train)"
    summary = run_summary.RunSummary(run_id="r", blessed=None, blessing_message="", pushed_model=None, model_uri=None,
                                     model_run_uri=None, evaluation_uri=None, report=None, metrics={}, spans=line)
    assert summary.lines()[1] == f"spans: {line}"


def test_outputs_may_not_sit_where_spans_land(tmp_path):
    from pipeline import output_paths

    config = load_config(paths.DEFAULT_CONFIG, [f"data.dataset_dir={tmp_path}/facades/span-{{SPAN}}",
                                                f"pipeline.root={tmp_path}/facades/tfx_root"])
    with pytest.raises(output_paths.OutputPathError, match=r"pipeline.root \(.*\) is inside data.dataset_dir \(.*facades\)"):
        output_paths.check_output_paths(config)
