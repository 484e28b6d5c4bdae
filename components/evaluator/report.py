"""Human-readable evaluation report: an HTML page plus the PNG figures it shows.

The page is self-contained (inline CSS, images next to it referenced by
relative names), so the output directory can be copied or opened from an
artifact store as-is.
"""
from __future__ import annotations

import html
import os
import posixpath
import textwrap
import urllib.parse

import tensorflow as tf

from components import output_files, visuals
from components.evaluator import blessing, metrics as m

REPORT_FILENAME = "report.html"
CANDIDATE = "candidate"
BASELINE_MODEL = "baseline_model"
STOCHASTIC = "candidate_stochastic"   # the candidate as the paper tests it (dropout on): shown, never gated

# Display label and number format per metric; unknown metrics fall back to
# their name and a general format.
_METRIC_LABELS = {
    m.L1: "L1 (mean abs. error, 0-255)",
    m.PSNR: "PSNR (dB)",
    m.SSIM: "SSIM",
    m.MS_SSIM: "MS-SSIM",
}
_METRIC_FORMATS = {m.L1: "{:.2f}", m.PSNR: "{:.2f}", m.SSIM: "{:.4f}", m.MS_SSIM: "{:.4f}"}
_DEFAULT_FORMAT = "{:.4g}"

# Metrics drawn in the bar chart (MS-SSIM is often undefined for small images).
CHART_METRICS = (m.L1, m.PSNR, m.SSIM)

# Column roles: the model under evaluation, the previous blessed model, and
# trivial predictors that any useful model must beat.
_ROLE_CANDIDATE, _ROLE_STOCHASTIC, _ROLE_PREVIOUS, _ROLE_TRIVIAL = "candidate", "stochastic", "previous", "trivial"
_ROLE_COLORS = {_ROLE_CANDIDATE: "#1f77b4", _ROLE_STOCHASTIC: "#6baed6", _ROLE_PREVIOUS: "#ff7f0e",
                _ROLE_TRIVIAL: "#9e9e9e"}
_ROLE_NOTES = {_ROLE_CANDIDATE: "", _ROLE_STOCHASTIC: "the paper's test mode, not gated",
               _ROLE_PREVIOUS: "last blessed", _ROLE_TRIVIAL: "trivial baseline"}

# Below the checks table: what each kind of check compares with.
_KIND_NOTE = (f"{blessing.ABSOLUTE}: a fixed bound from the config; {blessing.RELATIVE}: a bound derived from a "
              "trivial baseline scored on the same examples (its value moved towards better by the margin); "
              f"{blessing.REGRESSION}: no worse than the last blessed model beyond the allowance.")

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: .4rem 1rem; border-radius: 4px;
           font-weight: bold; font-size: 1.3rem; color: #fff; margin: .6rem 0; }
