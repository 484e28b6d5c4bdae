"""The model card: one self-contained page that says what the version is, how it was judged, and its limits."""
import base64
import re

from components import features
from components.pusher import lineage_record as lr
from components.pusher.model_card import write_model_card
from pipeline.config import load_config
from tests.support import images, paths

MALICIOUS_LOCATION = '/data/<script>alert("x")</script>'
MODEL_ID, BLESSING_ID = 9, 11


def _stats(l1: float, psnr: float, ssim: float, count: int = 4) -> dict:
    return {"l1": {"mean": l1, "p10": l1 - 2, "p90": l1 + 2, "count": count},
            "psnr": {"mean": psnr, "p10": psnr - 1, "p90": psnr + 1, "count": count},
            "ssim": {"mean": ssim, "p10": ssim - 0.1, "p90": ssim + 0.1, "count": count}}


def full_record(tmp_path) -> dict:
    """Every section filled, as the Pusher builds it after a second run (a previous blessed model exists)."""
    uri = lambda node, role, n: str(tmp_path / "tfx_root" / node / role / str(n))  # noqa: E731
    artifacts = {lr.EXAMPLES: {"id": 2, "type": "Examples", "uri": uri("FileBasedExampleGen", "examples", 1)},
                 lr.SCHEMA: {"id": 3, "type": "Schema", "uri": uri("CuratedSchemaImporter", "schema", 3)},
                 lr.TRANSFORM_GRAPH: {"id": 5, "type": "TransformGraph", "uri": uri("Transform", "transform_graph", 5)},
                 lr.MODEL: {"id": MODEL_ID, "type": "Model", "uri": uri("Trainer", "model", 7)},
                 lr.MODEL_BLESSING: {"id": BLESSING_ID, "type": "ModelBlessing",
                                     "uri": uri("ImageQualityEvaluator", "blessing", 10)}}
    checks = [{"metric": "l1", "statistic": "mean", "op": "<=", "threshold": 23.8, "value": 10.977, "passed": True,
               "kind": "relative", "baseline": 31.7365, "baseline_name": "mean target image", "margin": None,
               "relative_margin": 0.25},
              {"metric": "psnr", "statistic": "mean", "op": ">=", "threshold": 30.0, "value": 24.6385, "passed": False,
               "kind": "absolute"},
              {"metric": "ssim", "statistic": "p10", "op": ">=", "threshold": 0.7027, "value": 0.7315, "passed": True,
               "kind": "regression", "baseline": 0.7327}]
    return lr.build_record(
        served={"model_name": "pix2pix", "version": 1733262000, "path": str(tmp_path / "serving/pix2pix/1733262000")},
        pipeline={"name": "pix2pix", "root": str(tmp_path / "tfx_root"), "run_id": "run-7", "metadata_path": None},
        code={"commit": "c0ffee" * 6, "dirty": False, "source": "git"},
        data={"location": MALICIOUS_LOCATION, "layout": "two_folder",
              "splits": {"train": {"pairs": 316, "fingerprint": "sha256-sum:316:" + "ab" * 32},
                         "test": {"pairs": 38, "fingerprint": "sha256-sum:38:" + "cd" * 32}},
              "quarantined": {"unreadable": 2}, "quarantine_report": "/q/quarantine.csv",
              "input_fingerprint": "split:single_split,num_files:800"},
        validation={"schema": uri("CuratedSchemaImporter", "schema", 3), "schema_file": "data/schema/schema.pbtxt",
                    "anomalies": {"train": [{"feature": "input_channels", "anomaly": "Out-of-range values",
                                             "description": "values < 3"}]},
                    "drift": {"baseline": {"model_blessing_id": 4}, "max_drift": 0.5, "split": "train",
                              "features": [{"feature": "input_width", "value": 0.012, "threshold": 0.5,
                                            "drifted": False}], "note": ""}},
        training={"export": "best", "exported_epoch": 30, "total_epochs": 30, "reason": "best validation l1 mean",
                  "best_value": 10.94},
        evaluation={"split": "test", "num_examples": 38, "blessed": True, "message": "blessed: all thresholds passed",
                    "candidate": _stats(10.977, 24.6385, 0.8194, 38),
                    "baseline_model": _stats(11.31, 24.36, 0.7327, 38),
                    "baselines": {"identity (output = input)": _stats(112.0989, 6.0817, -0.0599, 38),
                                  "mean target image": _stats(31.7365, 16.1938, 0.1955, 38)},
                    "checks": checks},
        config=load_config(paths.DEFAULT_CONFIG).as_dict(), artifacts=artifacts,
        executions=[{"id": 7, "type": "tfx.components.trainer.component.Trainer", "node": "Trainer",
                     "produced": [lr.MODEL]},
                    {"id": 14, "type": "components.pusher.component.AtomicPusher", "node": "Pusher", "produced": []}])


