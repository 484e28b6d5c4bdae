"""Console shows progress; the full TFX/Beam log goes to a file.

TFX logs every resolved artifact proto at INFO, which buries the lines a person
watches for. Every module of the project logs to its own logger
(``logging.getLogger(__name__)``): the console keeps warnings, errors, TFX's
component start/finish lines and the project's INFO lines (the trainer's
epochs, the evaluator's verdict, the pusher's version), each prefixed with its
stage (``[trainer]`` for ``components.trainer.*``); per-file detail is DEBUG and
goes, with everything else, to the log file only.
"""
from __future__ import annotations

import logging
import os
from typing import Optional

PROJECT_PACKAGES = ("components", "data", "pipeline", "serving")   # their loggers' INFO lines are progress
STAGES_PACKAGE = "components"    # components.<stage>.<module>: shown as "[<stage>] message"
TFX_PROGRESS_PREFIXES = ("Component ",)   # TFX: "Component Trainer is running." / "... is finished."
CONSOLE_FORMAT = "%(asctime)s %(levelname).1s %(message)s"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s %(filename)s:%(lineno)d %(message)s"
DATE_FORMAT = "%H:%M:%S"
# Known-harmless messages kept out of the console (they stay in the log file).
CONSOLE_NOISE = (
    "ArtifactQuery.property_predicate is not supported",  # TFX 1.16 resolver, every component
    "Generating a temp setup file",                       # TFX packaging itself for Beam workers
)


class ProgressFilter(logging.Filter):
    """Lets warnings and the progress lines through."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(noise in message for noise in CONSOLE_NOISE):
            return False
        if record.levelno >= logging.WARNING:
            return True
        return record.levelno >= logging.INFO and (record.name.split(".")[0] in PROJECT_PACKAGES
                                                   or message.startswith(TFX_PROGRESS_PREFIXES))


def stage_of(logger_name: str) -> Optional[str]:
    """``trainer`` for ``components.trainer.gan_trainer``; None outside a stage's package."""
    parts = logger_name.split(".")
    return parts[1] if len(parts) >= 3 and parts[0] == STAGES_PACKAGE else None


class ConsoleFormatter(logging.Formatter):
    """One line per record, prefixed with its stage: tracebacks belong in the log file, not on the console."""

    def format(self, record: logging.LogRecord) -> str:
        stage = stage_of(record.name)
        message = record.getMessage()
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None, "args": None,
                                        "msg": f"[{stage}] {message}" if stage else message})
        return super().format(record)


def configure(log_file: str) -> str:
    """Routes Python and absl logging to the console (filtered) and ``log_file`` (all)."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.INFO)
    os.makedirs(os.path.dirname(os.path.abspath(log_file)), exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = logging.StreamHandler()
    console.setFormatter(ConsoleFormatter(CONSOLE_FORMAT, DATE_FORMAT))
    console.addFilter(ProgressFilter())
    to_file = logging.FileHandler(log_file, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(FILE_FORMAT))
    root.addHandler(console)
    root.addHandler(to_file)
    root.setLevel(logging.INFO)
    for package in PROJECT_PACKAGES:  # their DEBUG detail (one line per quarantined file) reaches the file only
        logging.getLogger(package).setLevel(logging.DEBUG)
    return log_file
