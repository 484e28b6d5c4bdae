"""Fault injection, outputs: no output setting or client flag can delete or overwrite what the project did not make.

Each test builds the hostile setting itself (a config copied into tmp_path with
overrides, folders with precious files, symlinked aliases) and calls the real
functions: the output-path check, the report publisher, the CLI before any
component runs, the serving clients before anything is written.
"""
import hashlib
import itertools
import os
import shutil
import time

import pytest
import yaml

from pipeline import cli, output_paths, run_summary
from pipeline.config import load_config
from pipeline.output_paths import OutputPathError
from serving import client, image_files, translate
from tests.support import images
from tests.support import paths

ROOT = paths.ROOT
DEFAULT_CONFIG = os.path.join(ROOT, "pipeline_config.yaml")
OUTPUT_KEYS = output_paths.OUTPUT_FOLDER_KEYS + output_paths.OUTPUT_FILE_KEYS
ONE_HOUR_S = 60 * 60


def _config_in(folder, **overrides):
    """pipeline_config.yaml copied into ``folder`` (its relative paths now resolve there), with overrides."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pipeline_config.yaml"
    shutil.copyfile(DEFAULT_CONFIG, path)
    return load_config(str(path), [f"{key}={value}" for key, value in overrides.items()])


def _separate_paths(tmp_path):
    """Every output and the dataset in a folder of its own: the shape of the tests' configs."""
    return {"data.dataset_dir": tmp_path / "dataset", "pipeline.root": tmp_path / "tfx_root",
            "pipeline.metadata_path": tmp_path / "metadata.sqlite", "pipeline.report_dir": tmp_path / "report",
            "pipeline.log_dir": tmp_path / "logs", "pusher.serving_dir": tmp_path / "serving_model"}


def _precious_build(folder):
    """What `build/` holds after a few runs: pipeline root, ML Metadata, logs, a dataset."""
    files = {"tfx_root/Trainer/model/7/saved_model.pb": b"model", "metadata.sqlite": b"SQLite format 3\x00",
             "logs/run-1.log": b"log", "datasets/mine/input/a.png": images.png()}
    for relative, data in files.items():
        images.write(folder / relative, data)
    return _tree(folder)


def _tree(folder):
    """relative path -> sha256 of every file under ``folder`` (what must stay untouched)."""
    return {os.path.relpath(os.path.join(parent, name), folder):
            hashlib.sha256(open(os.path.join(parent, name), "rb").read()).hexdigest()
            for parent, _, names in os.walk(folder) for name in names}


def _evaluation(folder, text):
    images.write(folder / "report.html", text.encode())
    images.write(folder / "grid.png", images.png())
    return str(folder)


# --------------------------------------------------------------------------- #
# pipeline.report_dir never deletes a folder the project did not create
# --------------------------------------------------------------------------- #
def test_report_dir_naming_build_is_refused_and_build_is_untouched(tmp_path):
    before = _precious_build(tmp_path / "build")
    config = _config_in(tmp_path, **{"pipeline.report_dir": "build"})
    with pytest.raises(OutputPathError, match=r"pipeline\.report_dir") as error:
        output_paths.check_output_paths(config)
    assert str(tmp_path / "build") in str(error.value)
    # The publisher refuses too, on its own (whoever calls it): the folder has no marker.
    with pytest.raises(OutputPathError, match=r"pipeline\.report_dir: .*not created by pix2pix-tfx"):
        run_summary._publish_report(_evaluation(tmp_path / "eval", "new"), str(tmp_path / "build"))
    assert _tree(tmp_path / "build") == before
    assert sorted(os.listdir(tmp_path)) == ["build", "eval", "pipeline_config.yaml"]  # no staging left behind


def test_report_dir_dot_next_to_a_config_in_tmp_path_is_refused(tmp_path):
    project = tmp_path / "project"
    config = _config_in(project, **{"pipeline.report_dir": "."})
    with pytest.raises(OutputPathError, match=r"pipeline\.report_dir \(.*\) is the same path as the config "
                                              r"file's folder"):
        output_paths.check_output_paths(config)
    before = _tree(project)
    with pytest.raises(OutputPathError):
        run_summary._publish_report(_evaluation(tmp_path / "eval", "new"), str(project))
    assert _tree(project) == before


