"""Argument parsing and the commands behind ``python -m pipeline``."""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import sys
import time
import warnings
from typing import Callable, List, Optional

from pipeline import logs, output_paths
from pipeline.config import ConfigError, load_config

DEFAULT_CONFIG = "pipeline_config.yaml"


# Vertex AI takes the PipelineJob JSON; kfp.Client only reads .yaml packages.
COMPILED_DEFAULTS = {"vertex": "build/pix2pix_pipeline.json", "kubeflow": "build/pix2pix_pipeline.yaml"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, default_profile: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text)
        sub.add_argument("--config", default=DEFAULT_CONFIG, help="pipeline config YAML (default: %(default)s)")
        sub.add_argument("--profile", default=default_profile,
                         help="profile under 'profiles:' in the config (default: %(default)s)")
        sub.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                         help="override one config value (repeatable), e.g. --set trainer.epochs=1")
        return sub

    command("run", "run the whole pipeline locally (LocalDagRunner, Beam DirectRunner)", "local")

    summary = command("model-summary", "print the networks and parameter counts, no training", "local")
    summary.add_argument("--image-size", type=int, default=None,
                         help="image size to build the nets at (default: transform.image_size)")

    compile_ = command("compile", "compile for Vertex AI / Kubeflow Pipelines (offline, no credentials)", "vertex")
    compile_.add_argument("--output", default=None,
                          help="file to write (default: build/pix2pix_pipeline.json for vertex, .yaml for kubeflow)")

    for name, help_text in (("submit", "compile, then start one run on Vertex AI / Kubeflow Pipelines"),
                            ("schedule", "compile, then create the profile's recurring schedule")):
        sub = command(name, help_text, "vertex")
        sub.add_argument("--output", default=None, help="compiled file (default: as for compile)")
        sub.add_argument("--dry-run", action="store_true", help="compile and show what would be sent; send nothing")

    command("image", "print the profile's container image (for `make build-image` / `make push-image`)", "vertex")

    schema = command("schema", "draft the curated schema from the config's dataset (SchemaGen, then the "
                     "project's curation)", "local")
    schema.add_argument("--output", default=None,
                        help="schema file to write (default: data_validation.schema_file)")
    schema.add_argument("--force", action="store_true", help="replace an existing (curated) schema file")

    lineage = command("lineage", "a served version's chain back to its data, config and code, checked against "
                      "ML Metadata", "local")
    lineage.add_argument("version", help="a version number under <pusher.serving_dir>/<pusher.model_name>/, "
                         "or a version folder")
    lineage.add_argument("--json", action="store_true", help="print the raw lineage record, nothing else")
    lineage.add_argument("--metadata", default=None, metavar="PATH",
                         help="ML Metadata SQLite file to check against (default: pipeline.metadata_path)")
    simulate = command("simulate-spans", "three scheduled runs here as spans arrive: trained and pushed; "
                       "trained on the window, warm-started, pushed if not worse; another kind, stopped", "local")
    simulate.add_argument("--workdir", default="build/span_simulation",
                          help="folder for the spans, ML Metadata, serving and logs (default: %(default)s)")
    simulate.add_argument("--window", type=int, default=2, help="data.spans.window of the runs (default: 2)")
    simulate.add_argument("--fresh", action="store_true", help="empty a workdir of an earlier simulation first")
    return parser


def _load(args):
    return load_config(args.config, args.overrides, profile=args.profile)


def cmd_run(args) -> int:
    config = _load(args)
    if config.profile.runner != "local":
        raise ConfigError(f"--profile {args.profile}: its runner is {config.profile.runner!r}; `run` runs here. "
                          f"Use `python -m pipeline submit --profile {args.profile}` (or compile / schedule)")
    output_paths.check_output_paths(config)  # before anything is written
    allocator_line = _memory_allocator(config, args)   # may start this process again, with jemalloc
    log_dir = config.resolve(config.pipeline.log_dir)
    output_paths.create_owned_dir(log_dir, "pipeline.log_dir")
    log_file = logs.configure(os.path.join(log_dir, time.strftime("run-%Y%m%d-%H%M%S.log")))
    from pipeline import local_runner  # heavy imports after the config is known to be valid

    print(allocator_line, flush=True)
    logging.getLogger(__name__).debug(allocator_line)   # the log file; the console has the line above
    return run_and_report(config, local_runner.run, log_file)


