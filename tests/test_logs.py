"""The console shows progress and problems; TFX's artifact dumps go to the log file only."""
import logging

from pipeline import logs


def _record(message, level=logging.INFO):
    return logging.LogRecord("absl", level, __file__, 1, message, None, None)


def test_progress_lines_and_warnings_reach_the_console():
    keep = logs.ProgressFilter()
    assert keep.filter(_record("Component Trainer is running."))
    assert keep.filter(_record("[trainer] epoch 3/30  G 11.5"))
    assert keep.filter(_record("something odd", logging.WARNING))


def test_artifact_dumps_and_known_noise_stay_out_of_the_console():
    keep = logs.ProgressFilter()
    assert not keep.filter(_record("Going to run a new execution: ExecutionInfo(...)"))
    assert not keep.filter(_record("ArtifactQuery.property_predicate is not supported.", logging.WARNING))


def test_the_log_file_gets_everything(tmp_path):
    path = logs.configure(str(tmp_path / "logs" / "run.log"))
    logging.getLogger("absl").info("Going to run a new execution: details")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "Going to run a new execution" in open(path).read()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)
