"""How each pipeline stage's wall time and peak memory grow with the dataset: 1x, 4x, 16x the pairs.

    python -m benchmarks.scale [--scales 1 4 16] [--image-size 256] [--base-pairs N]
                               [--workdir build/bench_scale] [--set SECTION.KEY=VALUE ...]

Why: a stage whose time or memory grows faster than the data (or memory that
grows at all where a stage streams) is what stops the pipeline on a real
dataset, and it does not show at the embedded dataset's size. Scale k is k x
the base number of pairs (default: the config's ``data.synthetic.num_pairs``),
made once per size by the embedded generator at ``--image-size`` pixels and
trained at that size (``transform.image_size``: no resize). Each scale is one
real ``python -m pipeline run`` in its own process, with fresh ML Metadata and
outputs under the workdir (nothing is cached, no earlier model is compared),
one epoch of small nets, lenient gates and no TFLite copies (:data:`RUN_SETTINGS`):
cheap, but every stage still does work proportional to the data. ``--set``
values are appended, so they win.

What is measured: each stage's wall time from TFX's ``Component <id> is
running.`` to ``... is finished.`` (LocalDagRunner, read from the run's console
lines as they arrive: time of arrival, not the log's whole seconds), and the
resident memory (RSS) of the run's process tree -- the process plus all its
children, summed -- sampled every ~0.2 s and at each of those lines, the
highest sample during the stage being its peak. ``(start-up)`` is the time
before the first component (imports, config, building the pipeline),
``(wrap-up)`` after the last (the run's summary); ``whole run`` is the process
from start to exit, gaps between components included. After each run, the
Trainer runs again on the run's artifacts with the same settings
(``benchmarks.trainer_alone``: as a Vertex/Kubeflow step runs it, without
what the earlier stages left in the local runner's one process), and the
batch translation job (``serving.batch_translate``, Beam) translates the
scale's input images with the pushed version: each in a process of its own,
one more row each, whose peak is its own (``--skip-trainer-alone``,
``--skip-translation`` leave them out).

What is not: memory a stage frees is not returned to the system (the C
allocator and TensorFlow's keep it), so RSS only falls back rarely and a
stage's peak includes what earlier stages left resident: the ``+MB`` next to a
peak is its growth over the RSS when the stage started, the closer measure of
the stage's own need. Spikes shorter than the sampling interval are missed
(the kernel's high-water mark of the largest single process, from ``wait4``,
is in the JSON as a check); a sum over processes counts shared pages once per
process (Beam's multi_processing workers); CPU time, disk and file sizes are
not measured. Other work on the machine slows every row (load averages are
recorded). Writes benchmarks/results/scale.md and the raw numbers to
benchmarks/results/scale.json.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from pipeline import memory_allocator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
RESULTS = os.path.join(ROOT, "benchmarks", "results", "scale.md")
DEFAULT_WORKDIR = os.path.join("build", "bench_scale")
WORKDIR_MARKER = ".bench_scale"       # a workdir this benchmark made (its run folders may be emptied)
DATASET_MARKER_SUFFIX = ".dataset.json"  # beside a generated dataset: its size, written once it is whole
SAMPLE_INTERVAL_S = 0.2
TAIL_LINES = 25
MB = 2 ** 20

START_UP = "(start-up)"
WRAP_UP = "(wrap-up)"
BATCH_TRANSLATION = "batch translation (serving.batch_translate, own process)"
TRAINER_ALONE = "Trainer again, own process (as on Vertex/Kubeflow)"
AFTER_RUN_STAGES = (TRAINER_ALONE, BATCH_TRANSLATION)   # measured after the pipeline run, each in its own process
WHOLE_RUN = "whole run"
RUNNING, FINISHED = "running", "finished"
# TFX's LocalDagRunner (absl logging, shown on the console by pipeline/logs.py): one line before a component's
# launch, one after it returns. A console line starts with the time and level ("06:31:02 I Component ...").
EVENT_PATTERN = re.compile(r"\bComponent (?P<component>[\w.\-]+) is (?P<kind>running|finished)\.")

# Cheap but proportional to the data: every pair is still ingested, described, validated, trained on once
# and scored. Fresh ML Metadata per scale, so nothing is cached and no blessed model is compared.
RUN_SETTINGS = ("trainer.epochs=1", "trainer.epochs_decay=0", "trainer.min_steps=0", "trainer.ngf=8",
                "trainer.ndf=8", "evaluator.thresholds={l1: {statistic: mean, max: 255}}", "serving.tflite=[]",
                "pusher.model_config_file=null", "serving.tile_scale=1")


# --------------------------------------------------------------------------- #
# Pure logic: settings, log lines, samples -> stages, stages -> table
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class Event:
    """A component starting or finishing, at ``t`` seconds after the run started."""

    t: float
    component: str
    kind: str   # RUNNING | FINISHED


@dataclasses.dataclass
class StageStat:
    """One stage of one run: wall time and memory (bytes; None where no sample fell inside)."""

    stage: str
    seconds: float
    peak_bytes: Optional[int]
    start_bytes: Optional[int]
    finished: bool = True

    @property
    def growth_bytes(self) -> Optional[int]:
        """Peak over the RSS when the stage started: what this stage added (the allocator keeps the rest)."""
        if self.peak_bytes is None or self.start_bytes is None:
            return None
        return self.peak_bytes - self.start_bytes


@dataclasses.dataclass
class RunResult:
    """One scale's pipeline run."""

    scale: int
    pairs: int
    exit_status: int
    seconds: float
    peak_bytes: Optional[int]
    stages: List[StageStat]
    max_rss_single_process_bytes: Optional[int] = None   # kernel high-water mark (wait4), largest single process
    tail: List[str] = dataclasses.field(default_factory=list)
    output_log: str = ""
    allocator: str = ""   # the run's own "memory allocator: ..." line (profiles.local.memory_allocator)

    def stage(self, name: str) -> Optional[StageStat]:
        return next((stat for stat in self.stages if stat.stage == name), None)


