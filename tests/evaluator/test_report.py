"""The HTML report and its PNG figures."""
import pathlib
import re

import numpy as np
import pytest
from PIL import Image

from components.evaluator import metrics as m
from components import visuals
from components.evaluator import report


def _stats(mean, p10, p90, count=20):
    return {"mean": mean, "p10": p10, "p90": p90, "min": p10 - 1, "max": p90 + 1, "count": count}


METRICS = {
    "candidate": {
        m.L1: _stats(12.5, 8.0, 19.25),
        m.PSNR: _stats(24.5, 19.75, 29.0),
        m.SSIM: _stats(0.7321, 0.6012, 0.8456),
    },
    "baseline_model": {
        m.L1: _stats(14.0, 9.0, 21.0),
        m.PSNR: _stats(23.0, 18.0, 27.0),
        m.SSIM: _stats(0.7, 0.55, 0.8),
    },
}
BASELINES = {
    "identity (output = input)": {
        m.L1: _stats(60.0, 40.0, 80.0),
        m.PSNR: _stats(11.0, 9.0, 13.0),
        m.SSIM: _stats(0.2, 0.1, 0.3),
    },
    "mean target": {
        m.L1: _stats(45.0, 30.0, 60.0),
        m.PSNR: _stats(14.0, 12.0, 16.0),
        m.SSIM: _stats(0.3, 0.2, 0.4),
    },
}
CHECKS = [
    {"metric": m.SSIM, "statistic": "mean", "op": ">=", "threshold": 0.65, "value": 0.7321,
     "passed": True, "kind": "absolute"},
    {"metric": m.PSNR, "statistic": "p10", "op": ">=", "threshold": 20.0, "value": 19.75,
     "passed": False, "kind": "absolute"},
    {"metric": m.L1, "statistic": "mean", "op": "<=", "threshold": 14.5, "value": 12.5,
     "passed": True, "kind": "regression"},
]


def _solid(color, size=(16, 24)):
    image = np.zeros((*size, 3), np.uint8)
    image[...] = color
    return image


def _write_grid(path, n_rows):
    rows = [(f"pair-{i}", [_solid((255, 0, 0)), _solid((0, 255, 0)), _solid((0, 0, 255))])
            for i in range(n_rows)]
    return visuals.save_image_grid(path, rows, ["input", "generated", "target"])


def _cells(row_html):
    return re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row_html)