def _memory_allocator(config, args) -> str:
    """The allocator line; a process started as a program restarts itself with jemalloc first if asked."""
    from pipeline import memory_allocator

    if args.restartable:
        return memory_allocator.apply(config.profile.memory_allocator,
                                      [sys.executable, "-m", "pipeline", *sys.argv[1:]])
    decision = memory_allocator.decide(config.profile.memory_allocator, dict(os.environ),
                                       memory_allocator.find_jemalloc(), memory_allocator.loaded_jemalloc())
    return decision.line if decision.preload is None else (f"{memory_allocator.LINE_PREFIX} glibc malloc (called "
                                                           "in-process: only a started `python -m pipeline run` "
                                                           "preloads jemalloc)")


def run_and_report(config, run: Callable, log_file: str) -> int:
    """Runs ``run(config)`` and prints its summary, or what failed; returns the exit status.

    A failure says whether a model was pushed before it (ML Metadata's record and the
    serving folder's versions, before and after): a failed run must not hide that
    serving already changed.
    """
    from pipeline import run_summary

    started = time.monotonic()
    started_ms = int(time.time() * 1000)
    versions_before = run_summary.served_versions(config)
    try:
        summary = run(config)
    except ConfigError as error:
        pushed = _push_lines(config, versions_before, started_ms)
        if not pushed:
            raise
        print("\n".join([f"config error: {error}", *pushed]), file=sys.stderr, flush=True)
        return 2
    except Exception as error:  # noqa: BLE001 - any component failure: say what, point at the log
        logging.getLogger(__name__).info("pipeline failed", exc_info=True)   # the traceback, file only
        print(failure_message(config, error, log_file, versions_before, started_ms), file=sys.stderr, flush=True)
        return 1
    print("\n".join(summary.lines() + [f"full log: {log_file}", f"elapsed: {time.monotonic() - started:.0f}s"]),
          flush=True)
    return 0


def failure_message(config, error: BaseException, log_file: str, versions_before: List[int],
                    started_ms: int) -> str:
    """What failed, whether a model was pushed before it (serving changed), and where the traceback is."""
    return "\n".join([f"pipeline failed: {type(error).__name__}: {error}",
                      *_push_lines(config, versions_before, started_ms),
                      f"full log, with the traceback: {log_file}"])


def _push_lines(config, versions_before: List[int], started_ms: int) -> List[str]:
    """What was pushed since ``started_ms`` (``run_summary.pushes_since``); never raises."""
    from pipeline import local_runner, run_summary

    try:
        return run_summary.pushes_since(config, local_runner.metadata_connection_config(config), versions_before,
                                        started_ms)
    except Exception as lookup_error:  # noqa: BLE001 - the run's own error comes first
        return [f"(could not check whether a model was pushed: {type(lookup_error).__name__}: {lookup_error})"]


def cmd_model_summary(args) -> int:
    config = _load(args)
    from components.trainer import gan_trainer, networks

    size = args.image_size or config.transform.image_size
    for model in gan_trainer.build_networks(config.trainer, size, config.transform.channels):
        print(f"{model.name}: {networks.count_parameters(model):,} parameters "
              f"(input {size}x{size}x{config.transform.channels})")
    return 0


def cmd_compile(args) -> int:
    config = _load(args)
    output = _checked_output(args, config)
    from pipeline import kubeflow_runner  # heavy imports after the config is known to be valid

    path = kubeflow_runner.compile_pipeline(config, output)
    print(f"compiled for {config.profile.runner} (profile {config.profile_name}, image {config.profile.image}): {path}")
    for key in kubeflow_runner.local_paths(config):
        print(f"note: {key} is a local path; fine for compiling, a {config.profile.runner} run needs a gs:// URI",
              file=sys.stderr)
    return 0


