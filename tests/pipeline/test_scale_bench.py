"""The scale benchmark's own logic on fabricated log lines and samples: no pipeline runs, no TensorFlow."""
import json

import pytest

from benchmarks import scale
from benchmarks.scale import RunResult, StageStat

MB = scale.MB


def _console(component, kind, clock="06:31:02"):
    return f"{clock} I Component {component} is {kind}."


def test_component_lines_are_events_and_every_other_line_is_not():
    assert scale.parse_event(_console("Trainer", "running"), 3.5) == scale.Event(3.5, "Trainer", "running")
    assert scale.parse_event(_console("FileBasedExampleGen", "finished"), 9.0).kind == "finished"
    assert scale.parse_event("I1204 06:31:02.1 local_dag_runner.py:105] Component latest_blessed_model_resolver "
                             "is running.", 1.0).component == "latest_blessed_model_resolver"
    for line in ("06:31:05 I [trainer] epoch 1/1: G 12.3 D 0.7 L1 0.2",
                 "06:31:05 I Component Trainer is running",          # no full stop: not TFX's line
                 "06:31:05 W Component Trainer is skipped.",
                 "elapsed: 231s", ""):
        assert scale.parse_event(line, 1.0) is None
    lines = [(1.0, "start"), (2.0, _console("A", "running")), (3.0, "noise"), (4.0, _console("A", "finished"))]
    assert [(e.t, e.component, e.kind) for e in scale.parse_events(lines)] == [(2.0, "A", "running"),
                                                                              (4.0, "A", "finished")]


def _events(*spec):
    return [scale.Event(t, component, kind) for t, component, kind in spec]


def test_each_sample_counts_for_the_stage_running_when_it_was_taken():
    events = _events((2.0, "ExampleGen", "running"), (5.0, "ExampleGen", "finished"),
                     (5.0, "Trainer", "running"), (9.0, "Trainer", "finished"))
    samples = [(9.5, 900 * MB), (0.5, 100 * MB), (2.0, 300 * MB), (3.0, 500 * MB), (5.0, 450 * MB),
               (7.0, 800 * MB), (1.0, 200 * MB), (10.0, 600 * MB)]   # any order
    stats = {stat.stage: stat for stat in scale.stage_stats(events, samples, ended=10.0)}
    assert list(stats) == [scale.START_UP, "ExampleGen", "Trainer", scale.WRAP_UP]
    assert stats[scale.START_UP].seconds == 2.0 and stats[scale.START_UP].peak_bytes == 300 * MB
    assert (stats["ExampleGen"].seconds, stats["ExampleGen"].peak_bytes) == (3.0, 500 * MB)
    assert stats["ExampleGen"].growth_bytes == 200 * MB      # from 300 MB when it started
    assert (stats["Trainer"].seconds, stats["Trainer"].peak_bytes) == (4.0, 800 * MB)
    assert stats["Trainer"].growth_bytes == 350 * MB         # the boundary sample (450 MB) is its start
    assert (stats[scale.WRAP_UP].seconds, stats[scale.WRAP_UP].peak_bytes) == (1.0, 900 * MB)
    assert all(stat.finished for stat in stats.values())


def test_a_stage_without_a_sample_has_no_memory_and_a_failed_one_ends_with_the_run():
    events = _events((1.0, "Importer", "running"), (1.05, "Importer", "finished"),
                     (2.0, "Trainer", "running"))
    stats = {stat.stage: stat for stat in scale.stage_stats(events, [(0.5, 10), (3.0, 40)], ended=4.0)}
    assert stats["Importer"].peak_bytes is None and stats["Importer"].growth_bytes is None
    assert stats["Trainer"].finished is False and stats["Trainer"].seconds == 2.0
    assert stats["Trainer"].peak_bytes == 40
    assert scale.WRAP_UP not in stats                         # the run never got past the Trainer
    nothing = scale.stage_stats([], [(0.1, 5)], ended=3.0)    # failed before any component
    assert [(s.stage, s.seconds, s.peak_bytes) for s in nothing] == [(scale.START_UP, 3.0, 5)]


def test_a_component_launched_twice_keeps_both_intervals():
    events = _events((1.0, "A", "running"), (2.0, "A", "finished"), (3.0, "A", "running"), (5.0, "A", "finished"))
    names = [(stat.stage, stat.seconds) for stat in scale.stage_stats(events, [], ended=6.0)]
    assert names == [(scale.START_UP, 1.0), ("A", 1.0), ("A#2", 2.0), (scale.WRAP_UP, 1.0)]