def run_settings(run_dir: str, dataset_dir: str, image_size: int, extra: Sequence[str] = ()) -> List[str]:
    """The ``--set`` overrides of one scale's run: every output under ``run_dir``, then the cheap settings."""
    return [f"data.dataset_dir={dataset_dir}", f"pipeline.root={run_dir}/tfx_root",
            f"pipeline.metadata_path={run_dir}/metadata.sqlite", f"pipeline.report_dir={run_dir}/report",
            f"pipeline.log_dir={run_dir}/logs", f"pusher.serving_dir={run_dir}/serving_model",
            f"transform.image_size={image_size}", *RUN_SETTINGS, *extra]


def parse_event(line: str, t: float) -> Optional[Event]:
    """The component event on a console line, or None (every other line of the run)."""
    match = EVENT_PATTERN.search(line)
    return Event(t, match.group("component"), match.group("kind")) if match else None


def parse_events(timed_lines: Iterable[Tuple[float, str]]) -> List[Event]:
    """The component events among ``(t, line)`` pairs."""
    return [event for t, line in timed_lines for event in [parse_event(line, t)] if event is not None]


def _interval_memory(samples: Sequence[Tuple[float, int]], start: float, end: float
                     ) -> Tuple[Optional[int], Optional[int]]:
    """(peak, first) of the samples with ``start <= t <= end``; (None, None) when none fell inside."""
    inside = [rss for t, rss in samples if start <= t <= end]
    return (max(inside), inside[0]) if inside else (None, None)


def stage_stats(events: Sequence[Event], samples: Sequence[Tuple[float, int]], ended: float) -> List[StageStat]:
    """Each component's interval (running -> finished) and its memory, in launch order, between
    ``(start-up)`` (0 -> first launch) and ``(wrap-up)`` (last finish -> ``ended``).

    A component still running at ``ended`` (a failed run) is ``finished=False`` and ends there; a
    component launched twice gets ``#2``. ``samples`` are ``(t, rss_bytes)``, in any order.
    """
    samples = sorted(samples)
    ordered = sorted(events, key=lambda event: event.t)
    open_stages: Dict[str, Tuple[str, float]] = {}
    intervals: List[Tuple[str, float, float, bool]] = []
    launches: Dict[str, int] = collections.Counter()
    for event in ordered:
        if event.kind == RUNNING:
            launches[event.component] += 1
            count = launches[event.component]
            name = event.component if count == 1 else f"{event.component}#{count}"
            open_stages[event.component] = (name, event.t)
        elif event.component in open_stages:
            name, start = open_stages.pop(event.component)
            intervals.append((name, start, event.t, True))
    intervals += [(name, start, max(start, ended), False) for name, start in open_stages.values()]
    intervals.sort(key=lambda interval: interval[1])

    stats = []
    first_launch = intervals[0][1] if intervals else ended
    peak, first = _interval_memory(samples, 0.0, first_launch)
    stats.append(StageStat(START_UP, first_launch, peak, first))
    for name, start, end, finished in intervals:
        peak, first = _interval_memory(samples, start, end)
        stats.append(StageStat(name, end - start, peak, first, finished))
    if intervals and all(interval[3] for interval in intervals):
        last_finish = max(interval[2] for interval in intervals)
        peak, first = _interval_memory(samples, last_finish, ended)
        stats.append(StageStat(WRAP_UP, max(0.0, ended - last_finish), peak, first))
    return stats


