"""The evaluation report renders in a real headless browser, with its images.

Uses Debian's Chromium (`.ci/run` installs it). Chromium draws the page into a
screenshot; the test checks that the page's images were actually decoded by
reading back, through the DOM dump, each <img>'s natural width.
"""
import pathlib
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from components import visuals
from components.evaluator import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files"]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")]

STATS = {"mean": 11.0, "p10": 5.0, "p90": 20.0, "min": 1.0, "max": 30.0, "count": 38}


@pytest.fixture()
def rendered_report(tmp_path):
    rng = np.random.default_rng(0)
    tiles = [rng.integers(0, 255, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    grid = visuals.save_image_grid(tmp_path / "src" / "samples.png", [("facade_00001", tiles)],
                                   ["input", "generated", "target"])
    curves = visuals.save_loss_curves(tmp_path / "src" / "loss_curves.png", [
        {"epoch": e, "g_total": 10.0 / e, "g_gan": 1.0, "g_l1": 0.1, "d_total": 0.5, "d_real": 0.5, "d_fake": 0.5}
        for e in (1, 2, 3)])
    metrics = {"candidate": {"l1": STATS, "psnr": {**STATS, "mean": 24.0}, "ssim": {**STATS, "mean": 0.8}}}
    baselines = {"mean target image": {"l1": {**STATS, "mean": 31.0}, "psnr": {**STATS, "mean": 16.0},
                                       "ssim": {**STATS, "mean": 0.2}}}
    checks = [{"metric": "l1", "statistic": "mean", "op": "<=", "threshold": 20.0, "value": 11.0,
               "passed": True, "kind": "absolute"}]
    out = tmp_path / "report"
    chart = report.write_metrics_png(tmp_path / "src" / "metrics.png", metrics, baselines)
    return pathlib.Path(report.write_report(out, title="pix2pix evaluation", metrics=metrics, baselines=baselines,
                               checks=checks, blessed=True, sample_grid_png=str(grid),
                               extra_images={"Metrics": str(chart), "Training losses": str(curves)}))


def chromium(*args, timeout=90):
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


def test_the_report_renders_with_its_images(rendered_report, tmp_path):
    screenshot = tmp_path / "shot.png"
    result = chromium(f"--screenshot={screenshot}", "--window-size=1200,2400", f"file://{rendered_report}")
    assert screenshot.exists(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(screenshot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1200)
    # A blank page is one colour; the rendered tables, charts and image grid are not.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500


def test_every_image_in_the_report_is_loaded_by_the_browser(rendered_report):
    probe = ("<script>window.onload=()=>{document.title=[...document.images]"
             ".map(i=>i.complete&&i.naturalWidth>0?'ok':'broken:'+i.src).join(',');}</script>")
    page = rendered_report.read_text().replace("</body>", probe + "</body>")
    probe_page = rendered_report.with_name("probe.html")
    probe_page.write_text(page)
    result = chromium("--virtual-time-budget=5000", "--dump-dom", f"file://{probe_page}")
    assert result.returncode == 0, result.stderr[-2000:]
    title = result.stdout.split("<title>", 1)[1].split("</title>", 1)[0]
    statuses = title.split(",")
    assert len(statuses) == 3 and all(s == "ok" for s in statuses), title
    assert "BLESSED" in result.stdout