def _run(scale_, pairs, exit_status=0, trainer_s=10.0, trainer_mb=1000, finished=True):
    stages = [StageStat(scale.START_UP, 5.0, 300 * MB, 50 * MB),
              StageStat("ExampleGen", 2.0 * scale_, 400 * MB + scale_ * MB, 300 * MB),
              StageStat("Trainer", trainer_s, trainer_mb * MB, 500 * MB, finished)]
    if finished:
        stages.append(StageStat(scale.WRAP_UP, 1.0, 700 * MB, 600 * MB))
    return RunResult(scale=scale_, pairs=pairs, exit_status=exit_status, seconds=20.0 * scale_,
                     peak_bytes=trainer_mb * MB, stages=stages, tail=["Traceback ...", "MemoryError"],
                     output_log="/w/runs/scale-16/output.log")


def _row(lines, name):
    return next(line for line in lines if line.startswith(f"| {name} |")).strip("|").split(" | ")


def test_the_table_has_a_row_per_stage_columns_per_scale_and_the_largest_two_scales_ratios():
    runs = [_run(16, 6400, trainer_s=160.0, trainer_mb=4000), _run(1, 400), _run(4, 1600, trainer_s=40.0,
                                                                                   trainer_mb=1600)]
    lines = scale.table(runs)
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header[:3] == ["stage", "1x (400 pairs): s", "1x: peak MB (+during stage)"]
    assert header[5] == "16x (6400 pairs): s" and header[-3:] == ["s 16x/4x", "peak MB 16x/4x",
                                                                 "extra peak MB per 1000 pairs (4x->16x)"]
    assert [line.split(" | ")[0].lstrip("| ") for line in lines[2:]] == [
        scale.START_UP, "ExampleGen", "Trainer", scale.WRAP_UP, scale.WHOLE_RUN, "exit status"]
    trainer = [cell.strip() for cell in _row(lines, "Trainer")]
    assert trainer[1:7] == ["10.0", "1000 (+500)", "40.0", "1600 (+1100)", "160.0", "4000 (+3500)"]
    assert trainer[7:] == ["4.00", "2.50", "+500"]          # (4000 - 1600) MB / 4800 pairs * 1000
    startup = [cell.strip() for cell in _row(lines, scale.START_UP)]
    assert startup[2] == "300"                               # no growth shown for the process's start
    whole = [cell.strip() for cell in _row(lines, scale.WHOLE_RUN)]
    assert whole[1:3] == ["20.0", "1000"] and whole[7:9] == ["4.00", "2.50"]
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_the_jobs_after_the_run_are_rows_of_their_own_after_the_pipeline_run():
    measured = scale.Measured(exit_status=0, seconds=12.0, samples=[(0.5, 200 * MB), (0.1, 100 * MB), (13.0, 9 * MB)],
                              timed_lines=[], max_rss_single_process_bytes=None, tail=[])
    stat = scale.own_process_stage(scale.BATCH_TRANSLATION, measured)
    assert (stat.seconds, stat.peak_bytes, stat.start_bytes, stat.finished) == (12.0, 200 * MB, 100 * MB, True)
    runs = [_run(1, 400), _run(4, 1600)]
    for run, peak in zip(runs, (200, 210)):
        run.stages.append(StageStat(scale.BATCH_TRANSLATION, 3.0 * run.scale, peak * MB, 100 * MB))
        run.stages.append(StageStat(scale.TRAINER_ALONE, 1.0, 900 * MB, 100 * MB))
    lines = scale.table(runs)
    names = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert names[-4:] == [scale.WHOLE_RUN, scale.TRAINER_ALONE, scale.BATCH_TRANSLATION,
                          "exit status"]   # not pipeline stages: after the run
    assert [cell.strip() for cell in _row(lines, scale.BATCH_TRANSLATION)][1:] == [
        "3.0", "200 (+100)", "12.0", "210 (+110)", "4.00", "1.05", "+8"]
    failed = scale.own_process_stage(scale.TRAINER_ALONE, scale.Measured(1, 2.0, [], [], None, []))
    assert not failed.finished and failed.peak_bytes is None
    command = scale.translation_command("/d/input", "/w/translated", "/w/serving_model/pix2pix")
    assert command[1:3] == ["-m", "serving.batch_translate"] and "/w/serving_model/pix2pix" in command
    command = scale.trainer_alone_command("/w/runs/scale-4", "/w/runs/scale-4/trainer_alone", ["a.b=1"], "/c.yaml")
    assert command[1:3] == ["-m", "benchmarks.trainer_alone"] and command[-2:] == ["--set", "a.b=1"]
    assert command[command.index("--artifacts") + 1] == "/w/runs/scale-4/tfx_root"