def _mb(value: Optional[float]) -> str:
    return "-" if value is None else f"{value / MB:.0f}"


def _stage_names(runs: Sequence[RunResult]) -> List[str]:
    """Every pipeline stage of every run, in launch order; the start-up first, the wrap-up last."""
    names: List[str] = []
    for run in runs:
        for stat in run.stages:
            if stat.stage not in names and stat.stage not in (START_UP, WRAP_UP, *AFTER_RUN_STAGES):
                names.append(stat.stage)
    return [START_UP, *names, WRAP_UP]


def _ratio(large: Optional[float], small: Optional[float]) -> str:
    return "-" if large is None or not small else f"{large / small:.2f}"


def ratio_pair(runs: Sequence[RunResult]) -> Optional[Tuple[RunResult, RunResult]]:
    """(smaller, larger): the two largest scales whose runs succeeded, e.g. 4x and 16x; None under two."""
    good = sorted((run for run in runs if run.exit_status == 0), key=lambda run: run.scale)
    return (good[-2], good[-1]) if len(good) >= 2 else None


def table(runs: Sequence[RunResult]) -> List[str]:
    """Markdown: a row per stage; per scale its seconds and peak MB (+ growth during the stage); then the
    larger/smaller ratios of the two largest successful scales and the extra MB per 1000 pairs between them."""
    runs = sorted(runs, key=lambda run: run.scale)
    pair = ratio_pair(runs)
    header = ["stage"]
    for run in runs:
        header += [f"{run.scale}x ({run.pairs} pairs): s", f"{run.scale}x: peak MB (+during stage)"]
    if pair:
        small, large = pair
        header += [f"s {large.scale}x/{small.scale}x", f"peak MB {large.scale}x/{small.scale}x",
                   f"extra peak MB per 1000 pairs ({small.scale}x->{large.scale}x)"]
    lines = ["| " + " | ".join(header) + " |", "| --- |" + " ---: |" * (len(header) - 1)]

    def cells(stat: Optional[StageStat], growth: bool) -> List[str]:
        if stat is None:
            return ["-", "-"]
        seconds = f"{stat.seconds:.1f}" + ("" if stat.finished else " (failed)")
        memory = _mb(stat.peak_bytes)
        if growth and stat.growth_bytes is not None:
            memory += f" (+{stat.growth_bytes / MB:.0f})"
        return [seconds, memory]

    def ratios(small_stat, large_stat, small_run: RunResult, large_run: RunResult) -> List[str]:
        if small_stat is None or large_stat is None or not (small_stat.finished and large_stat.finished):
            return ["-", "-", "-"]
        extra = "-"
        if None not in (large_stat.peak_bytes, small_stat.peak_bytes) and large_run.pairs != small_run.pairs:
            per_pair = (large_stat.peak_bytes - small_stat.peak_bytes) / (large_run.pairs - small_run.pairs)
            extra = f"{per_pair * 1000 / MB:+.0f}"
        return [_ratio(large_stat.seconds, small_stat.seconds), _ratio(large_stat.peak_bytes, small_stat.peak_bytes),
                extra]

    def stage_row(name: str) -> None:
        row = [name]
        for run in runs:
            row += cells(run.stage(name), growth=name not in (START_UP, WRAP_UP))
        if pair:
            row += ratios(pair[0].stage(name), pair[1].stage(name), *pair)
        if any(run.stage(name) for run in runs):
            lines.append("| " + " | ".join(row) + " |")

    for name in _stage_names(runs):
        stage_row(name)
    whole = [WHOLE_RUN]
    for run in runs:
        whole += [f"{run.seconds:.1f}", _mb(run.peak_bytes)]
    if pair:
        small, large = pair
        whole += ratios(StageStat(WHOLE_RUN, small.seconds, small.peak_bytes, None),
                        StageStat(WHOLE_RUN, large.seconds, large.peak_bytes, None), small, large)
    lines.append("| " + " | ".join(whole) + " |")
    for name in AFTER_RUN_STAGES:   # after the pipeline run, each in a process of its own
        stage_row(name)
    status = ["exit status"]
    for run in runs:
        status += [str(run.exit_status), ""]
    if pair:
        status += ["", "", ""]
    lines.append("| " + " | ".join(status) + " |")
    return lines