def cmd_submit_or_schedule(args) -> int:
    config = _load(args)
    output = _checked_output(args, config)
    from pipeline import kubeflow_runner

    path = kubeflow_runner.compile_pipeline(config, output)
    print(f"compiled: {path}")
    scheduling = args.command == "schedule"
    if config.profile.runner == "vertex":
        from pipeline import vertex_client as client
        if scheduling:
            print("\n".join(client.describe_schedule(config, datetime.datetime.now(datetime.timezone.utc))))
        if args.dry_run:
            kubeflow_runner.check_remote_storage(config)
            job = client.pipeline_job(config, path, credentials=_offline_credentials())
            print(f"dry run: would {'schedule' if scheduling else 'submit'} {config.pipeline.name!r} in "
                  f"projects/{config.profile.project}/locations/{config.profile.region} "
                  f"({len(job.pipeline_spec['root']['dag']['tasks'])} tasks); nothing sent")
            return 0
    else:
        from pipeline import kfp_client as client
        if scheduling:
            print(f"recurring run: cron {client.kfp_cron(config)!r} (KFP: seconds first, UTC)")
        if args.dry_run:
            kubeflow_runner.check_remote_storage(config)
            print(f"dry run: would send {path} to {config.profile.kfp_host}; nothing sent")
            return 0
    result = client.create_schedule(config, path) if scheduling else client.submit(config, path)
    print(f"{'scheduled' if scheduling else 'submitted'}: {getattr(result, 'resource_name', result)}")
    return 0


def cmd_image(args) -> int:
    config = _load(args)
    if not config.profile.image:
        raise ConfigError(f"profiles.{args.profile}.image: not set")
    print(config.profile.image)
    return 0


def cmd_schema(args) -> int:
    config = _load(args)
    from pipeline import schema_draft  # heavy imports after the config is known to be valid

    output = args.output or config.resolve(config.data_validation.schema_file)
    path = schema_draft.draft_schema(config, output, force=args.force)
    print(f"schema draft: {path} (curated for {config.resolve(config.data.dataset_dir)}; review it, then point "
          f"data_validation.schema_file at it)")
    return 0


def cmd_lineage(args) -> int:
    """Exit 2: no such version or no readable record; 1: the record disagrees with ML Metadata; else 0."""
    config = _load(args)
    from components.pusher.lineage_record import LineageRecordError
    from pipeline import lineage

    try:
        version_dir = lineage.locate_version(args.version, config)
        record = lineage.read_record(version_dir)
    except (lineage.VersionNotFoundError, LineageRecordError) as error:
        print(f"lineage error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(record, indent=1, sort_keys=True))
        return 0
    print("\n".join(lineage.describe(record, version_dir)))
    agrees, lines = lineage.check_with_store(args.metadata or config.resolve(config.pipeline.metadata_path),
                                             record, version_dir)
    print("\n".join(lines))
    return 0 if agrees else 1


def cmd_simulate_spans(args) -> int:
    """Exit 0 when every run behaved as a scheduled run must; 1 otherwise (the table says how)."""
    if args.profile != "local":
        raise ConfigError(f"--profile {args.profile}: simulate-spans runs here, with the local profile")
    if args.window < 1:
        raise ConfigError(f"--window: got {args.window}; expected an integer >= 1")
    _load(args)   # the config and the overrides are valid before anything is written
    from pipeline import span_simulation

    results = span_simulation.simulate(args.config, args.workdir, args.overrides, window=args.window,
                                       fresh=args.fresh)
    print("\n".join(["", *span_simulation.table(results),
                      f"facts: {os.path.join(os.path.abspath(args.workdir), span_simulation.RESULT_FILE)}"]))
    return 0 if not any(facts.problems for facts in results) else 1


def _output(args, config) -> str:
    return args.output or COMPILED_DEFAULTS.get(config.profile.runner, COMPILED_DEFAULTS["vertex"])


def _checked_output(args, config) -> str:
    """The compile destination, once the output paths and the destination itself are known to be safe."""
    path = _output(args, config)
    output_paths.check_compiled_output(config, path)
    return path


def _offline_credentials():
    from google.auth.credentials import AnonymousCredentials

    return AnonymousCredentials()


COMMANDS = {"run": cmd_run, "schema": cmd_schema, "model-summary": cmd_model_summary, "compile": cmd_compile,
            "submit": cmd_submit_or_schedule, "schedule": cmd_submit_or_schedule, "image": cmd_image,
            "lineage": cmd_lineage, "simulate-spans": cmd_simulate_spans}


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    args.restartable = argv is None   # the command line of this very process: it may start itself again
    # google-cloud-* warn at import that Python 3.10 gets no new releases: TFX 1.16 needs 3.10.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\.")
    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