def test_the_cli_refuses_report_dir_build_before_anything_runs(tmp_path, capsys):
    before = _precious_build(tmp_path / "build")
    _config_in(tmp_path)
    status = cli.main(["run", "--config", str(tmp_path / "pipeline_config.yaml"),
                       "--set", "pipeline.report_dir=build"])
    assert status == 2
    message = capsys.readouterr().err
    assert "config error: " in message and "pipeline.report_dir" in message and str(tmp_path / "build") in message
    assert _tree(tmp_path / "build") == before


def test_a_second_publish_into_the_project_made_report_folder_replaces_it(tmp_path):
    report = tmp_path / "reports" / "latest"
    first = _evaluation(tmp_path / "eval1", "first")
    assert run_summary._publish_report(first, str(report)) == str(report / "report.html")
    assert (report / "report.html").read_text() == "first" and output_paths.is_owned(str(report))
    second = _evaluation(tmp_path / "eval2", "second")
    run_summary._publish_report(second, str(report))
    assert (report / "report.html").read_text() == "second" and output_paths.is_owned(str(report))
    assert (tmp_path / "eval1" / "report.html").read_text() == "first"  # the earlier run's own copy stays
    assert os.listdir(tmp_path / "reports") == ["latest"]                # no staging/previous left behind


def test_a_publish_that_fails_midway_keeps_the_previous_report(tmp_path):
    report = tmp_path / "report"
    run_summary._publish_report(_evaluation(tmp_path / "eval1", "first"), str(report))

    def copy_then_fail(staging):
        with open(os.path.join(staging, "report.html"), "w") as handle:
            handle.write("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        output_paths.replace_owned_dir(str(report), output_paths.REPORT_DIR_KEY, copy_then_fail)
    assert (report / "report.html").read_text() == "first"
    assert sorted(os.listdir(tmp_path)) == ["eval1", "report"]


def test_a_symlinked_report_dir_is_never_replaced_through_the_link(tmp_path):
    owned = tmp_path / "owned"
    run_summary._publish_report(_evaluation(tmp_path / "eval", "first"), str(owned))
    (tmp_path / "link").symlink_to(owned)
    with pytest.raises(OutputPathError, match="is a symlink"):
        run_summary._publish_report(_evaluation(tmp_path / "eval2", "second"), str(tmp_path / "link"))
    assert (owned / "report.html").read_text() == "first" and (tmp_path / "link").is_symlink()


def test_an_existing_folder_is_never_marked_as_the_projects(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    assert not output_paths.create_owned_dir(str(mine), "pipeline.log_dir")
    assert not output_paths.is_owned(str(mine))
    assert output_paths.create_owned_dir(str(tmp_path / "new" / "logs"), "pipeline.log_dir")
    assert output_paths.is_owned(str(tmp_path / "new" / "logs"))


def test_stale_staging_folders_are_removed_only_when_marked_and_old(tmp_path):
    report = tmp_path / "report"
    old = time.time() - 2 * ONE_HOUR_S
    crashed, live, foreign = (tmp_path / f".report{output_paths.STAGING_INFIX}{name}"
                              for name in ("crashed", "live", "foreign"))
    for folder in (crashed, live):
        output_paths.create_owned_dir(str(folder), output_paths.REPORT_DIR_KEY)
    foreign.mkdir()  # named like ours, but not made by the project
    for folder in (crashed, foreign):
        os.utime(folder, (old, old))
    run_summary._publish_report(_evaluation(tmp_path / "eval", "new"), str(report))
    assert not crashed.exists() and live.exists() and foreign.exists()


# --------------------------------------------------------------------------- #
# check_output_paths: every overlap, the dataset, the project, roots, symlinks, URIs
# --------------------------------------------------------------------------- #
def test_the_default_config_and_the_tests_separate_paths_pass(tmp_path):
    output_paths.check_output_paths(load_config(DEFAULT_CONFIG))
    for profile in ("vertex", "kubeflow"):
        output_paths.check_output_paths(load_config(DEFAULT_CONFIG, profile=profile))
    settings = [f"{key}={path}" for key, path in _separate_paths(tmp_path).items()]
    output_paths.check_output_paths(load_config(DEFAULT_CONFIG, settings))


@pytest.mark.parametrize("inner,outer", list(itertools.permutations(OUTPUT_KEYS, 2)))
def test_an_output_inside_another_is_refused_naming_both(tmp_path, inner, outer):
    paths = _separate_paths(tmp_path)
    paths[inner] = paths[outer] / "sub"
    config = load_config(DEFAULT_CONFIG, [f"{key}={path}" for key, path in paths.items()])
    with pytest.raises(OutputPathError) as error:
        output_paths.check_output_paths(config)
    message = str(error.value)
    assert inner in message and outer in message and str(paths[outer]) in message


@pytest.mark.parametrize("first,second", list(itertools.combinations(OUTPUT_KEYS, 2)))
def test_two_outputs_at_one_path_are_refused(tmp_path, first, second):
    paths = _separate_paths(tmp_path)
    paths[first] = paths[second]
    config = load_config(DEFAULT_CONFIG, [f"{key}={path}" for key, path in paths.items()])
    with pytest.raises(OutputPathError, match="is the same path as") as error:
        output_paths.check_output_paths(config)
    assert first in str(error.value) and second in str(error.value)


@pytest.mark.parametrize("key", OUTPUT_KEYS)
@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_an_output_overlapping_the_dataset_is_refused(tmp_path, key, where):
    paths = _separate_paths(tmp_path)
    dataset = paths["data.dataset_dir"]
    paths[key] = {"same": dataset, "inside": dataset / "out", "around": tmp_path / "data_parent"}[where]
    if where == "around":
        paths["data.dataset_dir"] = paths[key] / "dataset"
    config = load_config(DEFAULT_CONFIG, [f"{k}={path}" for k, path in paths.items()])
    with pytest.raises(OutputPathError, match=r"data\.dataset_dir") as error:
        output_paths.check_output_paths(config)
    assert key in str(error.value)


@pytest.mark.parametrize("key", OUTPUT_KEYS)
def test_an_output_that_is_or_holds_the_checkout_root_or_home_is_refused(tmp_path, key):
    paths = _separate_paths(tmp_path)
    around = "the project's checkout|home folder|filesystem root"  # the checkout's parent may be either too
    for hostile, expected in ((ROOT, "the project's checkout"), (os.path.dirname(ROOT), around),
                              ("/", "filesystem root"), (os.path.expanduser("~"), "home folder|filesystem root")):
        settings = [f"{k}={hostile if k == key else path}" for k, path in paths.items()]
        with pytest.raises(OutputPathError, match=expected):
            output_paths.check_output_paths(load_config(DEFAULT_CONFIG, settings))


def test_a_symlinked_alias_of_another_output_or_the_dataset_is_refused(tmp_path):
    paths = _separate_paths(tmp_path)
    paths["pipeline.root"].mkdir()
    (tmp_path / "alias").symlink_to(paths["pipeline.root"])
    paths["pipeline.report_dir"] = tmp_path / "alias" / "report"
    config = load_config(DEFAULT_CONFIG, [f"{k}={path}" for k, path in paths.items()])
    with pytest.raises(OutputPathError, match="after following symlinks") as error:
        output_paths.check_output_paths(config)
    assert "pipeline.report_dir" in str(error.value) and "pipeline.root" in str(error.value)

    paths = _separate_paths(tmp_path)
    paths["data.dataset_dir"].mkdir()
    (tmp_path / "data_alias").symlink_to(paths["data.dataset_dir"])
    paths["pusher.serving_dir"] = tmp_path / "data_alias"
    config = load_config(DEFAULT_CONFIG, [f"{k}={path}" for k, path in paths.items()])
    with pytest.raises(OutputPathError, match=r"pusher\.serving_dir .* is the same path as data\.dataset_dir"):
        output_paths.check_output_paths(config)


def test_gs_paths_are_compared_as_normalized_uris(tmp_path):
    settings = ["pipeline.root=gs://My-Bucket/pix2pix//root/", "pusher.serving_dir=gs://my-bucket/pix2pix/./root/x",
                "data.dataset_dir=gs://my-bucket/data"]
    with pytest.raises(OutputPathError, match=r"pipeline\.root .* contains pusher\.serving_dir"):
        output_paths.check_output_paths(load_config(DEFAULT_CONFIG, settings))
    with pytest.raises(OutputPathError, match="filesystem root"):
        output_paths.check_output_paths(load_config(DEFAULT_CONFIG, ["pusher.serving_dir=gs://my-bucket/"]))
    with pytest.raises(OutputPathError, match=r"data\.dataset_dir"):
        output_paths.check_output_paths(load_config(DEFAULT_CONFIG, [
            "data.dataset_dir=gs://b/data", "pusher.serving_dir=gs://B/data/../data/serving"]))


def test_a_metadata_path_that_is_a_folder_and_an_output_folder_that_is_a_file_are_refused(tmp_path):
    paths = _separate_paths(tmp_path)
    paths["pipeline.metadata_path"].mkdir()
    with pytest.raises(OutputPathError, match=r"pipeline\.metadata_path: .* is a folder"):
        output_paths.check_output_paths(load_config(DEFAULT_CONFIG, [f"{k}={p}" for k, p in paths.items()]))
    paths = _separate_paths(tmp_path / "b")
    images.write(paths["pipeline.log_dir"], b"a file")
    with pytest.raises(OutputPathError, match=r"pipeline\.log_dir: .* is a file"):
        output_paths.check_output_paths(load_config(DEFAULT_CONFIG, [f"{k}={p}" for k, p in paths.items()]))


def test_compile_refuses_to_overwrite_the_config_or_a_file_it_did_not_compile(tmp_path, capsys):
    config_path = tmp_path / "pipeline_config.yaml"
    _config_in(tmp_path)
    config_bytes = config_path.read_bytes()
    notes = tmp_path / "notes.yaml"
    notes.write_text("my: notes\n")
    for output, message in ((config_path, "that is the config file"), (notes, "is not a pipeline this project")):
        status = cli.main(["compile", "--config", str(config_path), "--profile", "kubeflow", "--output", str(output)])
        assert status == 2 and message in capsys.readouterr().err
    assert config_path.read_bytes() == config_bytes and notes.read_text() == "my: notes\n"
    compiled = tmp_path / "old_package.yaml"
    compiled.write_text(yaml.safe_dump({"pipelineInfo": {"name": "pix2pix"}, "root": {}}))
    output_paths.check_compiled_output(load_config(str(config_path), profile="kubeflow"), str(compiled))


# --------------------------------------------------------------------------- #
# A failure after a successful push says so
# --------------------------------------------------------------------------- #
def _record_push(metadata_path, pipeline_name, destination):
    """What TFX's Pusher leaves in ML Metadata: a PushedModel, pushed=1, attributed to the pipeline's context."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2

    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(metadata_path)
    connection.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = mlmd.MetadataStore(connection)
    context_type = store.put_context_type(metadata_store_pb2.ContextType(name=run_summary.PIPELINE_CONTEXT))
    [context_id] = store.put_contexts([metadata_store_pb2.Context(type_id=context_type, name=pipeline_name)])
    artifact_type = store.put_artifact_type(metadata_store_pb2.ArtifactType(name=run_summary.PUSHED_MODEL_TYPE))
    artifact = metadata_store_pb2.Artifact(type_id=artifact_type, uri=str(metadata_path.parent / "push"))
    artifact.custom_properties["pushed"].int_value = 1
    artifact.custom_properties["pushed_destination"].string_value = destination
    [artifact_id] = store.put_artifacts([artifact])
    store.put_attributions_and_associations(
        [metadata_store_pb2.Attribution(artifact_id=artifact_id, context_id=context_id)], [])


def _failed_run_config(tmp_path):
    paths = _separate_paths(tmp_path)
    return load_config(DEFAULT_CONFIG, [f"{k}={p}" for k, p in paths.items()])


def test_a_failure_after_a_recorded_push_says_which_version_was_pushed_where(tmp_path):
    config = _failed_run_config(tmp_path)
    started_ms = int(time.time() * 1000) - 1
    before = run_summary.served_versions(config)
    version = tmp_path / "serving_model" / "pix2pix" / "1700000000"
    images.write(version / "saved_model.pb", b"model")
    _record_push(tmp_path / "metadata.sqlite", config.pipeline.name, str(version))
    message = cli.failure_message(config, RuntimeError("report folder vanished"), "run.log", before, started_ms)
    assert message.startswith("pipeline failed: RuntimeError: report folder vanished")
    assert f"the model WAS pushed before the failure: version 1700000000 at {version}" in message
    assert "serving has changed" in message and message.endswith("full log, with the traceback: run.log")


def test_a_pusher_that_published_then_failed_is_reported_from_the_serving_folder(tmp_path):
    config = _failed_run_config(tmp_path)
    images.write(tmp_path / "serving_model" / "pix2pix" / "5" / "saved_model.pb", b"old")
    before = run_summary.served_versions(config)
    images.write(tmp_path / "serving_model" / "pix2pix" / "6" / "saved_model.pb", b"new")
    message = cli.failure_message(config, OSError("pruning failed"), "run.log", before, int(time.time() * 1000))
    assert "new model version(s) 6 appeared in" in message and "serving has changed" in message


def _push_then(config, tmp_path, failure):
    """A run that gets as far as the Pusher (its real atomic publish), then fails with ``failure()``."""
    from components.pusher.executor import publish_atomically
    from pipeline.pipeline_def import serving_base_directory

    def run(_config):
        images.write(tmp_path / "model" / "saved_model.pb", b"model")
        publish_atomically(str(tmp_path / "model"), serving_base_directory(config))
        failure()
    return run


def test_a_run_that_pushed_then_failed_exits_1_saying_serving_changed(tmp_path, capsys):
    config = _failed_run_config(tmp_path)

    def prune_fails():
        raise OSError(28, "No space left on device")

    assert cli.run_and_report(config, _push_then(config, tmp_path, prune_fails), "run.log") == 1
    message = capsys.readouterr().err
    version, = os.listdir(tmp_path / "serving_model" / "pix2pix")
    assert "pipeline failed: OSError" in message and f"new model version(s) {version} appeared" in message
    assert "serving has changed" in message


def test_a_report_refused_after_the_push_is_a_config_error_that_still_says_serving_changed(tmp_path, capsys):
    config = _failed_run_config(tmp_path)
    precious = _precious_build(tmp_path / "build")

    def publish_into_build():
        run_summary._publish_report(_evaluation(tmp_path / "eval", "new"), str(tmp_path / "build"))

    assert cli.run_and_report(config, _push_then(config, tmp_path, publish_into_build), "run.log") == 2
    message = capsys.readouterr().err
    assert message.startswith("config error: pipeline.report_dir") and "serving has changed" in message
    assert _tree(tmp_path / "build") == precious


def test_a_failure_before_the_push_says_nothing_about_serving(tmp_path):
    config = _failed_run_config(tmp_path)
    before = run_summary.served_versions(config)
    message = cli.failure_message(config, ValueError("Trainer: NaN loss"), "run.log", before, int(time.time() * 1000))
    assert message == "pipeline failed: ValueError: Trainer: NaN loss\nfull log, with the traceback: run.log"


# --------------------------------------------------------------------------- #
# Serving clients never overwrite their inputs unless told to
# --------------------------------------------------------------------------- #
@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    for name, fmt in (("a.png", "PNG"), ("b.jpg", "JPEG")):
        images.write(folder / name, images.encode(images.random_pixels(8, 8), fmt))
    return folder


@pytest.mark.parametrize("output,relation", [("photos", "is the same path as"), ("photos/out", "is inside"),
                                             (".", "contains")])
def test_translate_refuses_an_output_at_inside_or_around_the_input_folder(tmp_path, photos, output, relation):
    before = _tree(photos)
    with pytest.raises(image_files.OutputOverlapsInputError, match=f"{relation} the input folder") as error:
        translate.run([str(photos)], str(tmp_path / output), model_dir=str(tmp_path / "no_model"))
    assert image_files.OVERWRITE_INPUTS_FLAG in str(error.value)
    assert _tree(photos) == before and not (photos / "out").exists()


def test_translate_refuses_an_output_where_it_would_replace_a_named_input_file(tmp_path, photos):
    with pytest.raises(image_files.OutputOverlapsInputError, match=r"a\.png would replace it"):
        translate.run([str(photos / "a.png")], str(photos), model_dir=str(tmp_path / "no_model"))
    with pytest.raises(image_files.OutputOverlapsInputError, match=r"--figure .* is the input"):
        translate.run([str(photos / "a.png")], str(tmp_path / "out"), model_dir=str(tmp_path / "no_model"),
                      extra_outputs=[("--figure", str(photos / "a.png"))])
    # An output folder beside a named file (the usual `translate photo.jpg --output out`) is fine.
    image_files.check_output_apart(str(photos / "out"), [], [str(photos / "a.png")])


def test_translate_never_writes_its_figure_over_a_file_that_is_not_a_png(tmp_path, photos, capsys):
    notes = tmp_path / "README.md"
    notes.write_text("my notes")
    status = translate.main([str(photos), "--output", str(tmp_path / "out"), "--figure", str(notes),
                             "--model-dir", str(tmp_path / "no_model"), "--no-progress"])
    assert status == translate.EXIT_UNUSABLE and "is not a PNG; it is not overwritten" in capsys.readouterr().err
    assert notes.read_text() == "my notes"
    translate.check_figure_path(str(photos / "a.png"))  # an earlier figure (a PNG) may be replaced


def test_a_symlinked_alias_of_the_input_folder_is_refused(tmp_path, photos):
    (tmp_path / "alias").symlink_to(photos)
    with pytest.raises(image_files.OutputOverlapsInputError, match="after following symlinks"):
        translate.run([str(photos / "*.png")], str(tmp_path / "alias"), model_dir=str(tmp_path / "no_model"))


def test_the_rest_client_refuses_in_place_and_goes_on_when_told(tmp_path, photos, capsys):
    status = client.main([str(photos), "--output", str(photos), "--server", "http://127.0.0.1:1", "--no-progress"])
    assert status == client.EXIT_UNUSABLE and "is the same path as the input folder" in capsys.readouterr().err
    status = client.main([str(photos), "--output", str(photos), "--server", "http://127.0.0.1:1", "--no-progress",
                          "--timeout", "2", image_files.OVERWRITE_INPUTS_FLAG])
    assert status == client.EXIT_UNUSABLE
    assert "127.0.0.1:1" in capsys.readouterr().err  # got past the check: the (absent) server is the problem now


def test_batch_translate_refuses_an_output_inside_its_input_folder_or_pattern(tmp_path, photos, capsys):
    from serving import batch_translate

    before = _tree(photos)
    for input_arg, output in ((str(photos), photos / "generated"), (str(photos / "*.png"), photos),
                              (str(photos / "x.tfrecord.gz"), photos)):
        status = batch_translate.main(["--input", input_arg, "--output", str(output),
                                       "--model-dir", str(tmp_path / "no_model")])
        assert status == batch_translate.EXIT_UNUSABLE
        assert "the input folder" in capsys.readouterr().err
    assert _tree(photos) == before
    assert image_files.pattern_folder("gs://b/data/*/x-*.png") == "gs://b/data"
