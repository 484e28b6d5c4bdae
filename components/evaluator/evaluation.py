"""Evaluates a candidate generator on the eval split and decides its blessing.

The candidate is run exactly as it will be served (its ``serving_examples``
signature, 8-bit output) and compared with the targets as training saw them
(its ``transform_features`` signature). Two trivial predictors are scored on the
same examples so every number has a reference: ``output = input`` and
``output = mean target image``; relative thresholds take their bounds from them. When a previously blessed model exists it is
scored too (FID included) and shown beside the candidate.

It fails closed: an empty eval split, a model whose files are gone, or a gate on
a metric that cannot be computed is an error naming what is wrong, never a
blessing decided on less than the configuration asked for.
"""
from __future__ import annotations

import dataclasses
import heapq
import json
import logging
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import message as protobuf_message

from components import features, output_files, visuals
from components.evaluator import blessing, fid as fid_metric, metrics, report
from components.evaluator.baselines import IDENTITY_BASELINE, MEAN_TARGET_BASELINE
from components.evaluator.fid import FrechetInceptionDistance
from components.evaluator.settings import SECTION, EvaluatorSettings
from components.example_gen import spans
from components.example_validator import report as validation_report

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
SAMPLE_GRID = "samples.png"
WORST_GRID = "worst_examples.png"
METRICS_CHART = "metrics.png"
CANDIDATE, PREVIOUS, STOCHASTIC = "candidate", "previous", "stochastic"
STOCHASTIC_SEED = 0   # the candidate's stochastic signature is scored with this seed: the same numbers every run
CANDIDATE_ROLE, BASELINE_ROLE = "candidate model", "last blessed model (the regression baseline)"
MIN_EVAL_EXAMPLES = 1
# Where the eval split's size is decided, named by the empty-split error.
SPLIT_SIZE_KEYS = "data.split_ratios (hash split) or data.split_folders (folder split)"
# What tf.saved_model.load raises for a damaged SavedModel (truncated or foreign files).
LOAD_ERRORS = (tf.errors.OpError, OSError, ValueError, KeyError, protobuf_message.DecodeError)


class EvaluationInputError(ValueError):
    """The eval split or a model to score is missing or unusable; the message names it and what was expected."""


@dataclasses.dataclass
class EvaluationResult:
    blessed: bool
    message: str
    candidate: Dict[str, dict]
    baselines: Dict[str, Dict[str, dict]]
    baseline_model: Optional[Dict[str, dict]]
    checks: List[dict]
    num_examples: int
    report_path: str
    candidate_stochastic: Optional[Dict[str, dict]] = None   # shown beside the candidate, never gated
    split: str = "eval"                                       # the split that was scored
    training: Optional[dict] = None                           # the Trainer's training.json: the exported epoch
    spans: List[dict] = dataclasses.field(default_factory=list)   # the data's spans, newest (gated on) first

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def eval_files(file_pattern: str) -> List[str]:
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise EvaluationInputError(f"eval split {file_pattern}: no files match; expected the eval split's "
                                   "GZIP TFRecord files written by the ExampleGen")
    return files


def batches(files: Sequence[str], batch_size: int) -> Iterator[tf.Tensor]:
    yield from tf.data.TFRecordDataset(list(files), compression_type="GZIP").batch(batch_size)


def load_model(path: str, role: str, signatures: Sequence[str]):
    """Loads a SavedModel that must have ``signatures``; anything else is an error naming ``role`` and ``path``."""
    if not tf.saved_model.contains_saved_model(path):
        what = "its folder does not exist" if not tf.io.gfile.exists(path) else "saved_model.pb is missing"
        raise EvaluationInputError(f"{role} at {path}: {what} (deleted or moved after it was written?); "
                                   "expected a SavedModel folder")
    try:
        model = tf.saved_model.load(path)
    except LOAD_ERRORS as error:
        raise EvaluationInputError(f"{role} at {path}: cannot be loaded ({type(error).__name__}: "
                                   f"{str(error).strip()[:500]}); expected a complete SavedModel") from error
    missing = [name for name in signatures if name not in model.signatures]
    if missing:
        raise EvaluationInputError(f"{role} at {path}: lacks the signature(s) {missing} (it has "
                                   f"{sorted(model.signatures)}); expected a pix2pix export")
    return model


def load_baseline(path: Optional[str], settings: EvaluatorSettings) -> Tuple[Optional[object], Optional[str]]:
    """The last blessed model, or ``(None, why)`` when it is unusable and no regression rule needs it.

    With regression rules the blessing depends on it, so an unusable baseline fails
    the evaluation (fail closed: no blessing, the Pusher does not run) instead of
    judging the candidate on the thresholds alone behind the user's back.
    Emptying the rules is the user's explicit way out.
    """
    if not path:
        return None, None
    try:
        return load_model(path, BASELINE_ROLE, (features.SERVING_EXAMPLES,)), None
    except EvaluationInputError as error:
        if settings.regression:
            raise EvaluationInputError(
                f"{error}. {SECTION}.regression compares the candidate with it, so the candidate is not "
                f"judged without it (no blessing): restore that folder, or set {SECTION}.regression to {{}} "
                f"to judge the candidate on {SECTION}.thresholds alone") from error
        log.warning("%s; %s.regression is empty, so it is not needed and not shown", error,
                    SECTION)
        return None, str(error)


