"""Three scheduled runs, here: spans arrive, the pipeline trains on them, serving changes only when it should.

``python -m pipeline simulate-spans`` does what a weekly schedule does, on
this machine, with the real pipeline (each run is ``python -m pipeline run``
in its own process, as each scheduled run is its own job):

1. span 1 lands -> trained, blessed, pushed;
2. span 2 lands -> trained on the window (spans 2 and 1), warm-started from
   the blessed model, gated against it on span 2's held-out pairs, pushed only
   if not worse;
3. span 3 lands with images of another kind (another size class: the drift
   check compares its statistics with span 2's) -> stopped by validation
   before training, nothing pushed, the served version unchanged.

Spans are made by the embedded generator, each with its own seed, in
``<workdir>/dataset/span-<n>/``. After each run the facts are read back from
ML Metadata and the serving folder (not from the run's text), printed as a
table and written to ``<workdir>/simulation.json``; the exit status says
whether every run behaved as above.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from components.example_gen import spans
from components.pusher import lineage_record
from components.typed_settings import ConfigError
from data import synthetic_facades

MARKER = ".span_simulation"            # a workdir this command made (and may empty again)
SPAN_FOLDER = "span-{SPAN}"
RESULT_FILE = "simulation.json"
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Arrival:
    """One scheduled run's new span and what the run must do with it."""

    span: int
    seed: int
    size_factor: float     # 1: the embedded images' size; else images of another kind (another size class)
    expect: str            # "pushed" | "pushed_if_not_worse" | "stopped"


ARRIVALS = (Arrival(1, seed=1, size_factor=1.0, expect="pushed"),
            Arrival(2, seed=2, size_factor=1.0, expect="pushed_if_not_worse"),
            Arrival(3, seed=3, size_factor=0.5, expect="stopped"))


@dataclasses.dataclass
class RunFacts:
    """What one run did, read back from ML Metadata and the serving folder."""

    span: int
    expect: str
    exit_status: int
    ingested_spans: List[int]
    warm_started_from: Optional[str]
    compared_with_blessed: bool
    blessed: Optional[bool]
    new_version: Optional[str]
    served_version: Optional[str]
    lineage_spans: List[int]
    stopped_by_validation: bool
    problems: List[str] = dataclasses.field(default_factory=list)

    def check(self, served_before: Optional[str], window: int) -> None:
        """Fills ``problems`` with every way this run differs from what its arrival expects."""
        expected_spans = list(range(self.span, max(0, self.span - window), -1))
        if self.expect == "stopped":
            if not self.stopped_by_validation:
                self.problems.append("was not stopped by data validation")
            if self.new_version or self.served_version != served_before:
                self.problems.append(f"serving changed ({served_before} -> {self.served_version})")
            if self.ingested_spans[:1] != [self.span]:
                self.problems.append(f"the ExampleGen read spans {self.ingested_spans}, not span {self.span}")
            return
        if self.exit_status != 0:
            self.problems.append(f"the run failed (exit status {self.exit_status})")
        if self.ingested_spans != expected_spans:
            self.problems.append(f"read spans {self.ingested_spans}, expected {expected_spans}")
        if self.expect == "pushed" and not self.new_version:
            self.problems.append("no version was pushed")
        if self.expect == "pushed_if_not_worse":
            if not self.warm_started_from:
                self.problems.append("the Trainer did not warm-start from the last blessed model")
            if not self.compared_with_blessed:
                self.problems.append("the Evaluator did not compare with the last blessed model")
            if bool(self.new_version) != bool(self.blessed):
                self.problems.append(f"blessed={self.blessed} but new version={self.new_version}")
        if self.new_version and self.lineage_spans != expected_spans:
            self.problems.append(f"the lineage of version {self.new_version} lists spans {self.lineage_spans}")


def prepare_workdir(workdir: str, fresh: bool) -> None:
    """Creates the workdir, or empties one this command made (``--fresh``); never another folder."""
    if os.path.lexists(workdir):
        if os.path.islink(workdir) or not os.path.isdir(workdir):
            raise ConfigError(f"--workdir {workdir}: not a folder (a symlink or a file); give a new folder")
        if os.listdir(workdir):
            if not os.path.isfile(os.path.join(workdir, MARKER)):
                raise ConfigError(f"--workdir {workdir}: a folder with files that this command did not make; "
                                  "give a new or empty folder")
            if not fresh:
                raise ConfigError(f"--workdir {workdir}: holds an earlier simulation; add --fresh to start over "
                                  "(it is emptied) or give another folder")
            shutil.rmtree(workdir)
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, MARKER), "w", encoding="utf-8") as handle:
        handle.write("made by python -m pipeline simulate-spans\n")


def land_span(dataset_dir: str, arrival: Arrival, num_pairs: int, image_size: int) -> str:
    """Writes one span folder whole (the generator builds it aside and renames it into place)."""
    folder = os.path.join(dataset_dir, SPAN_FOLDER.replace("{SPAN}", str(arrival.span)))
    size = max(32, int(round(image_size * arrival.size_factor)))
    synthetic_facades.generate_dataset(folder, num_pairs=num_pairs, image_size=size, seed=arrival.seed)
    return folder


def settings_for(workdir: str, window: int) -> List[str]:
    """The ``--set`` overrides that put every output of the simulation under ``workdir``."""
    return [f"data.dataset_dir={workdir}/dataset/{SPAN_FOLDER}", f"data.spans.window={window}",
            "trainer.warm_start=true", f"pipeline.root={workdir}/tfx_root",
            f"pipeline.metadata_path={workdir}/metadata.sqlite", f"pipeline.report_dir={workdir}/report",
            f"pipeline.log_dir={workdir}/logs", f"pusher.serving_dir={workdir}/serving_model",
            "pusher.model_config_file=null"]


