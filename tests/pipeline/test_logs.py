"""The console shows progress and problems; TFX's artifact dumps go to the log file only."""
import logging

from pipeline import logs


def _record(message, level=logging.INFO, name="absl", args=None):
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_progress_lines_and_warnings_reach_the_console():
    keep = logs.ProgressFilter()
    assert keep.filter(_record("Component Trainer is running."))
    assert keep.filter(_record("epoch 3/30  G 11.5", name="components.trainer.gan_trainer"))
    assert keep.filter(_record("Generating the embedded synthetic facades dataset", name="pipeline.dataset"))
    assert keep.filter(_record("something odd", logging.WARNING))
    assert not keep.filter(_record("ExampleGen quarantined x.png", logging.DEBUG,
                                   name="components.example_gen.executor"))


def test_the_console_names_the_stage_of_each_module_logger():
    formatter = logs.ConsoleFormatter("%(message)s")
    assert formatter.format(_record("epoch %d/%d", name="components.trainer.gan_trainer", args=(3, 30))) == (
        "[trainer] epoch 3/30")
    assert formatter.format(_record("published %s", name="components.pusher.executor", args=("/s/1",))) == (
        "[pusher] published /s/1")
    assert formatter.format(_record("Component Trainer is running.")) == "Component Trainer is running."


def test_artifact_dumps_and_known_noise_stay_out_of_the_console():
    keep = logs.ProgressFilter()
    assert not keep.filter(_record("Going to run a new execution: ExecutionInfo(...)"))
    assert not keep.filter(_record("ArtifactQuery.property_predicate is not supported.", logging.WARNING))


def test_the_log_file_gets_everything(tmp_path):
    path = logs.configure(str(tmp_path / "logs" / "run.log"))
    logging.getLogger("absl").info("Going to run a new execution: details")
    logging.getLogger("components.example_gen.executor").debug("ExampleGen quarantined a.png")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "Going to run a new execution" in open(path).read()
    assert "ExampleGen quarantined a.png" in open(path).read()
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)
