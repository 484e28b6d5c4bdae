"""The model card each pushed version carries: ``assets.extra/model_card.html``.

One self-contained page (inline CSS, the sample grid as a data: URI) built from
the version's lineage record alone, so it travels with the version to any
serving host and says, to someone who never saw the pipeline, what the model
does, what it was trained and judged on, and where it should not be trusted.
Every value from the record is escaped: a dataset path or an anomaly's
description is data, never markup.
"""
from __future__ import annotations

import base64
import html
import json
import math
from typing import Any, Dict, Iterable, List, Optional, Sequence

from components import features, output_files
from components.evaluator import blessing, metrics as m

UNKNOWN = "unknown"
NOT_RECORDED = "not recorded"
PAPER_WIDTH = 64              # ngf and ndf in Isola et al.; smaller nets train on a CPU, and show it
NOISY_BELOW_EXAMPLES = 100    # held-out examples under which the card calls its metrics noisy
PERCENT = 100.0

# Serving signatures: (name, input, output, behaviour), as components/trainer/export.py builds them.
SIGNATURES = (
    (features.SERVING_DEFAULT, f"encoded images ({features.SERVING_INPUT_BYTES})",
     f"PNG bytes ({features.SERVING_OUTPUT_BYTES})",
     "deterministic: dropout off, batch norm with the moving statistics of training"),
    (features.SERVING_STOCHASTIC, f"encoded images ({features.SERVING_INPUT_BYTES}), {features.SERVING_SEED}",
     f"PNG bytes ({features.SERVING_OUTPUT_BYTES})",
     "as the paper tests: dropout on, each image normalised with its own statistics; same seed, same image"),
    (features.SERVING_EXAMPLES, f"serialized tf.Example ({features.INPUT_IMAGE_KEY})",
     f"uint8 pixels ({features.SERVING_OUTPUT_PIXELS})", "deterministic, at the training size"),
    (features.SERVING_EXAMPLES_STOCHASTIC, f"serialized tf.Example ({features.INPUT_IMAGE_KEY}), "
     f"{features.SERVING_SEED}", f"uint8 pixels ({features.SERVING_OUTPUT_PIXELS})",
     "stochastic, at the training size"),
)

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; padding: .3rem .9rem; border-radius: 4px; font-weight: bold; color: #fff; }
.blessed { background: #2e7d32; } .not-blessed { background: #c62828; } .unknown { background: #757575; }
.note { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .95rem; }
th, td { border: 1px solid #ddd; padding: .35rem .7rem; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; } td.candidate { font-weight: bold; background: #f0f6fc; }
.tail { display: block; color: #666; font-size: .8rem; font-weight: normal; }
.pass { color: #2e7d32; font-weight: bold; } .fail { color: #c62828; font-weight: bold; }
code, pre { font-size: .85rem; word-break: break-all; }
pre { white-space: pre-wrap; background: #fafafa; padding: .5rem; }
img { max-width: 100%; border: 1px solid #eee; }
"""


def _esc(value: Any) -> str:
    return html.escape(UNKNOWN if value is None or value == "" else str(value))


def _as_dict(value: Any) -> Dict[str, Any]:
    """{} for a section that is absent or null: any field of a record may be."""
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a" if value is None else str(value)
    return f"{value:.4g}"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    """Rows of already-escaped cells (a cell may carry its own ``<td ...>``); ``empty`` when there are none."""
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    if not body:
        return f'<p class="note">{html.escape(empty)}</p>'
    return "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + f"</tr>{body}</table>"


def _key_values(mapping: Dict[str, Any], empty: str) -> str:
    return _table(("key", "value"), ((_esc(key), _esc(_plain(value))) for key, value in mapping.items()), empty)


def _plain(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value


def _config_value(config: Dict[str, Any], dotted: str) -> Any:
    section, _, key = dotted.partition(".")
    return _as_dict(config.get(section)).get(key)


# --------------------------------------------------------------------------- #
# Sections
# --------------------------------------------------------------------------- #
def _header(record: Dict[str, Any]) -> List[str]:
    served, pipeline, evaluation = (_as_dict(record.get(k)) for k in ("served", "pipeline", "evaluation"))
    css, verdict = {True: ("blessed", "BLESSED"), False: ("not-blessed", "NOT BLESSED")}.get(
        evaluation.get("blessed"), ("unknown", "blessing unknown"))
    return [f"<h1>{_esc(served.get('model_name'))} version {_esc(served.get('version'))}</h1>",
            f'<p class="note">pix2pix-tfx model card; pushed {_esc(record.get("created"))} by pipeline '
            f'{_esc(pipeline.get("name"))}, run {_esc(pipeline.get("run_id"))}, to {_esc(served.get("path"))}</p>',
            f'<div class="verdict {css}">{verdict}</div>',
            f'<p>{_esc(evaluation.get("message") or "no blessing message recorded")}</p>']


def _what_it_does(config: Dict[str, Any]) -> List[str]:
    size = _config_value(config, "transform.image_size")
    trainer = _as_dict(config.get("trainer"))
    serving = _as_dict(config.get("serving"))
    rows = ((f"<code>{html.escape(name)}</code>", html.escape(given), html.escape(answer), html.escape(how))
            for name, given, answer, how in SIGNATURES)
    return ["<h2>What it does</h2>",
            "<p>Image-to-image translation with Pix2Pix (Isola et al., 2017: a conditional GAN): given an input "
            "image like the dataset's inputs, it generates the corresponding target-style image "
            f"(input &rarr; output). Generator {_esc(trainer.get('generator'))}, discriminator "
            f"{_esc(trainer.get('discriminator'))}, trained on images resized to {_esc(size)} &times; {_esc(size)} "
            f"pixels. Larger inputs are answered in <code>{_esc(serving.get('inference'))}</code> mode "
            f"(<code>serving.inference</code>); inputs over {_esc(serving.get('max_input_pixels'))} pixels are "
            "refused.</p>",
            "<p>TF Serving signatures:</p>",
            _table(("signature", "input", "output", "behaviour"), rows, "no signatures")]


def _noise_note(num_examples: Any) -> str:
    if not isinstance(num_examples, int) or num_examples <= 0:
        return ("The number of held-out examples the metrics come from is not recorded: judge them as possibly "
                "noisy.")
    spread = PERCENT / math.sqrt(num_examples)
    noisy = " With so few, small differences between models are noise." if num_examples < NOISY_BELOW_EXAMPLES else ""
    return (f"The metrics are means over {num_examples} held-out examples: a mean moves by about "
            f"{spread:.0f} % of the per-example spread (1/&radic;{num_examples}) from one sample of examples to "
            f"another.{noisy}")


def _use_and_limits(record: Dict[str, Any]) -> List[str]:
    config = _as_dict(record.get("config"))
    data, evaluation = _as_dict(record.get("data")), _as_dict(record.get("evaluation"))
    trainer = _as_dict(config.get("trainer"))
    size = _config_value(config, "transform.image_size")
    train_pairs = _as_dict(_as_dict(data.get("splits")).get("train")).get("pairs")
    widths = (trainer.get("ngf"), trainer.get("ndf"))
    small = all(isinstance(w, int) and w < PAPER_WIDTH for w in widths)
    limits = [
        f"Trained only on the dataset at <code>{_esc(data.get('location'))}</code> ({_esc(data.get('layout'))} "
        f"layout, {_esc(train_pairs)} training pairs). Images unlike it are outside what it learned; nothing "
        "checks a request against the training data.",
        f"It works at {_esc(size)} &times; {_esc(size)} pixels: detail finer than that scale is not generated, "
        "whatever the input's size.",
        f"Generator / discriminator widths ngf {_esc(widths[0])}, ndf {_esc(widths[1])} (the paper: {PAPER_WIDTH})"
        + (": small networks, sized for training on a CPU; expect less detail than the paper's results."
           if small else "."),
        f"The stochastic signatures (<code>{html.escape(features.SERVING_STOCHASTIC)}</code>, "
        f"<code>{html.escape(features.SERVING_EXAMPLES_STOCHASTIC)}</code>) apply dropout and normalise with "
        "each request's own image statistics at serving time (the paper's test mode): outputs vary with the "
        "seed and with the image, and they are shown in reports but never gated.",
        _noise_note(evaluation.get("num_examples")),
        "Generated images are plausible-looking guesses, not measurements: do not use them as evidence of what "
        "the real target looks like. No fairness, privacy or safety assessment was made.",
    ]
    return ["<h2>Intended use</h2>",
            "<p>Translating images of the same kind, size and style as its training data (below), e.g. to "
            "preview or prototype, with a person judging the result.</p>",
            "<h2>Limits</h2>", "<ul>" + "".join(f"<li>{item}</li>" for item in limits) + "</ul>"]


def _metric_columns(evaluation: Dict[str, Any]) -> List[tuple]:
    """(label, stats, is candidate): the candidate, the previous blessed model, then the trivial baselines."""
    columns = [("Candidate", _as_dict(evaluation.get("candidate")), True)]
    if evaluation.get("baseline_model"):
        columns.append(("Previous blessed model", _as_dict(evaluation["baseline_model"]), False))
    columns += [(name, _as_dict(stats), False) for name, stats in _as_dict(evaluation.get("baselines")).items()]
    return columns


def _metric_cell(name: str, stats: Dict[str, Any], candidate: bool) -> str:
    css = ' class="num candidate"' if candidate else ' class="num"'
    values = _as_dict(stats.get(name))
    if not values:
        return f"<td{css}>&mdash;</td>"
    tail_key = m.worst_tail_key(name) if name in m.HIGHER_IS_BETTER else None
    tail = (f'<span class="tail">{html.escape(tail_key)} {html.escape(_number(values.get(tail_key)))}</span>'
            if tail_key and tail_key in values else "")
    return f"<td{css}>{html.escape(_number(values.get(m.MEAN)))}{tail}</td>"


def _metrics(evaluation: Dict[str, Any]) -> List[str]:
    columns = _metric_columns(evaluation)
    names = list(dict.fromkeys(name for _, stats, _ in columns for name in stats))
    names = [n for n in m.HIGHER_IS_BETTER if n in names] + [n for n in names if n not in m.HIGHER_IS_BETTER]
    direction = {True: "higher is better", False: "lower is better"}
    rows = [[f'{html.escape(name)}<span class="tail">{direction.get(m.HIGHER_IS_BETTER.get(name), "")}</span>']
            + [_metric_cell(name, stats, candidate) for _, stats, candidate in columns] for name in names]
    return ["<h2>Metrics</h2>",
            f'<p class="note">{_esc(evaluation.get("split"))} split, {_esc(evaluation.get("num_examples"))} '
            "held-out examples. Each cell: the mean; below it the worst-tail percentile.</p>",
            _table(["metric"] + [label for label, _, _ in columns], rows, "no metrics recorded"),
            "<h3>Checks (all must pass to bless)</h3>", _checks(evaluation.get("checks"))]


def _condition(check: Dict[str, Any]) -> str:
    text = f"{check.get('statistic')} {check.get('op')} {_number(check.get('threshold'))}"
    if check.get("kind") == blessing.RELATIVE:
        text += f" ({check.get('baseline_name')} {_number(check.get('baseline'))}, {blessing.margin_text(check)})"
    elif check.get("baseline") is not None:
        text += f" (last blessed {_number(check.get('baseline'))})"
    return text


def _checks(checks: Any) -> str:
    rows = [[_esc(check.get("metric")), _esc(check.get("kind")), html.escape(_condition(check)),
             f'<td class="num">{html.escape(_number(check.get("value")))}</td>',
             '<td class="pass">PASS</td>' if check.get("passed") else '<td class="fail">FAIL</td>']
            for check in checks or [] if isinstance(check, dict)]
    return _table(("metric", "kind", "condition", "value", "result"), rows, "no checks recorded")


def _data(data: Dict[str, Any]) -> List[str]:
    splits = [[_esc(name), f'<td class="num">{_esc(_as_dict(split).get("pairs"))}</td>',
               f"<code>{_esc(_as_dict(split).get('fingerprint'))}</code>"]
              for name, split in _as_dict(data.get("splits")).items()]
    quarantined = _as_dict(data.get("quarantined"))
    span_rows = [[_esc(_as_dict(entry).get("span")), _esc(_as_dict(entry).get("version")),
                  _esc(_as_dict(entry).get("role")), f"<code>{_esc(_as_dict(entry).get('location'))}</code>"]
                 for entry in data.get("spans") or [] if isinstance(entry, dict)]
    return ["<h2>Data</h2>",
            f"<p>Location <code>{_esc(data.get('location'))}</code>, layout {_esc(data.get('layout'))}.</p>",
            *([_table(("span", "version", "role", "folder"), span_rows, "")] if span_rows else []),
            _table(("split", "pairs", "content fingerprint"), splits, "no split counts recorded"),
            "<p>Quarantined: " + (", ".join(f"{_esc(reason)} {_esc(count)}" for reason, count in quarantined.items())
                                  or "none") + f"; report <code>{_esc(data.get('quarantine_report'))}</code>.</p>",
            f'<p class="note">TFX input fingerprint: <code>{_esc(data.get("input_fingerprint"))}</code></p>']


def _training(training: Any) -> List[str]:
    return ["<h2>Training</h2>", _key_values(_as_dict(training), "no training summary recorded")]


def _validation(validation: Dict[str, Any]) -> List[str]:
    anomalies = [[_esc(split), _esc(_as_dict(row).get("feature")), _esc(_as_dict(row).get("anomaly")),
                  _esc(_as_dict(row).get("description"))]
                 for split, rows in _as_dict(validation.get("anomalies")).items() for row in rows or []]
    drift = _as_dict(validation.get("drift"))
    limit = drift.get("max_drift")
    drift_rows = [[_esc(row.get("feature")), f'<td class="num">{html.escape(_number(row.get("value")))}</td>',
                   '<td class="fail">DRIFT</td>' if row.get("drifted") else '<td class="pass">ok</td>']
                  for row in drift.get("features") or [] if isinstance(row, dict)]
    return ["<h2>Data validation</h2>",
            f"<p>Schema <code>{_esc(validation.get('schema'))}</code> "
            f"(curated file <code>{_esc(validation.get('schema_file'))}</code>).</p>",
            _table(("split", "feature", "anomaly", "description"), anomalies, "No anomalies against the schema."),
            f"<h3>Drift vs the data of the last blessed model ({_esc(drift.get('split'))} split; Jensen-Shannon "
            f"divergence, stop above {'never' if limit is None else _esc(limit)})</h3>",
            *([f'<p class="note">{_esc(drift["note"])}</p>'] if drift.get("note") else []),
            _table(("feature", "divergence", ""), drift_rows, "Drift not measured.")]


def _lineage(record: Dict[str, Any]) -> List[str]:
    pipeline, mlmd = _as_dict(record.get("pipeline")), _as_dict(record.get("mlmd"))
    artifacts = [[_esc(role), _esc(_as_dict(entry).get("type")), _esc(_as_dict(entry).get("id")),
                  f"<code>{_esc(_as_dict(entry).get('uri'))}</code>"]
                 for role, entry in _as_dict(mlmd.get("artifacts")).items()]
    executions = [[_esc(e.get("id")), _esc(e.get("node")), _esc(e.get("type")),
                   _esc(", ".join(e.get("produced") or []) or "none")]
                  for e in mlmd.get("executions") or [] if isinstance(e, dict)]
    return ["<h2>Lineage (ML Metadata)</h2>",
            f"<p>Pipeline {_esc(pipeline.get('name'))}, root <code>{_esc(pipeline.get('root'))}</code>, run "
            f"{_esc(pipeline.get('run_id'))}, store <code>{_esc(pipeline.get('metadata_path'))}</code>. "
            "<code>python -m pipeline lineage &lt;version&gt;</code> checks these ids against the store.</p>",
            _table(("role", "type", "id", "uri"), artifacts, "no artifacts recorded"),
            _table(("execution", "node", "type", "produced"), executions, "no executions recorded")]


def _code(record: Dict[str, Any]) -> List[str]:
    code = _as_dict(record.get("code"))
    dirty = {True: " (uncommitted changes)", False: " (clean)"}.get(code.get("dirty"), "")
    return ["<h2>Code and packages</h2>",
            f"<p>Commit <code>{_esc(code.get('commit'))}</code>{dirty}, from {_esc(code.get('source'))}.</p>",
            _key_values(_as_dict(record.get("versions")), "package versions not recorded")]


def _config(config: Dict[str, Any]) -> List[str]:
    body = html.escape(json.dumps(config, indent=1, sort_keys=True)) if config else NOT_RECORDED
    return ["<h2>Configuration</h2>",
            f"<details><summary>the whole resolved pipeline config (profile {_esc(config.get('profile'))})"
            f"</summary><pre>{body}</pre></details>"]


def _samples(sample_grid_png: Optional[str]) -> List[str]:
    if not sample_grid_png:
        return []
    encoded = base64.b64encode(output_files.read_bytes(sample_grid_png)).decode("ascii")
    caption = "held-out examples: input | generated | target"
    return ["<h2>Samples</h2>",
            f'<figure><img src="data:image/png;base64,{encoded}" alt="{caption}"><figcaption class="note">'
            f"{caption}</figcaption></figure>"]


def render(record: Dict[str, Any], sample_grid_png: Optional[str] = None) -> str:
    """The page's HTML."""
    config = _as_dict(record.get("config"))
    served = _as_dict(record.get("served"))
    sections = [*_header(record), *_what_it_does(config), *_use_and_limits(record),
                *_metrics(_as_dict(record.get("evaluation"))), *_samples(sample_grid_png),
                *_data(_as_dict(record.get("data"))), *_training(record.get("training")),
                *_validation(_as_dict(record.get("validation"))), *_lineage(record), *_code(record), *_config(config)]
    title = f"Model card: {_esc(served.get('model_name'))} version {_esc(served.get('version'))}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n" + "\n".join(sections)
            + "\n</body></html>\n")


def write_model_card(record: Dict[str, Any], output_path: str, sample_grid_png: Optional[str]) -> str:
    """Writes the card to ``output_path`` (the caller's staging folder: published with the version) and returns it."""
    return output_files.write_text(output_path, render(record, sample_grid_png))
