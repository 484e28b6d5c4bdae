"""Console shows progress; the full TFX/Beam log goes to a file.

TFX logs every resolved artifact proto at INFO, which buries the lines a person
watches for. The console keeps warnings, errors and progress lines (components
starting and finishing, the trainer's epochs, the evaluator's verdict); the log
file keeps everything.
"""
from __future__ import annotations

import logging
import os

PROGRESS_PREFIXES = (
    "Component ",        # TFX: "Component Trainer is running." / "... is finished."
    "[trainer]",
    "[evaluator]",
    "[pusher]",
    "[example_gen]",
    "Generating ",
)
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
        return record.levelno >= logging.WARNING or message.startswith(PROGRESS_PREFIXES)


class ConsoleFormatter(logging.Formatter):
    """One line per record: tracebacks belong in the log file, not on the console."""

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
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
    return log_file