def test_report_contains_verdict_metrics_checks_and_images(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    grid = _write_grid(elsewhere / "grid.png", n_rows=2)
    chart = report.write_metrics_png(elsewhere / "metrics.png", METRICS, BASELINES)
    out = tmp_path / "report"

    path = report.write_report(
        out, title="Pix2Pix eval", metrics=METRICS, baselines=BASELINES, checks=CHECKS,
        blessed=False, sample_grid_png=str(grid),
        extra_images={"Metric chart": str(chart)},
    )

    assert path == str((out / "report.html").resolve())
    page = pathlib.Path(path).read_text(encoding="utf-8")
    assert "NOT BLESSED" in page and "not-blessed" in page
    assert "2 of 3 checks passed; 20 eval examples" in page

    rows = re.findall(r"<tr>.*?</tr>", page)
    header = _cells(rows[0])
    assert [re.sub(r"<.*", "", h) for h in header] == [
        "Metric", "Candidate", "Previous model", "identity (output = input)", "mean target"]
    metric_rows = {re.sub(r"<.*", "", _cells(r)[0]): _cells(r) for r in rows[1:4]}
    assert metric_rows["L1 (mean abs. error, 0-255)"][1] == '12.50<span class="tail">p90 19.25</span>'
    assert metric_rows["PSNR (dB)"][1] == '24.50<span class="tail">p10 19.75</span>'
    assert metric_rows["SSIM"][1] == '0.7321<span class="tail">p10 0.6012</span>'
    assert metric_rows["SSIM"][2].startswith("0.7000")  # Previous blessed model.
    assert metric_rows["SSIM"][4].startswith("0.3000")  # Mean-target baseline.

    check_rows = [_cells(r) for r in rows if "PASS" in r or "FAIL" in r]
    assert check_rows == [
        ["SSIM", "absolute", "mean &gt;= 0.6500", "0.7321", "PASS"],
        ["PSNR (dB)", "absolute", "p10 &gt;= 20.00", "19.75", "FAIL"],
        ["L1 (mean abs. error, 0-255)", "regression", "mean &lt;= 14.50", "12.50", "PASS"],
    ]

    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources == ["grid.png", "metrics.png"]
    for source in sources:
        assert (out / source).is_file()


def test_blessed_headline_and_optional_parts(tmp_path):
    path = report.write_report(
        tmp_path, title="t", metrics={"candidate": METRICS["candidate"]}, baselines={},
        checks=[], blessed=True, sample_grid_png=None,
    )
    page = pathlib.Path(path).read_text(encoding="utf-8")
    assert '<div class="verdict blessed">BLESSED</div>' in page
    assert "Previous model" not in page
    assert "No thresholds configured" in page
    assert "<img" not in page


def test_text_is_escaped(tmp_path):
    evil = "<script>alert(1)</script>"
    image = _write_grid(tmp_path / "in_place.png", n_rows=1)
    path = report.write_report(
        tmp_path, title=evil, metrics={"candidate": METRICS["candidate"]},
        baselines={evil: METRICS["candidate"]},
        checks=[{**CHECKS[0], "kind": evil}], blessed=True, sample_grid_png=None,
        extra_images={evil: str(image)},
    )
    page = pathlib.Path(path).read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    # An image already inside output_dir is referenced in place, not copied.
    assert '<img src="in_place.png"' in page


def test_images_with_the_same_name_do_not_overwrite_each_other(tmp_path):
    first = _write_grid(tmp_path / "a" / "plot.png", n_rows=1)
    second = _write_grid(tmp_path / "b" / "plot.png", n_rows=2)
    out = tmp_path / "out"
    for _ in range(2):  # Rewriting the report reuses the copies it made.
        page = pathlib.Path(report.write_report(
            out, title="t", metrics={"candidate": METRICS["candidate"]}, baselines={},
            checks=[], blessed=True, sample_grid_png=str(first),
            extra_images={"Other": str(second)},
        )).read_text(encoding="utf-8")
        assert re.findall(r'<img src="([^"]+)"', page) == ["plot.png", "plot_2.png"]
    assert Image.open(out / "plot.png").size == Image.open(first).size
    assert Image.open(out / "plot_2.png").size == Image.open(second).size


def test_missing_image_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        report.write_report(
            tmp_path, title="t", metrics={"candidate": METRICS["candidate"]}, baselines={},
            checks=[], blessed=True, sample_grid_png=str(tmp_path / "nope.png"),
        )


def test_sample_grid_png_draws_the_images_in_a_grid(tmp_path):
    two = Image.open(_write_grid(tmp_path / "two.png", n_rows=2))
    four = Image.open(_write_grid(tmp_path / "four.png", n_rows=4))
    assert two.format == "PNG"
    assert two.width == four.width
    assert four.height > two.height
    assert two.width > two.height  # 3 columns vs 2 rows.
    pixels = np.asarray(two.convert("RGB")).reshape(-1, 3)
    for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255)):
        assert np.any(np.all(pixels == color, axis=1)), color


def test_sample_grid_png_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError):
        visuals.save_image_grid(tmp_path / "g.png", [("x", [_solid(0)])], ["a", "b"])
    with pytest.raises(ValueError):
        visuals.save_image_grid(tmp_path / "g.png", [("x", [np.zeros((4, 4, 3))])], ["a"])


def test_write_metrics_png_has_one_panel_per_metric(tmp_path):
    three = Image.open(report.write_metrics_png(tmp_path / "m3.png", METRICS, BASELINES))
    only_l1 = {"candidate": {m.L1: METRICS["candidate"][m.L1]}}
    one = Image.open(report.write_metrics_png(tmp_path / "m1.png", only_l1, {}))
    assert three.format == one.format == "PNG"
    assert three.height == one.height
    assert three.width == pytest.approx(3 * one.width, rel=0.01)
