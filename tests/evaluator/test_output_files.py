"""One way to write outputs: local files replaced whole, and URIs (TF's ram:// stands in for gs://) through gfile."""
import os
import uuid

import numpy as np
import tensorflow as tf

from components import output_files, visuals
from components.evaluator import report


def test_a_local_file_is_replaced_whole_and_nothing_partial_stays(tmp_path):
    path = str(tmp_path / "deep" / "history.json")
    output_files.write_text(path, "old")
    output_files.write_text(path, "new")
    assert open(path, encoding="utf-8").read() == "new"
    assert os.listdir(tmp_path / "deep") == ["history.json"]


def test_a_uri_is_written_through_gfile():
    folder = f"ram://outputs-{uuid.uuid4().hex}"
    path = output_files.write_bytes(output_files.join(folder, "a", "b.bin"), b"\x00\x01")
    assert path == f"{folder}/a/b.bin"
    assert output_files.read_bytes(path) == b"\x00\x01"


def test_charts_and_the_report_go_to_a_uri_like_to_a_folder():
    """On Vertex AI the evaluation artifact is a gs:// folder: nothing may assume a local path."""
    folder = f"ram://evaluation-{uuid.uuid4().hex}"
    tile = np.zeros((16, 16, 3), np.uint8)
    grid = visuals.save_image_grid(output_files.join(folder, "samples.png"), [("a", [tile, tile])], ["x", "y"])
    stats = {"mean": 1.0, "p10": 0.5, "p90": 2.0, "min": 0.0, "max": 3.0, "count": 2}
    metrics = {report.CANDIDATE: {"l1": stats}}
    chart = report.write_metrics_png(output_files.join(folder, "metrics.png"), metrics, {})
    page = report.write_report(folder, title="t", metrics=metrics, baselines={}, checks=[], blessed=True,
                               sample_grid_png=grid, extra_images={"Metrics": chart})
    assert page == f"{folder}/report.html"
    text = output_files.read_bytes(page).decode("utf-8")
    assert 'src="samples.png"' in text and 'src="metrics.png"' in text
    assert output_files.read_bytes(chart)[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(tf.io.gfile.listdir(folder)) == ["metrics.png", "report.html", "samples.png"]