def failures(runs: Sequence[RunResult]) -> List[str]:
    """For each failed run: its exit status and the last lines of its output."""
    lines: List[str] = []
    for run in sorted(runs, key=lambda run: run.scale):
        if run.exit_status != 0:
            lines += ["", f"{run.scale}x ({run.pairs} pairs) failed with exit status {run.exit_status}; "
                      f"its last lines ({run.output_log or 'output not kept'}):", "", "```",
                      *run.tail, "```"]
    return lines


def report(runs: Sequence[RunResult], *, date: str, machine: str, image_size: int, base_pairs: int,
           extra: Sequence[str], load: Tuple[float, float]) -> str:
    """The results file: what was run, the table, the failures."""
    lines = ["# Pipeline stages vs dataset size", "",
             f"Measured {date} on {machine}; Python {platform.python_version()}; 1-minute load average "
             f"{load[0]:.1f} before and {load[1]:.1f} after (other work on the machine slows every row).",
             f"Scales {', '.join(f'{run.scale}x' for run in sorted(runs, key=lambda run: run.scale))} of "
             f"{base_pairs} pairs of {image_size}x{image_size} images (the embedded generator), trained at "
             f"{image_size} px; each scale one `python -m pipeline run` with fresh ML Metadata (nothing cached) "
             f"and `--set` {', '.join(f'`{setting}`' for setting in [*RUN_SETTINGS, *extra])} "
             "(`python -m benchmarks.scale`).",
             "Seconds: from TFX's `Component ... is running.` to `... is finished.`. Peak MB: the highest "
             f"resident memory of the run's process tree (summed RSS, sampled every {SAMPLE_INTERVAL_S} s) "
             "during the stage; it includes what earlier stages left resident (freed memory stays with the "
             "allocator); (+N): its growth over the RSS when the stage started. Ratios near the scale ratio "
             "mean linear growth; a fixed cost (imports, Beam start-up, TFX packaging) pulls them towards 1. "
             "After the run, each in a process of its own (its peak is its own; +N: over its first sample): "
             f"`{TRAINER_ALONE}`: `python -m benchmarks.trainer_alone`, the run's `run_fn` with the same "
             "settings on its ExampleGen and Transform artifacts (the local runner's one process also holds "
             f"what the stages before the Trainer left with the allocator); `{BATCH_TRANSLATION}`: "
             "`python -m serving.batch_translate` (Beam, DirectRunner) over every input image of the "
             "scale's dataset with the version the run pushed.",
             "Each run's " + "; ".join(sorted({run.allocator or f"{memory_allocator.LINE_PREFIX} not said"
                                              for run in runs})) + " (`profiles.local.memory_allocator`).",
             "", *table(runs), *failures(runs), ""]
    return "\n".join(lines)


def results_json(runs: Sequence[RunResult], **context) -> dict:
    """The raw numbers, bytes and seconds, for other tools."""
    return {**context, "runs": [{**dataclasses.asdict(run),
                                 "stages": [{**dataclasses.asdict(stat), "growth_bytes": stat.growth_bytes}
                                            for stat in run.stages]}
                                for run in sorted(runs, key=lambda run: run.scale)]}


def dataset_ready(folder: str, num_pairs: int, image_size: int, seed: int) -> bool:
    """True when ``folder`` is a whole dataset of this size: its marker (written after it) says so."""
    marker = folder.rstrip(os.sep) + DATASET_MARKER_SUFFIX
    try:
        with open(marker, encoding="utf-8") as handle:
            recorded = json.load(handle)
    except (OSError, ValueError):
        return False
    return os.path.isdir(folder) and recorded == {"num_pairs": num_pairs, "image_size": image_size, "seed": seed}


