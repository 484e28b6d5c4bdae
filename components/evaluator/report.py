"""Human-readable evaluation report: an HTML page plus the PNG figures it shows.

The page is self-contained (inline CSS, images next to it referenced by
relative names), so the output directory can be copied or opened from an
artifact store as-is.
"""
from __future__ import annotations

import filecmp
import html
import pathlib
import shutil
import textwrap
import urllib.parse

import numpy as np
# Figure without pyplot renders PNGs through Agg and touches no global backend
# state, so it works on headless workers and in notebooks alike.
from matplotlib.figure import Figure

from components.evaluator import metrics as m

REPORT_FILENAME = "report.html"
CANDIDATE = "candidate"
BASELINE_MODEL = "baseline_model"

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
_ROLE_CANDIDATE, _ROLE_PREVIOUS, _ROLE_TRIVIAL = "candidate", "previous", "trivial"
_ROLE_COLORS = {_ROLE_CANDIDATE: "#1f77b4", _ROLE_PREVIOUS: "#ff7f0e", _ROLE_TRIVIAL: "#9e9e9e"}
_ROLE_NOTES = {_ROLE_CANDIDATE: "", _ROLE_PREVIOUS: "last blessed", _ROLE_TRIVIAL: "trivial baseline"}

# At 100 dpi a 2.6-inch cell shows a 256x256 image at about native size.
_FIGURE_DPI = 100

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
    """(label, role, {metric: stats}) in display order: candidate, previous, trivial."""
    columns = [("Candidate", _ROLE_CANDIDATE, metrics[CANDIDATE])]
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
        if check.get("baseline") is not None:
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
    )


def _place_image(source: str, output_dir: pathlib.Path, taken: set[str]) -> str:
    """Returns the image's path relative to output_dir, copying it in if it is
    elsewhere, so the page's links survive a move. A name already used by a
    different file gets a numeric suffix; an identical file is reused."""
    source_path = pathlib.Path(source).resolve()
    if not source_path.is_file():
        raise FileNotFoundError(f"Report image not found: {source}")
    try:
        relative = source_path.relative_to(output_dir).as_posix()
    except ValueError:
        relative = source_path.name
        counter = 1
        while relative in taken or (
            (output_dir / relative).exists()
            and not filecmp.cmp(source_path, output_dir / relative, shallow=False)
        ):
            counter += 1
            relative = f"{source_path.stem}_{counter}{source_path.suffix}"
        if not (output_dir / relative).exists():
            shutil.copyfile(source_path, output_dir / relative)
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
) -> pathlib.Path:
    """Writes output_dir/report.html and returns its path.

    metrics: {"candidate": {metric: stats}, optionally "baseline_model": ...};
    baselines: {trivial predictor name: {metric: stats}}; checks: dicts with
    metric, statistic, op, threshold, value, passed, kind. Images are copied
    into output_dir when they live elsewhere.
    """
    output_dir = pathlib.Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    taken: set[str] = set()

    verdict_class, verdict = ("blessed", "BLESSED") if blessed else ("not-blessed", "NOT BLESSED")
    count = next((stats["count"] for stats in metrics[CANDIDATE].values()), None)
    failed = sum(not check["passed"] for check in checks)
    summary = f"{len(checks) - failed} of {len(checks)} checks passed"
    if count is not None:
        summary += f"; {count} eval examples"

    sections = [
        f"<h1>{html.escape(title)}</h1>",
        f'<div class="verdict {verdict_class}">{verdict}</div>',
        f'<p class="note">{html.escape(summary)}</p>',
        "<h2>Metrics</h2>",
        _metrics_table(metrics, baselines),
        "<h2>Checks</h2>",
        _checks_table(checks),
    ]
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
    report_path = output_dir / REPORT_FILENAME
    report_path.write_text(page, encoding="utf-8")
    return report_path


def write_metrics_png(output_path, metrics: dict, baselines: dict) -> pathlib.Path:
    """Bar chart of mean L1/PSNR/SSIM, candidate vs baselines, one panel each.

    Whiskers span p10-p90 so a good mean with a bad tail is visible.
    """
    columns = _columns(metrics, baselines)
    names = [name for name in CHART_METRICS if name in metrics[CANDIDATE]]
    if not names:
        raise ValueError(f"Candidate metrics contain none of {CHART_METRICS}.")

    fig = Figure(figsize=(4.2 * len(names), 4.2), dpi=_FIGURE_DPI, layout="constrained")
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        present = [(label, _ROLE_COLORS[role], stats[name])
                   for label, role, stats in columns if name in stats]
        means = np.array([s["mean"] for _, _, s in present])
        # A skewed distribution can put the mean outside [p10, p90]; clip to 0.
        lower = np.maximum(means - [s["p10"] for _, _, s in present], 0)
        upper = np.maximum([s["p90"] for _, _, s in present] - means, 0)
        positions = np.arange(len(present))
        # Lists, not arrays: matplotlib trips a NumPy deprecation on a 2x1 array.
        ax.bar(positions, means, color=[c for _, c, _ in present],
               yerr=[lower.tolist(), upper.tolist()], capsize=4, ecolor="#444")
        # Values go under the bars, where whiskers cannot cross them.
        ax.set_xticks(positions, [f"{textwrap.fill(label, 14)}\n{_fmt(name, mean)}"
                                  for (label, _, _), mean in zip(present, means)],
                      fontsize=8)
        ax.set_title(f"{_METRIC_LABELS.get(name, name)}\n({_direction(name)})", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Mean per metric (whiskers: p10-p90)", fontsize=11)

    output_path = pathlib.Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output_path, format="png")
    return output_path