def evaluate(eval_pattern: str, model_dir: str, output_dir: str, settings: EvaluatorSettings,
             baseline_model_dir: Optional[str] = None, loss_curves: Optional[str] = None,
             split: str = "eval", training_summary: Optional[dict] = None,
             validation: Optional[dict] = None, data_spans: Optional[List[dict]] = None) -> EvaluationResult:
    """Scores the candidate (and baselines) on ``split``'s examples, writes metrics, pictures and report.

    ``training_summary`` (the Trainer's training.json) says which epoch the candidate is and why; the
    report shows it beside the split, so a reader sees that selection and gate used different examples.
    ``validation`` (the ExampleValidator's validation.json) adds the data's anomalies and drift to the report;
    ``data_spans`` (the Examples' ``spans``) says which spans were trained on and which one is gated on.
    """
    files = eval_files(eval_pattern)
    candidate = load_model(model_dir, CANDIDATE_ROLE, (features.TRANSFORM_FEATURES, features.SERVING_EXAMPLES))
    previous, baseline_unusable = load_baseline(baseline_model_dir, settings)
    transform = candidate.signatures[features.TRANSFORM_FEATURES]
    fid = FrechetInceptionDistance.from_settings(settings)

    # Pass 1: candidate, previous model and identity; sum of targets for the mean image.
    scores = {name: metrics.MetricAccumulator() for name in (CANDIDATE, PREVIOUS, STOCHASTIC, IDENTITY_BASELINE)}
    # Exports from before the stochastic signature existed are scored deterministically only.
    stochastic = features.SERVING_EXAMPLES_STOCHASTIC in candidate.signatures
    target_sum, count, rows = None, 0, []
    worst = WorstExamples(settings.worst_images)
    for serialized in batches(files, settings.batch_size):
        xf = transform(examples=serialized)
        inputs, targets = metrics.to_pixels(xf[features.INPUT_XF]), metrics.to_pixels(xf[features.TARGET_XF])
        pair_ids = _pair_ids(serialized)
        generated = _generate(candidate, serialized)
        metrics.score_batch(scores[CANDIDATE], generated, targets)
        if stochastic:
            metrics.score_batch(scores[STOCHASTIC], _generate_stochastic(candidate, serialized), targets)
        metrics.score_batch(scores[IDENTITY_BASELINE], inputs, targets)
        previous_generated = _generate(previous, serialized) if previous else None
        if previous is not None:
            metrics.score_batch(scores[PREVIOUS], previous_generated, targets)
        if fid is not None:
            fid.add(targets, {CANDIDATE: generated} | ({PREVIOUS: previous_generated} if previous else {}))
        target_sum = tf.reduce_sum(targets, 0) + (0.0 if target_sum is None else target_sum)
        count += int(targets.shape[0])
        worst.add(metrics.l1_per_example(generated, targets).numpy(), pair_ids, inputs, generated, targets)
        for i in range(min(settings.sample_images - len(rows), int(targets.shape[0]))):
            images = [inputs[i], generated[i]] + ([previous_generated[i]] if previous is not None else []) + [targets[i]]
            rows.append((pair_ids[i], [_uint8(img) for img in images]))

    minimum = fid_metric.MIN_EXAMPLES if fid is not None else MIN_EVAL_EXAMPLES
    if count < minimum:
        needs = f" (FID needs {minimum})" if fid is not None else ""
        raise EvaluationInputError(
            f"{split} split {eval_pattern}: {count} examples in {len(files)} file(s); expected at least {minimum}"
            f"{needs} to score the candidate on. The {split} split's share of the dataset is set by {SPLIT_SIZE_KEYS}")

    # Pass 2: the mean target image as a constant prediction.
    mean_target = target_sum / count
    mean_scores = metrics.MetricAccumulator()
    for serialized in batches(files, settings.batch_size):
        targets = metrics.to_pixels(transform(examples=serialized)[features.TARGET_XF])
        metrics.score_batch(mean_scores, tf.broadcast_to(mean_target, tf.shape(targets)), targets)

    candidate_stats = scores[CANDIDATE].result()
    baselines = {IDENTITY_BASELINE: scores[IDENTITY_BASELINE].result(), MEAN_TARGET_BASELINE: mean_scores.result()}
    previous_stats = scores[PREVIOUS].result() if previous is not None else None
    if fid is not None:
        candidate_stats[metrics.FID] = fid.result(CANDIDATE)
        if previous_stats is not None:
            previous_stats[metrics.FID] = fid.result(PREVIOUS)
    checks = blessing.check_thresholds(candidate_stats, settings.thresholds, baselines)
    if previous_stats is not None:
        checks += blessing.check_regression(candidate_stats, previous_stats, settings.regression,
                                            metrics.HIGHER_IS_BETTER)
    blessed, message = blessing.decide(checks)
    if baseline_unusable:
        message += f"; {baseline_unusable}: judged on {SECTION}.thresholds alone ({SECTION}.regression is empty)"
    elif previous is None:
        message += f"; no previously blessed model: judged on {SECTION}.thresholds alone"
    log.info("%d %s examples: %s", count, split, message)

    output_files.makedirs(output_dir)
    columns = ["input", "generated"] + (["last blessed"] if previous is not None else []) + ["target"]
    grid = visuals.save_image_grid(output_files.join(output_dir, SAMPLE_GRID), rows, columns)
    model_stats = {report.CANDIDATE: candidate_stats}
    if stochastic:
        model_stats[report.STOCHASTIC] = scores[STOCHASTIC].result()
    if previous_stats:
        model_stats[report.BASELINE_MODEL] = previous_stats
    extra = {"Metrics": report.write_metrics_png(output_files.join(output_dir, METRICS_CHART), model_stats,
                                                 baselines)}
    if worst.rows():
        extra[f"Worst {len(worst.rows())} eval examples by L1"] = visuals.save_image_grid(
            output_files.join(output_dir, WORST_GRID), worst.rows(), ["input", "generated", "target"])
    if loss_curves and tf.io.gfile.exists(loss_curves):
        extra["Training losses"] = loss_curves
    notes = [f"Gated on the '{split}' split ({count} examples)"
             + (f" of span {data_spans[0]['span']}, the newest; trained on {spans.describe_spans(data_spans)}."
                if data_spans else ".")]
    if training_summary:
        notes.append(f"Candidate: epoch {training_summary.get('exported_epoch')} of "
                     f"{training_summary.get('total_epochs')} ({training_summary.get('reason')}); the Trainer "
                     f"validated on the '{training_summary.get('validation_split')}' split.")
    report_path = report.write_report(output_dir, title="pix2pix evaluation", metrics=model_stats,
                                      baselines=baselines, checks=checks, blessed=blessed,
                                      sample_grid_png=grid, extra_images=extra, notes=notes, split=split,
                                      extra_sections={"Data validation": validation_report.validation_tables(validation)}
                                      if validation else None)
    result = EvaluationResult(blessed=blessed, message=message, candidate=candidate_stats, baselines=baselines,
                              baseline_model=previous_stats, checks=checks, num_examples=count, split=split,
                              training=training_summary, spans=list(data_spans or []),
                              report_path=report_path, candidate_stochastic=model_stats.get(report.STOCHASTIC))
    output_files.write_text(output_files.join(output_dir, METRICS_FILE), json.dumps(result.as_dict(), indent=1))
    return result


