"""The gating ExampleValidator: TFX's validation, then drift against the last blessed model's data, then a verdict.

Runs the real executor on real TFDV statistics and a real schema artifact.
"""
import json
import os

import pytest
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import io_utils

from components.example_gen import spans
from components.example_validator import executor, report, schema_file
from components.example_validator.settings import DataValidationSettings
from components.typed_settings import pack
from pipeline.config import load_config
from tests.example_validator.conftest import pair_examples, statistics_of
from tests.support.paths import DEFAULT_CONFIG

CONFIG = load_config(DEFAULT_CONFIG)


def statistics_artifact(folder, by_split):
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(folder)
    artifact.split_names = artifact_utils.encode_split_names(sorted(by_split))
    for split, examples in by_split.items():
        path = os.path.join(artifact.uri, f"Split-{split}", executor.STATISTICS_FILE)
        io_utils.write_bytes_file(path, statistics_of(examples).SerializeToString())
    return artifact


def schema_artifact(folder):
    artifact = standard_artifacts.Schema()
    artifact.uri = str(folder)
    schema = schema_file.read(CONFIG.resolve(CONFIG.data_validation.schema_file))
    io_utils.write_pbtxt_file(os.path.join(artifact.uri, "schema.pbtxt"), schema)
    return artifact


def blessing_of(folder, statistics):
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(folder)
    blessing.id = 41
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_string_custom_property(executor.DATA_STATISTICS_URI, statistics.uri)
    blessing.set_int_custom_property(executor.DATA_STATISTICS_ID, 7)
    return blessing


def validate(tmp_path, current, baseline_blessing=None, **settings):
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "ExampleValidator" / "anomalies" / "12")
    section = DataValidationSettings(**{**CONFIG.data_validation.__dict__, **settings})
    inputs = {executor.STATISTICS: [current], executor.SCHEMA: [schema_artifact(tmp_path / "schema")]}
    if baseline_blessing is not None:
        inputs[executor.BASELINE_BLESSING] = [baseline_blessing]
    output = executor.Executor().Do(inputs, {executor.ANOMALIES: [anomalies]},
                                    {executor.CUSTOM_CONFIG: json.dumps(pack(data_validation=section))})
    # What the launcher publishes to ML Metadata carries the verdict (the Evaluator and the Pusher read it).
    published, = output.output_artifacts[executor.ANOMALIES].artifacts
    assert executor.VALIDATION_PROPERTY in published.custom_properties
    return anomalies, json.loads(open(os.path.join(anomalies.uri, executor.VALIDATION_FILE)).read())


@pytest.fixture(scope="module")
def rgb_40px(tmp_path_factory):
    folder = tmp_path_factory.mktemp("baseline")
    return statistics_artifact(folder, {"train": pair_examples(40, size=40), "eval": pair_examples(3, seed=1)})


def test_good_data_passes_and_says_drift_was_not_measured_without_a_blessed_model(tmp_path, rgb_40px):
    anomalies, result = validate(tmp_path, rgb_40px)
    assert result["anomalies"] == {"eval": [], "train": []}
    assert result["drift"]["features"] == [] and "no blessed model" in result["drift"]["note"]
    assert json.loads(anomalies.get_string_custom_property(executor.VALIDATION_PROPERTY)) == result
    assert os.path.isfile(os.path.join(anomalies.uri, report.REPORT_FILE))


def test_the_same_kind_of_data_has_little_drift_from_the_blessed_models(tmp_path, rgb_40px):
    current = statistics_artifact(tmp_path / "current", {"train": pair_examples(40, size=40, seed=5)})
    _, result = validate(tmp_path, current, blessing_of(tmp_path / "blessing", rgb_40px))
    measured = {row["feature"]: row for row in result["drift"]["features"]}
    assert set(measured) == set(CONFIG.data_validation.drift_features)
    assert all(not row["drifted"] for row in measured.values())
    assert measured["input_width"]["value"] == pytest.approx(0.0)
    assert result["drift"]["baseline"] == {"model_blessing_id": 41, "statistics_uri": rgb_40px.uri,
                                           "statistics_id": 7, "span": None}   # no span pattern