# --------------------------------------------------------------------------- #
# Doing it: the workdir, the datasets, the runs
# --------------------------------------------------------------------------- #
def prepare_workdir(workdir: str) -> None:
    """Creates the workdir, or reuses one this benchmark made; refuses any other folder (it empties run folders)."""
    if os.path.lexists(workdir):
        if os.path.islink(workdir) or not os.path.isdir(workdir):
            raise SystemExit(f"--workdir {workdir}: not a folder (a symlink or a file); give a new folder")
        if os.listdir(workdir) and not os.path.isfile(os.path.join(workdir, WORKDIR_MARKER)):
            raise SystemExit(f"--workdir {workdir}: a folder with files this benchmark did not make; "
                             "give a new or empty folder")
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, WORKDIR_MARKER), "w", encoding="utf-8") as handle:
        handle.write("made by python -m benchmarks.scale\n")


def ensure_dataset(datasets_dir: str, num_pairs: int, image_size: int, seed: int) -> str:
    """The dataset of this size, generated once: reused while its marker matches, else made again."""
    from data import synthetic_facades

    folder = os.path.join(datasets_dir, f"pairs-{num_pairs}-{image_size}px-seed{seed}")
    if dataset_ready(folder, num_pairs, image_size, seed):
        print(f"dataset: reusing {folder}", flush=True)
        return folder
    if os.path.lexists(folder):
        shutil.rmtree(folder)   # an incomplete one of ours (no marker): in the benchmark's own workdir
    print(f"dataset: generating {num_pairs} pairs of {image_size}x{image_size} in {folder} ...", flush=True)
    started = time.perf_counter()
    synthetic_facades.generate_dataset(folder, num_pairs=num_pairs, image_size=image_size, seed=seed)
    with open(folder + DATASET_MARKER_SUFFIX, "w", encoding="utf-8") as handle:
        json.dump({"num_pairs": num_pairs, "image_size": image_size, "seed": seed}, handle)
    print(f"dataset: {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def tree_rss(process) -> Optional[int]:
    """Summed RSS of ``process`` and all its descendants; None once it is gone."""
    import psutil

    try:
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:   # exited between listing and reading
            pass
    return total or None


class _Sampler(threading.Thread):
    """Samples the process tree's RSS every ``interval`` s (and when asked) as ``(t, bytes)``."""

    def __init__(self, pid: int, t0: float, interval: float = SAMPLE_INTERVAL_S):
        import psutil

        super().__init__(daemon=True)
        try:
            self.process = psutil.Process(pid)
        except psutil.Error:   # already gone: nothing to sample
            self.process = None
        self.t0, self.interval = t0, interval
        self.samples: List[Tuple[float, int]] = []
        self.stopped = threading.Event()
        self._lock = threading.Lock()

    def sample(self, t: Optional[float] = None) -> None:
        """One sample, at ``t`` (a log line's time: it then counts for the stages on both sides) or now."""
        rss = tree_rss(self.process) if self.process is not None else None
        if rss is not None:
            with self._lock:
                self.samples.append((time.monotonic() - self.t0 if t is None else t, rss))

    def run(self) -> None:
        while self.process is not None and not self.stopped.is_set():
            self.sample()
            self.stopped.wait(self.interval)


@dataclasses.dataclass
class Measured:
    """One command's process tree: exit status, wall time, RSS samples and its timed component lines."""

    exit_status: int
    seconds: float
    samples: List[Tuple[float, int]]
    timed_lines: List[Tuple[float, str]]
    max_rss_single_process_bytes: Optional[int]
    tail: List[str]


def run_measured(command: Sequence[str], output_log: str) -> Measured:
    """Runs ``command`` from the checkout while its tree's memory is sampled and its component lines timed."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    timed_lines: List[Tuple[float, str]] = []
    tail: collections.deque = collections.deque(maxlen=TAIL_LINES)

    t0 = time.monotonic()
    process = subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1)
    sampler = _Sampler(process.pid, t0)
    sampler.start()

    def read() -> None:
        with open(output_log, "w", encoding="utf-8") as log:
            for line in process.stdout:
                t = time.monotonic() - t0
                line = line.rstrip("\n")
                log.write(line + "\n")
                tail.append(line)
                event = parse_event(line, t)
                if event is not None:
                    sampler.sample(t)   # a sample at each boundary, at the line's time: short stages get one
                    timed_lines.append((t, line))
                    print(f"   {t:7.1f}s  {event.component} {event.kind}", flush=True)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    max_rss = None
    try:
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        max_rss = usage.ru_maxrss * 1024   # kilobytes on Linux
    except ChildProcessError:
        process.wait()
    except BaseException:
        process.terminate()
        process.wait()
        raise
    finally:
        ended = time.monotonic() - t0
        sampler.stopped.set()
        sampler.join()
        reader.join(timeout=30)   # a leftover grandchild may hold the pipe open: do not wait for it forever
    return Measured(process.returncode, ended, list(sampler.samples), timed_lines, max_rss, list(tail))


def run_scale(scale: int, pairs: int, settings: Sequence[str], run_dir: str, config_path: str) -> RunResult:
    """One ``python -m pipeline run`` while its memory is sampled and its component lines are timed."""
    if os.path.lexists(run_dir):
        shutil.rmtree(run_dir)   # in the benchmark's own workdir: a fresh run every time
    os.makedirs(run_dir)
    command = [sys.executable, "-m", "pipeline", "run", "--config", config_path]
    for setting in settings:
        command += ["--set", setting]
    output_log = os.path.join(run_dir, "output.log")
    measured = run_measured(command, output_log)
    allocator = allocator_line(output_log)
    stages = stage_stats(parse_events(measured.timed_lines), measured.samples, measured.seconds)
    return RunResult(scale=scale, pairs=pairs, exit_status=measured.exit_status, seconds=measured.seconds,
                     peak_bytes=max((rss for _, rss in measured.samples), default=None), stages=stages,
                     max_rss_single_process_bytes=measured.max_rss_single_process_bytes, tail=measured.tail,
                     output_log=output_log, allocator=allocator)


def allocator_line(output_log: str) -> str:
    """What the run said about its memory allocator (jemalloc or glibc malloc), or "" if it said nothing."""
    with open(output_log, encoding="utf-8", errors="replace") as log:
        return next((line.strip() for line in log if line.startswith(memory_allocator.LINE_PREFIX)), "")


def translation_command(images_dir: str, output_dir: str, model_base: str) -> List[str]:
    """The batch translation job (Beam, DirectRunner) over every input image of a scale's dataset."""
    return [sys.executable, "-m", "serving.batch_translate", "--input", images_dir, "--output", output_dir,
            "--model-dir", model_base, "--format", "images"]


def trainer_alone_command(run_dir: str, output_dir: str, settings: Sequence[str], config_path: str) -> List[str]:
    """The run's Trainer again on its artifacts, in a process of its own (benchmarks/trainer_alone.py)."""
    command = [sys.executable, "-m", "benchmarks.trainer_alone", "--artifacts", os.path.join(run_dir, "tfx_root"),
               "--output", output_dir, "--config", config_path]
    for setting in settings:
        command += ["--set", setting]
    return command


def own_process_stage(name: str, measured: Measured) -> StageStat:
    """A job after the run as one more row: its own process, so its peak is its own."""
    peak, first = _interval_memory(sorted(measured.samples), 0.0, measured.seconds)
    return StageStat(name, measured.seconds, peak, first, finished=measured.exit_status == 0)


def run_after(run: RunResult, name: str, command: Sequence[str], run_dir: str, output_dir: str, log_name: str) -> None:
    """Runs one after-run job, measured; adds its row to ``run`` (a failure fails the scale, with its lines)."""
    log_path = os.path.join(run_dir, log_name)
    measured = run_measured(command, log_path)
    run.stages.append(own_process_stage(name, measured))
    if measured.exit_status != 0:
        run.exit_status = measured.exit_status
        run.tail = [f"{name} failed:", *measured.tail]
        run.output_log = log_path
    else:
        shutil.rmtree(output_dir, ignore_errors=True)   # only its cost matters; keep the workdir small


def run_translation(run: RunResult, dataset_dir: str, run_dir: str, model_base: str) -> None:
    """Translates the scale's input images with the version its run pushed."""
    output_dir = os.path.join(run_dir, "translated")
    run_after(run, BATCH_TRANSLATION, translation_command(os.path.join(dataset_dir, "input"), output_dir, model_base),
              run_dir, output_dir, "translation.log")


def run_trainer_alone(run: RunResult, run_dir: str, settings: Sequence[str], config_path: str) -> None:
    """Trains again on the run's artifacts with the run's settings, in a process of its own."""
    output_dir = os.path.join(run_dir, "trainer_alone")
    run_after(run, TRAINER_ALONE, trainer_alone_command(run_dir, output_dir, settings, config_path),
              run_dir, output_dir, "trainer_alone.log")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16],
                        help="multiples of the base pairs (default: %(default)s)")
    parser.add_argument("--image-size", type=int, default=256,
                        help="pixels per side, generated and trained at (default: %(default)s)")
    parser.add_argument("--base-pairs", type=int, default=None,
                        help="pairs at scale 1 (default: the config's data.synthetic.num_pairs)")
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR,
                        help="datasets and runs, relative to the checkout (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="appended to every run's settings (repeatable; they win), e.g. --set trainer.batch_size=4")
    parser.add_argument("--skip-trainer-alone", action="store_true",
                        help="do not train again on each run's artifacts in a process of its own")
    parser.add_argument("--skip-translation", action="store_true",
                        help="measure the pipeline only, not the batch translation job after each run")
    parser.add_argument("--output", default=RESULTS, help="results file (default: %(default)s); raw JSON beside it")
    args = parser.parse_args(argv)
    if any(scale < 1 for scale in args.scales) or len(set(args.scales)) != len(args.scales):
        parser.error("--scales: distinct integers >= 1")
    if args.base_pairs is not None and args.base_pairs < 1:
        parser.error("--base-pairs: an integer >= 1")
    started = time.perf_counter()

    import components  # noqa: F401 - sets TF_USE_LEGACY_KERAS before the config's modules load TensorFlow
    from benchmarks.machine import machine_description
    from benchmarks.report_file import publish
    from pipeline.config import ConfigError, load_config

    workdir = os.path.abspath(os.path.join(ROOT, args.workdir) if not os.path.isabs(args.workdir) else args.workdir)
    datasets_dir, runs_dir = os.path.join(workdir, "datasets"), os.path.join(workdir, "runs")
    scales = sorted(args.scales)
    try:   # every key and value checked before anything is generated or run
        config = load_config(CONFIG, run_settings(os.path.join(runs_dir, "check"), os.path.join(datasets_dir, "check"),
                                                  args.image_size, args.overrides))
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
    base = args.base_pairs if args.base_pairs is not None else config.data.synthetic.num_pairs
    seed = config.data.synthetic.seed
    prepare_workdir(workdir)

    load_before = os.getloadavg()[0]
    runs: List[RunResult] = []
    for scale in scales:
        pairs = scale * base
        folder = ensure_dataset(datasets_dir, pairs, args.image_size, seed)
        run_dir = os.path.join(runs_dir, f"scale-{scale}")
        print(f"-- {scale}x: {pairs} pairs; pipeline run in {run_dir}", flush=True)
        settings = run_settings(run_dir, folder, args.image_size, args.overrides)
        run = run_scale(scale, pairs, settings, run_dir, CONFIG)
        runs.append(run)
        if run.exit_status == 0 and not args.skip_trainer_alone:
            print(f"-- {scale}x: the Trainer again, in a process of its own", flush=True)
            run_trainer_alone(run, run_dir, settings, CONFIG)
        if run.exit_status == 0 and not args.skip_translation:
            print(f"-- {scale}x: batch translation of {pairs} input images", flush=True)
            run_translation(run, folder, run_dir, os.path.join(run_dir, "serving_model", config.pusher.model_name))
        print(f"-- {scale}x: exit status {run.exit_status}, {run.seconds:.0f} s, peak {_mb(run.peak_bytes)} MB",
              flush=True)
        if run.exit_status != 0:
            print("\n".join("   " + line for line in run.tail[-12:]), flush=True)

    load = (load_before, os.getloadavg()[0])
    date, machine = time.strftime("%Y-%m-%d %H:%M"), machine_description()
    text = report(runs, date=date, machine=machine, image_size=args.image_size, base_pairs=base,
                  extra=args.overrides, load=load)
    raw = results_json(runs, date=date, machine=machine, image_size=args.image_size, base_pairs=base,
                       settings=[*RUN_SETTINGS, *args.overrides], load_average=list(load),
                       sample_interval_s=SAMPLE_INTERVAL_S)
    json_path = os.path.splitext(args.output)[0] + ".json"
    os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
    with open(json_path, "w", encoding="utf-8") as handle:
        json.dump(raw, handle, indent=1)
    publish(text, args.output, started)
    failed = [run.scale for run in runs if run.exit_status != 0]
    if failed:
        print(f"failed runs: {', '.join(f'{scale}x' for scale in failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