def test_a_failed_run_is_marked_not_compared_and_its_last_lines_are_kept():
    runs = [_run(1, 400), _run(4, 1600), _run(16, 6400, exit_status=1, finished=False)]
    lines = scale.table(runs)
    assert lines[0].strip("|").split("|")[-3].strip() == "s 4x/1x"   # the two largest that succeeded
    trainer = [cell.strip() for cell in _row(lines, "Trainer")]
    assert trainer[5] == "10.0 (failed)"
    assert [cell.strip() for cell in _row(lines, "exit status")][1:7:2] == ["0", "0", "1"]
    wrap_up = [cell.strip() for cell in _row(lines, scale.WRAP_UP)]
    assert wrap_up[5:7] == ["-", "-"]
    failed = scale.failures(runs)
    assert any("16x (6400 pairs) failed with exit status 1" in line for line in failed)
    assert "MemoryError" in failed and failed.count("```") == 2
    assert scale.failures(runs[:2]) == []
    only_one = scale.table([_run(1, 400), _run(4, 1600, exit_status=2, finished=False)])
    assert "s 4x/1x" not in only_one[0] and scale.ratio_pair([_run(1, 400)]) is None


def test_the_report_and_the_json_carry_the_context(tmp_path):
    runs = [_run(1, 400), _run(4, 1600)]
    text = scale.report(runs, date="2026-12-04 07:00", machine="Test CPU, 2 CPU(s)", image_size=64, base_pairs=400,
                        extra=["trainer.cache_dataset=false"], load=(1.0, 2.0))
    assert "Measured 2026-12-04 07:00 on Test CPU, 2 CPU(s)" in text
    assert "`trainer.cache_dataset=false`" in text and "`trainer.epochs=1`" in text
    raw = scale.results_json(runs, date="d", image_size=64)
    assert raw["image_size"] == 64 and [run["scale"] for run in raw["runs"]] == [1, 4]
    assert raw["runs"][0]["stages"][1]["growth_bytes"] == 101 * MB
    json.dumps(raw)   # plain data


def test_the_report_says_which_allocator_the_runs_used(tmp_path):
    log = tmp_path / "output.log"
    log.write_text("config ok\nmemory allocator: jemalloc (/usr/lib/libjemalloc.so.2)\nComponent Trainer is running.\n")
    assert scale.allocator_line(str(log)) == "memory allocator: jemalloc (/usr/lib/libjemalloc.so.2)"
    log.write_text("Component Trainer is running.\n")
    assert scale.allocator_line(str(log)) == ""
    runs = [_run(1, 400), _run(4, 1600)]
    runs[0].allocator = runs[1].allocator = "memory allocator: jemalloc (/usr/lib/libjemalloc.so.2)"
    text = scale.report(runs, date="d", machine="m", image_size=64, base_pairs=400, extra=[], load=(0.0, 0.0))
    assert "Each run's memory allocator: jemalloc (/usr/lib/libjemalloc.so.2) (" in text


def test_every_output_goes_to_the_runs_folder_and_extra_settings_come_last():
    settings = scale.run_settings("/w/runs/scale-4", "/w/datasets/pairs-1600", 128, ["trainer.epochs=2"])
    keys = [setting.partition("=")[0] for setting in settings]
    for key in ("pipeline.root", "pipeline.metadata_path", "pipeline.report_dir", "pipeline.log_dir",
                "pusher.serving_dir"):
        assert dict(s.split("=", 1) for s in settings)[key].startswith("/w/runs/scale-4/")
    assert "data.dataset_dir=/w/datasets/pairs-1600" in settings and "transform.image_size=128" in settings
    assert "pusher.model_config_file=null" in settings and "serving.tflite=[]" in settings
    assert settings[-1] == "trainer.epochs=2" and keys.count("trainer.epochs") == 2   # the caller's wins


def test_a_dataset_is_reused_only_with_a_marker_of_its_size(tmp_path):
    folder = tmp_path / "pairs-400-64px-seed0"
    folder.mkdir()
    assert not scale.dataset_ready(str(folder), 400, 64, 0)       # no marker: maybe half written
    (tmp_path / ("pairs-400-64px-seed0" + scale.DATASET_MARKER_SUFFIX)).write_text(
        json.dumps({"num_pairs": 400, "image_size": 64, "seed": 0}))
    assert scale.dataset_ready(str(folder), 400, 64, 0)
    assert not scale.dataset_ready(str(folder), 1600, 64, 0)
    (tmp_path / ("pairs-400-64px-seed0" + scale.DATASET_MARKER_SUFFIX)).write_text("{broken")
    assert not scale.dataset_ready(str(folder), 400, 64, 0)


def test_a_workdir_it_did_not_make_is_refused(tmp_path):
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep")
    with pytest.raises(SystemExit, match="did not make"):
        scale.prepare_workdir(str(precious))
    own = tmp_path / "bench"
    scale.prepare_workdir(str(own))
    (own / "runs").mkdir()
    scale.prepare_workdir(str(own))                                # its own: reused
    assert (own / scale.WORKDIR_MARKER).is_file()