.blessed { background: #2e7d32; } .not-blessed { background: #c62828; }
.note { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .95rem; }
th, td { border: 1px solid #ddd; padding: .35rem .7rem; text-align: right; }
th { background: #f5f5f5; } td:first-child, th:first-child { text-align: left; }
td.candidate { font-weight: bold; background: #f0f6fc; }
.tail { display: block; color: #666; font-size: .8rem; font-weight: normal; }
.pass { color: #2e7d32; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
figure { margin: 1rem 0; } figcaption { color: #555; font-size: .9rem; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _fmt(name: str, value) -> str:
    return _METRIC_FORMATS.get(name, _DEFAULT_FORMAT).format(value)


def _fmt_or_na(name: str, value) -> str:
    """A metric that could not be computed shows as n/a rather than breaking the page."""
    return "n/a" if value is None else _fmt(name, value)


def _direction(name: str) -> str:
    if name not in m.HIGHER_IS_BETTER:
        return ""
    return "higher is better" if m.HIGHER_IS_BETTER[name] else "lower is better"


def _columns(metrics: dict, baselines: dict) -> list[tuple[str, str, dict]]:
    """(label, role, {metric: stats}) in display order: candidate (deterministic, stochastic), previous, trivial."""
    columns = [("Candidate", _ROLE_CANDIDATE, metrics[CANDIDATE])]
    if metrics.get(STOCHASTIC):
        columns.append(("Candidate, stochastic", _ROLE_STOCHASTIC, metrics[STOCHASTIC]))
    if metrics.get(BASELINE_MODEL):
        columns.append(("Previous model", _ROLE_PREVIOUS, metrics[BASELINE_MODEL]))
    columns.extend((name, _ROLE_TRIVIAL, stats) for name, stats in baselines.items())
    return columns


def _metric_names(columns: list[tuple[str, str, dict]]) -> list[str]:
    """Known metrics first in a fixed order, then any others as they appear."""
    seen = [name for _, _, stats in columns for name in stats]
    known = [name for name in m.HIGHER_IS_BETTER if name in seen]
    return known + [name for name in dict.fromkeys(seen) if name not in known]


def _metrics_table(metrics: dict, baselines: dict) -> str:
    columns = _columns(metrics, baselines)
    head = "".join(
        f"<th>{html.escape(label)}"
        + (f'<span class="tail">{_ROLE_NOTES[role]}</span>' if _ROLE_NOTES[role] else "")
        + "</th>"
        for label, role, _ in columns
    )
    rows = []
    for name in _metric_names(columns):
        label = _METRIC_LABELS.get(name, name)
        direction = _direction(name)
        tail_key = m.worst_tail_key(name) if name in m.HIGHER_IS_BETTER else None
        cells = []
        for _, role, stats in columns:
            css = ' class="candidate"' if role == _ROLE_CANDIDATE else ""
            if name not in stats:
                cells.append(f"<td{css}>&mdash;</td>")
                continue
            tail = (
                f'<span class="tail">{tail_key} {html.escape(_fmt(name, stats[name][tail_key]))}</span>'
                if tail_key
                else ""
            )
            cells.append(f"<td{css}>{html.escape(_fmt(name, stats[name]['mean']))}{tail}</td>")
        rows.append(
            f"<tr><td>{html.escape(label)}"
            f'<span class="tail">{html.escape(direction)}</span></td>{"".join(cells)}</tr>'
        )
    return (
        f"<table><tr><th>Metric</th>{head}</tr>{''.join(rows)}</table>"
        '<p class="note">Each cell: mean over the eval split; below it the worst-tail '
        "percentile (p90 where lower is better, p10 where higher is better).</p>"
    )


def _checks_table(checks: list) -> str:
    if not checks:
        return '<p class="note">No thresholds configured.</p>'
    rows = []
    for check in checks:
        name = check["metric"]
        verdict = ('<td class="pass">PASS</td>' if check["passed"] else '<td class="fail">FAIL</td>')
        condition = f"{check['statistic']} {check['op']} {_fmt_or_na(name, check['threshold'])}"
        if check["kind"] == blessing.RELATIVE:
            condition += (f" ({check['baseline_name']} {_fmt_or_na(name, check.get('baseline'))}, "
                          f"{blessing.margin_text(check)})")
        elif check.get("baseline") is not None:
            condition += f" (last blessed: {_fmt(name, check['baseline'])})"
        rows.append(
            "<tr>"
            f"<td>{html.escape(_METRIC_LABELS.get(name, name))}</td>"
            f"<td>{html.escape(str(check['kind']))}</td>"
            f"<td>{html.escape(condition)}</td>"
            f"<td>{html.escape(_fmt_or_na(name, check['value']))}</td>"
            f"{verdict}</tr>"
        )
    return (
        "<table><tr><th>Metric</th><th>Kind</th><th>Condition</th>"
        f"<th>Value</th><th>Result</th></tr>{''.join(rows)}</table>"
        f'<p class="note">{html.escape(_KIND_NOTE)}</p>'
    )


def _place_image(source: str, output_dir: str, taken: set[str]) -> str:
    """Returns the image's path relative to output_dir, copying it in if it is
    elsewhere, so the page's links survive a move. A name already used by a
    different file gets a numeric suffix; an identical file is reused."""
    source = str(source) if output_files.is_remote(source) else os.path.realpath(source)
    if not tf.io.gfile.exists(source) or tf.io.gfile.isdir(source):
        raise FileNotFoundError(f"Report image not found: {source}")
    prefix = output_dir.rstrip("/") + "/"
    if source.startswith(prefix):
        relative = source[len(prefix):]
    else:
        content = output_files.read_bytes(source)
        stem, suffix = posixpath.splitext(posixpath.basename(source))
        relative, counter = stem + suffix, 1
        while relative in taken or (tf.io.gfile.exists(output_files.join(output_dir, relative))
                                    and output_files.read_bytes(output_files.join(output_dir, relative)) != content):
            counter += 1
            relative = f"{stem}_{counter}{suffix}"
        if not tf.io.gfile.exists(output_files.join(output_dir, relative)):
            output_files.write_bytes(output_files.join(output_dir, relative), content)
    taken.add(relative)
    return relative


def _figure(caption: str, relative_path: str) -> str:
    src = html.escape(urllib.parse.quote(relative_path))
    caption = html.escape(caption)
    return f'<figure><img src="{src}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'


def write_report(
    output_dir,
    *,
    title: str,
    metrics: dict,
    baselines: dict,
    checks: list,
    blessed: bool,
    sample_grid_png: str | None,
    extra_images: dict[str, str] | None = None,
    notes: list[str] | None = None,
    split: str = "eval",
    extra_sections: dict[str, str] | None = None,
) -> str:
    """Writes output_dir/report.html and returns its path.

    metrics: {"candidate": {metric: stats}, optionally "baseline_model": ...};
    baselines: {trivial predictor name: {metric: stats}}; checks: dicts with
    metric, statistic, op, threshold, value, passed, kind (relative checks also
    baseline, baseline_name and their margins). Images are copied into
    output_dir when they live elsewhere. ``extra_sections``: {title: trusted HTML}, after the checks.
    """
    output_dir = str(output_dir) if output_files.is_remote(output_dir) else os.path.realpath(output_dir)
    output_files.makedirs(output_dir)
    taken: set[str] = set()

    verdict_class, verdict = ("blessed", "BLESSED") if blessed else ("not-blessed", "NOT BLESSED")
    count = next((stats["count"] for stats in metrics[CANDIDATE].values()), None)
    failed = sum(not check["passed"] for check in checks)
    summary = f"{len(checks) - failed} of {len(checks)} checks passed"
    if count is not None:
        summary += f"; {count} {split} examples"

    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="verdict {verdict_class}">{verdict}</div>',
        f'<p class="note">{html.escape(summary)}</p>',
        *(f'<p class="note">{html.escape(note)}</p>' for note in notes or []),
        "<h2>Metrics</h2>",
        _metrics_table(metrics, baselines),
        "<h2>Checks</h2>",
        _checks_table(checks),
    ]
    for title, body in (extra_sections or {}).items():
        sections += [f"<h2>{html.escape(title)}</h2>", body]
    if sample_grid_png:
        sections += [
            "<h2>Samples</h2>",
            _figure("input | generated | target", _place_image(sample_grid_png, output_dir, taken)),
        ]
    for caption, path in (extra_images or {}).items():
        sections += [
            f"<h2>{html.escape(caption)}</h2>",
            _figure(caption, _place_image(path, output_dir, taken)),
        ]

    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    return output_files.write_text(output_files.join(output_dir, REPORT_FILENAME), page)


def write_metrics_png(output_path, metrics: dict, baselines: dict) -> str:
    """Bar chart of mean L1/PSNR/SSIM, candidate vs baselines, one panel each; whiskers span p10-p90."""
    columns = _columns(metrics, baselines)
    names = [name for name in CHART_METRICS if name in metrics[CANDIDATE]]
    if not names:
        raise ValueError(f"Candidate metrics contain none of {CHART_METRICS}.")
    panels = []
    for name in names:
        bars = [(f"{textwrap.fill(label, 14)}\n{_fmt(name, stats[name][m.MEAN])}", _ROLE_COLORS[role],
                 stats[name][m.MEAN], stats[name][m.P10], stats[name][m.P90])
                for label, role, stats in columns if name in stats]
        panels.append((f"{_METRIC_LABELS.get(name, name)}\n({_direction(name)})", bars))
    return visuals.save_bar_panels(output_path, panels, "Mean per metric (whiskers: p10-p90)")