def _store(metadata_path: str) -> Optional[mlmd.MetadataStore]:
    if not os.path.exists(metadata_path):
        return None
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return mlmd.MetadataStore(config)


def _newest(store, type_name: str, since_ms: int) -> Optional[metadata_store_pb2.Artifact]:
    if store is None:
        return None
    artifacts = [a for a in store.get_artifacts_by_type(type_name) if a.create_time_since_epoch >= since_ms]
    return max(artifacts, key=lambda a: a.id) if artifacts else None


def _custom(artifact, name: str):
    if artifact is None or name not in artifact.custom_properties:
        return None
    value = artifact.custom_properties[name]
    return value.string_value if value.HasField("string_value") else value.int_value


def served_versions(serving_base: str) -> List[str]:
    if not os.path.isdir(serving_base):
        return []
    return sorted((name for name in os.listdir(serving_base) if name.isdigit()), key=int)


def collect_facts(arrival: Arrival, exit_status: int, output: str, metadata_path: str, serving_base: str,
                  versions_before: List[str], started_ms: int) -> RunFacts:
    store = _store(metadata_path)
    examples = _newest(store, "Examples", started_ms)
    listed = json.loads(_custom(examples, spans.SPANS_PROPERTY) or "[]")
    blessing = _newest(store, "ModelBlessing", started_ms)
    model_run = _newest(store, "ModelRun", started_ms)
    training = {}
    if model_run is not None:
        path = os.path.join(model_run.uri, "training.json")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                training = json.load(handle)
    versions = served_versions(serving_base)
    new = [version for version in versions if version not in versions_before]
    lineage_spans: List[int] = []
    if new:
        try:
            record = lineage_record.read_record(os.path.join(serving_base, new[-1]))
            lineage_spans = [entry.get("span") for entry in (record.get("data") or {}).get("spans") or []]
        except lineage_record.LineageRecordError:
            lineage_spans = []
    return RunFacts(
        span=arrival.span, expect=arrival.expect, exit_status=exit_status,
        ingested_spans=[entry.get("span") for entry in listed],
        warm_started_from=training.get("warm_started_from"),
        compared_with_blessed=_custom(blessing, "baseline_model_id") is not None,
        blessed=None if blessing is None else bool(_custom(blessing, "blessed")),
        new_version=new[-1] if new else None, served_version=versions[-1] if versions else None,
        lineage_spans=lineage_spans,
        stopped_by_validation=exit_status != 0 and "data validation stopped the run" in output)


def simulate(config_path: str, workdir: str, overrides: Sequence[str] = (), window: int = 2,
             fresh: bool = False, arrivals: Sequence[Arrival] = ARRIVALS) -> List[RunFacts]:
    """Lands each arrival's span, runs the pipeline on it, and checks what the run did."""
    from pipeline.config import load_config   # the config decides sizes and where serving lives
    workdir = os.path.abspath(workdir)
    prepare_workdir(workdir, fresh)
    settings = settings_for(workdir, window) + list(overrides)
    config = load_config(config_path, settings)
    synthetic = config.data.synthetic
    serving_base = os.path.join(config.resolve(config.pusher.serving_dir), config.pusher.model_name)
    metadata_path = config.resolve(config.pipeline.metadata_path)
    results: List[RunFacts] = []
    for arrival in arrivals:
        folder = land_span(os.path.join(workdir, "dataset"), arrival, synthetic.num_pairs, synthetic.image_size)
        print(f"-- span {arrival.span} arrived: {folder}; scheduled run {len(results) + 1} of {len(arrivals)}",
              flush=True)
        before = served_versions(serving_base)
        started_ms = _now_ms()
        command = [sys.executable, "-m", "pipeline", "run", "--config", os.path.abspath(config_path)]
        for setting in settings:
            command += ["--set", setting]
        result = subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True)
        output = result.stdout + result.stderr
        print("\n".join("   " + line for line in output.strip().splitlines()[-12:]), flush=True)
        facts = collect_facts(arrival, result.returncode, output, metadata_path, serving_base, before, started_ms)
        facts.check(before[-1] if before else None, window)
        results.append(facts)
    with open(os.path.join(workdir, RESULT_FILE), "w", encoding="utf-8") as handle:
        json.dump([dataclasses.asdict(facts) for facts in results], handle, indent=1)
    return results


def _now_ms() -> int:
    return int(time.time() * 1000) - 1000   # MLMD's clock, a second of slack


def table(results: Sequence[RunFacts]) -> List[str]:
    """One line per run: what arrived, what was read, the verdict, serving, and what went wrong."""
    header = f"{'span':>4}  {'read spans':<11} {'warm start':<10} {'vs blessed':<10} {'blessed':<7} " \
             f"{'pushed':<10} {'served':<7} {'lineage spans':<13} result"
    lines = [header, "-" * len(header)]
    for facts in results:
        verdict = "ok" if not facts.problems else "; ".join(facts.problems)
        if facts.stopped_by_validation:
            verdict = ("stopped by validation, " + verdict) if verdict != "ok" else "stopped by validation: ok"
        lines.append(f"{facts.span:>4}  {','.join(map(str, facts.ingested_spans)) or '-':<11} "
                     f"{'yes' if facts.warm_started_from else 'no':<10} "
                     f"{'yes' if facts.compared_with_blessed else 'no':<10} "
                     f"{'-' if facts.blessed is None else ('yes' if facts.blessed else 'no'):<7} "
                     f"{facts.new_version or 'nothing':<10} {facts.served_version or '-':<7} "
                     f"{','.join(map(str, facts.lineage_spans)) or '-':<13} {verdict}")
    return lines
