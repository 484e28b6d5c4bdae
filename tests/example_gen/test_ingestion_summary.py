"""The ingestion audit's verdict and wording, and its line in the run summary."""
from ml_metadata.proto import metadata_store_pb2

from components.example_gen import quarantine as q
from pipeline import run_summary


def _audit(**changes):
    audit = q.IngestionAudit(dataset="/d", layout="aligned", examples={"train": 8, "eval": 2}, valid_items=10,
                             quarantined={q.ODD_WIDTH: 1, q.EMPTY_FILE: 2}, resized_pairs=0, report="/r/quarantine.csv")
    for key, value in changes.items():
        setattr(audit, key, value)
    return audit


def test_verdict():
    assert _audit().failure(0.5, ["train", "eval"]) is None
    assert "below data.min_valid_fraction = 90.0%" in _audit().failure(0.9, ["train", "eval"])
    no_eval = _audit(examples={"train": 10, "eval": 0})
    assert "no valid pair in split(s) ['eval']" in no_eval.failure(0, ["train", "eval"])
    nothing = _audit(examples={"train": 0, "eval": 0}, valid_items=0, quarantined={q.OUTSIDE_LAYOUT: 5})
    assert nothing.failure(0, ["train", "eval"]) == (
        "no valid pair (5 files sit where the aligned layout does not look: check data.layout and data.dataset_dir)")


def test_description_and_json_round_trip():
    audit = _audit(resized_pairs=1, ignored_files=2)
    assert audit.describe() == (
        "10 pairs (eval 2, train 8) from 10 of 13 files (76.9% usable); quarantined 3: empty_file 2, odd_width 1; "
        "kept 1 pair(s) of different sizes (Transform resizes both); ignored 2 non-data file(s) outside the layout")
    assert q.IngestionAudit.from_json(audit.to_json()) == audit


def test_report_rows_are_one_line_csv():
    row = q.Rejection("/d/a,b.png", q.CORRUPT_IMAGE, 'bad "data"\nmore', "train").csv_row()
    assert row == 'train,"/d/a,b.png",corrupt_image,"bad ""data"" more"'
    assert q.read_report(q.csv_header() + "\n" + row) == [
        {"split": "train", "file": "/d/a,b.png", "reason": "corrupt_image", "detail": 'bad "data" more'}]


def test_run_summary_shows_the_ingestion_line():
    artifact = metadata_store_pb2.Artifact()
    artifact.custom_properties[q.AUDIT_PROPERTY].string_value = _audit().to_json()
    line = run_summary._ingestion_line(artifact)
    assert line == _audit().describe() + "; quarantine report: /r/quarantine.csv"
    assert run_summary._ingestion_line(metadata_store_pb2.Artifact()) is None
    summary = run_summary.RunSummary(run_id="r", blessed=None, blessing_message="", pushed_model=None, model_uri=None,
                                     model_run_uri=None, evaluation_uri=None, report=None, metrics={}, ingestion=line)
    assert summary.lines()[1] == f"data: {line}"