def test_grayscale_data_is_stopped_naming_the_feature_and_the_anomaly(tmp_path, rgb_40px):
    current = statistics_artifact(tmp_path / "current", {"train": pair_examples(8, channels=1)})
    with pytest.raises(executor.DataValidationError) as error:
        validate(tmp_path, current)
    message = str(error.value)
    assert "train split: input_channels: Out-of-range values" in message
    assert "target_channels" in message and "python -m pipeline schema" in message
    kept = message.split("Validation report: ")[1].split(" ")[0].rstrip(".")
    assert os.path.isfile(kept) and f"{os.sep}{executor.FAILED_RUNS_FOLDER}{os.sep}12{os.sep}" in kept
    assert "input_channels" in open(kept).read()


def test_a_different_size_class_is_stopped_as_drift(tmp_path, rgb_40px):
    current = statistics_artifact(tmp_path / "current", {"train": pair_examples(8, size=96, seed=3)})
    with pytest.raises(executor.DataValidationError, match=r"input_width: drift 1\.000 > data_validation.max_drift 0.5"):
        validate(tmp_path, current, blessing_of(tmp_path / "blessing", rgb_40px))


def test_with_spans_the_drift_message_names_the_newest_span_and_the_blessed_models_span(tmp_path, rgb_40px):
    current = statistics_artifact(tmp_path / "current", {"train": pair_examples(8, size=96, seed=3)})
    current.span = 3                                    # StatisticsGen copies the Examples' span
    blessing = blessing_of(tmp_path / "blessing", rgb_40px)
    blessing.set_int_custom_property(spans.DATA_SPAN_PROPERTY, 2)   # the Evaluator names the data's newest span
    with pytest.raises(executor.DataValidationError,
                       match=r"input_width: drift 1\.000 > data_validation.max_drift 0.5; .*drift measured on "
                             r"span 3 vs span 2, the data of the last blessed model"):
        validate(tmp_path, current, blessing)
    kept = tmp_path / "ExampleValidator" / executor.FAILED_RUNS_FOLDER / "12"
    result = json.loads((kept / executor.VALIDATION_FILE).read_text())
    assert (result["drift"]["span"], result["drift"]["baseline"]["span"]) == (3, 2)
    assert "span 3 vs span 2" in (kept / "validation.html").read_text()


def test_brightness_drift_stops_the_run_only_with_enough_examples(tmp_path):
    day = statistics_artifact(tmp_path / "day", {"train": pair_examples(20, size=40, seed=1)})
    night = statistics_artifact(tmp_path / "night", {"train": pair_examples(20, size=40, seed=2, dim=0.2)})
    _, result = validate(tmp_path / "few", night, blessing_of(tmp_path / "blessing", day))   # 20 < 30
    brightness = {row["feature"]: row for row in result["drift"]["features"]}["input_brightness"]
    assert brightness["value"] > 0.5 and not brightness["drifted"] and brightness["threshold"] is None
    assert "reported only: 20 examples < data_validation.min_drift_examples 30" in brightness["note"]
    assert "reported only" in (tmp_path / "few" / "ExampleValidator" / "anomalies" / "12" /
                               "validation.html").read_text()
    with pytest.raises(executor.DataValidationError, match=r"input_brightness: drift \d\.\d+ > data_validation"):
        validate(tmp_path / "gated", night, blessing_of(tmp_path / "blessing", day), min_drift_examples=20)


def test_with_max_drift_null_drift_is_reported_and_the_run_goes_on(tmp_path, rgb_40px):
    current = statistics_artifact(tmp_path / "current", {"train": pair_examples(8, size=96, seed=3)})
    _, result = validate(tmp_path, current, blessing_of(tmp_path / "blessing", rgb_40px), max_drift=None)
    widths = [row for row in result["drift"]["features"] if row["feature"] == "input_width"]
    assert widths[0]["value"] == pytest.approx(1.0) and not widths[0]["drifted"]


def test_with_stop_on_anomalies_off_anomalies_are_recorded_not_fatal(tmp_path):
    current = statistics_artifact(tmp_path / "current", {"train": pair_examples(4, channels=1)})
    _, result = validate(tmp_path, current, stop_on_anomalies=False)
    assert {row["feature"] for row in result["anomalies"]["train"]} == {"input_channels", "target_channels"}


def test_a_blessing_without_statistics_is_noted_not_fatal(tmp_path, rgb_40px):
    blessing = blessing_of(tmp_path / "blessing", rgb_40px)
    blessing.mlmd_artifact.custom_properties.pop(executor.DATA_STATISTICS_URI)
    _, result = validate(tmp_path, rgb_40px, blessing)
    assert result["drift"]["features"] == [] and "names no data statistics" in result["drift"]["note"]