class WorstExamples:
    """Keeps the k examples with the highest L1 seen so far (with their images)."""

    def __init__(self, k: int):
        self.k = k
        self._heap: List[tuple] = []   # min-heap of (l1, order, label, images)
        self._order = 0

    def add(self, l1_values, pair_ids, inputs, generated, targets) -> None:
        for i, l1 in enumerate(l1_values):
            self._order += 1
            item = (float(l1), self._order, pair_ids[i], (inputs[i], generated[i], targets[i]))
            if len(self._heap) < self.k:
                heapq.heappush(self._heap, (item[0], item[1], item[2], [_uint8(x) for x in item[3]]))
            elif self.k and item[0] > self._heap[0][0]:
                heapq.heapreplace(self._heap, (item[0], item[1], item[2], [_uint8(x) for x in item[3]]))

    def rows(self):
        return [(f"{label}\nL1 {l1:.1f}", images) for l1, _, label, images in sorted(self._heap, reverse=True)]


def _uint8(image: tf.Tensor) -> np.ndarray:
    return np.uint8(np.clip(np.round(np.asarray(image)), 0, 255))


def _pair_ids(serialized: tf.Tensor) -> List[str]:
    parsed = tf.io.parse_example(serialized, {features.PAIR_ID_KEY: tf.io.FixedLenFeature([], tf.string, b"?")})
    return [value.decode("utf-8", "replace") for value in parsed[features.PAIR_ID_KEY].numpy()]


def _generate(model, serialized: tf.Tensor) -> tf.Tensor:
    pixels = model.signatures[features.SERVING_EXAMPLES](examples=serialized)[features.SERVING_OUTPUT_PIXELS]
    return tf.cast(pixels, tf.float32)


def _generate_stochastic(model, serialized: tf.Tensor) -> tf.Tensor:
    """The paper's test-time mode (dropout on, each image's own statistics), at a fixed seed."""
    pixels = model.signatures[features.SERVING_EXAMPLES_STOCHASTIC](
        examples=serialized, seed=tf.constant(STOCHASTIC_SEED, tf.int64))[features.SERVING_OUTPUT_PIXELS]
    return tf.cast(pixels, tf.float32)