def _write(tmp_path, record, grid=None) -> str:
    path = write_model_card(record, str(tmp_path / "staging" / lr.ASSETS_EXTRA / lr.MODEL_CARD_FILE), grid)
    assert path.endswith(lr.MODEL_CARD_FILE)
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def test_the_card_shows_metrics_checks_limits_data_and_lineage(tmp_path):
    grid = tmp_path / "samples.png"
    grid.write_bytes(images.png(16, 48))
    record = full_record(tmp_path)
    page = _write(tmp_path, record, str(grid))

    assert "<h1>pix2pix version 1733262000</h1>" in page and "BLESSED" in page
    for value in ("10.98", "24.64", "0.8194", "11.31", "112.1", "31.74", "0.1955", "-0.0599"):
        assert value in page                       # candidate, previous blessed, both trivial baselines
    assert "Previous blessed model" in page and "identity (output = input)" in page
    assert "mean &lt;= 23.8 (mean target image 31.74, 25 % better)" in page
    assert "mean &gt;= 30" in page and "FAIL" in page and "(last blessed 0.7327)" in page
    assert "Intended use" in page and "Limits" in page
    assert "held-out examples" in page and "38 held-out examples" in page
    assert "64 &times; 64" in page                 # transform.image_size of the default config
    for signature in (features.SERVING_DEFAULT, features.SERVING_STOCHASTIC, features.SERVING_EXAMPLES):
        assert signature in page
    assert "sha256-sum:316:" + "ab" * 32 in page and "unreadable 2" in page
    assert "input_channels" in page and "input_width" in page and "0.012" in page
    assert "best_value" in page and "10.94" in page            # the training summary, key by key
    assert "c0ffee" * 6 in page and "(clean)" in page and "tfx" in page
    assert ">9<" in page and ">11<" in page and "AtomicPusher" in page  # ML Metadata ids and executions


def test_every_recorded_value_is_escaped(tmp_path):
    page = _write(tmp_path, full_record(tmp_path))
    assert "<script>" not in page
    assert "/data/&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_the_sample_grid_is_embedded_so_the_card_travels_alone(tmp_path):
    png = images.png(16, 48, seed=3)
    grid = tmp_path / "samples.png"
    grid.write_bytes(png)
    page = _write(tmp_path, full_record(tmp_path), str(grid))
    (encoded,) = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert base64.b64decode(encoded) == png
    assert not re.search(r'<img src="(?!data:)', page)   # no file beside the page to lose
    assert "<style>" in page and "<link" not in page


def test_few_held_out_examples_are_called_noisy(tmp_path):
    record = full_record(tmp_path)
    record["evaluation"]["num_examples"] = 4
    page = _write(tmp_path, record)
    assert "means over 4 held-out examples" in page and "50 %" in page and "noise" in page


def test_a_record_of_nulls_still_renders(tmp_path):
    record = lr.build_record(served={"model_name": "pix2pix", "version": 1, "path": None}, pipeline={}, code={},
                             data={"location": None, "splits": None, "quarantined": None},
                             validation={"anomalies": None, "drift": None}, training=None,
                             evaluation={"blessed": None, "candidate": None, "baseline_model": None,
                                         "baselines": None, "checks": None, "num_examples": None},
                             config={}, artifacts={}, executions=[])
    page = _write(tmp_path, record)
    assert "<h1>pix2pix version 1</h1>" in page and "blessing unknown" in page
    assert "no training summary recorded" in page and "no checks recorded" in page
    assert "Samples" not in page and "not recorded" in page
