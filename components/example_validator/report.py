"""validation.html: the anomalies per split and the drift per feature, as a page beside the anomalies.

The Evaluator's report shows the same tables (``validation_tables``) for runs
that go on to be evaluated; this page is what a stopped run leaves.
"""
from __future__ import annotations

import html
import os
from typing import Any, Dict

from tfx.utils import io_utils

REPORT_FILE = "validation.html"
_CSS = ("body{font-family:Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1000px;color:#222}"
        "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
        "text-align:left}.bad{color:#c62828;font-weight:bold}.ok{color:#2e7d32}.note{color:#666}")


def validation_tables(result: Dict[str, Any]) -> str:
    """HTML of the anomalies and drift sections of a validation.json result."""
    esc = html.escape
    parts = [f'<p class="note">schema: {esc(str(result.get("schema_file")))} (artifact {esc(str(result.get("schema")))})</p>']
    rows = [(split, row) for split, split_rows in sorted(result.get("anomalies", {}).items()) for row in split_rows]
    if rows:
        parts.append("<table><tr><th>split</th><th>feature</th><th>anomaly</th><th>description</th></tr>"
                     + "".join(f'<tr><td>{esc(split)}</td><td class="bad">{esc(row["feature"])}</td>'
                               f'<td>{esc(row["anomaly"])}</td><td>{esc(row["description"])}</td></tr>'
                               for split, row in rows) + "</table>")
    else:
        splits = ", ".join(sorted(result.get("anomalies", {}))) or "no splits"
        parts.append(f'<p class="ok">No anomalies against the schema ({esc(splits)}).</p>')
    section = result.get("drift") or {}
    threshold = section.get("max_drift")
    baseline_span = (section.get("baseline") or {}).get("span")
    versus = (f"span {section.get('span')} vs span {baseline_span}, " if baseline_span is not None else "")
    parts.append(f'<h3>Drift vs the data of the last blessed model ({esc(versus)}{esc(str(section.get("split")))} split; '
                 f'Jensen-Shannon divergence, stop above {esc(str(threshold)) if threshold is not None else "never"})'
                 "</h3>")
    if section.get("note"):
        parts.append(f'<p class="note">{esc(section["note"])}</p>')
    if section.get("features"):
        parts.append("<table><tr><th>feature</th><th>divergence</th><th></th></tr>" + "".join(
            f'<tr><td>{esc(row["feature"])}</td><td>{row["value"]:.3f}</td>'
            f'<td class="{"bad" if row["drifted"] else "ok"}">{"DRIFT" if row["drifted"] else "ok"}'
            f'{" <span class=note>" + esc(row["note"]) + "</span>" if row.get("note") else ""}</td></tr>'
            for row in section["features"]) + "</table>")
    return "\n".join(parts)


def write_validation_report(output_dir: str, result: Dict[str, Any]) -> str:
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data validation</title>"
            f"<style>{_CSS}</style></head><body><h1>Data validation</h1>\n{validation_tables(result)}\n</body></html>\n")
    path = os.path.join(output_dir, REPORT_FILE)
    io_utils.write_string_file(path, page)
    return path
