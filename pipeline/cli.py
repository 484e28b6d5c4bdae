"""Argument parsing and the commands behind ``python -m pipeline``."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import List, Optional

from pipeline import logs
from pipeline.config import ConfigError, load_config

DEFAULT_CONFIG = "pipeline_config.yaml"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the whole pipeline locally (LocalDagRunner, Beam DirectRunner)")
    run.add_argument("--config", default=DEFAULT_CONFIG, help="pipeline config YAML (default: %(default)s)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override one config value (repeatable), e.g. --set trainer.epochs=1")

    summary = commands.add_parser("model-summary", help="print the networks and parameter counts, no training")
    summary.add_argument("--config", default=DEFAULT_CONFIG)
    summary.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    summary.add_argument("--image-size", type=int, default=None,
                         help="image size to build the nets at (default: transform.image_size)")
    return parser


def cmd_run(args) -> int:
    config = load_config(args.config, args.overrides)
    log_file = logs.configure(os.path.join(config.resolve(config.pipeline.log_dir),
                                           time.strftime("run-%Y%m%d-%H%M%S.log")))
    from pipeline import local_runner  # heavy imports after the config is known to be valid

    started = time.monotonic()
    try:
        summary = local_runner.run(config)
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - any component failure: say what, point at the log
        logging.getLogger(__name__).info("pipeline failed", exc_info=True)   # the traceback, file only
        print(f"pipeline failed: {type(error).__name__}: {error}\nfull log, with the traceback: {log_file}",
              file=sys.stderr, flush=True)
        return 1
    print("\n".join(summary.lines() + [f"full log: {log_file}", f"elapsed: {time.monotonic() - started:.0f}s"]),
          flush=True)
    return 0


def cmd_model_summary(args) -> int:
    config = load_config(args.config, args.overrides)
    from components.trainer import networks

    size = args.image_size or config.transform.image_size
    t = config.trainer
    generator = networks.build_generator(t.generator, size, channels=config.transform.channels, ngf=t.ngf,
                                         norm=t.norm, dropout_rate=t.dropout_rate)
    discriminator = networks.build_discriminator(t.discriminator, size, channels=config.transform.channels,
                                                 ndf=t.ndf, n_layers=t.n_layers_d, norm=t.norm)
    for model in (generator, discriminator):
        print(f"{model.name}: {networks.count_parameters(model):,} parameters "
              f"(input {size}x{size}x{config.transform.channels})")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"run": cmd_run, "model-summary": cmd_model_summary}[args.command](args)
    except ConfigError as error:
        print(f"config error: {error}", file=sys.stderr)
        return 2
