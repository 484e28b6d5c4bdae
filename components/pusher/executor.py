"""TFX Pusher executor that publishes a version atomically and prunes old ones.

TFX's own Pusher copies files straight into ``<base>/<version>/``; TF Serving,
polling the base directory, can see that version while it is half copied.
This executor copies into a hidden staging folder of its own (TF Serving only
considers all-digit folder names), then renames it to the version number, so a
version appears complete or not at all (``rename`` is atomic on local and POSIX
filesystems; on object stores it is a copy, see docs/serving.md). It also:

* lets several pipelines push to one ``serving_dir``: each push stages in a
  folder no other push uses, and on a local filesystem the version number is
  chosen and claimed (renamed into place), and old versions pruned, under an
  exclusive lock file, so two pushes never get the same version;
* skips the copy when the newest served version already holds this exact model
  (a re-run whose Trainer was cached), recording that version as the push;
* keeps the newest ``keep_versions`` versions and never deletes the newest one
  (the one TF Serving's default ``latest`` policy serves), a version TF
  Serving's model config file pins (``specific`` versions, ``version_labels``,
  the ``latest`` policy's ``num_versions``) or one listed in ``pinned_versions``;
* removes staging folders left by crashed pushes once they are a day old.
Blessing checks, metadata and archiving are TFX's Pusher's, unchanged.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import sys
import time
import uuid
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import tensorflow as tf
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2
from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.io import filesystem, fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components import typed_settings
from components.pusher import lineage_builder, lineage_record
from components.pusher.settings import SECTION, PusherSettings

log = logging.getLogger(__name__)

MODEL_CONFIG_FILE_SETTING = f"{SECTION}.model_config_file"   # named in errors: what the user edits

STAGING_PREFIX = ".staging-"
# .staging-<unix seconds when the push started>-<random hex>: never all digits, never shared, and its age
# is in its name (object stores have no folder times). The older .staging-<version> names match too
# (their version was the Unix time of the push).
STAGING_NAME = re.compile(re.escape(STAGING_PREFIX) + r"(?P<started>\d+)(?:-[0-9a-f]+)?")
STALE_STAGING_AGE_S = 24 * 60 * 60   # no push copies for a day: an older staging folder is a crashed push's
# The PushedModel's custom properties, as TFX's Pusher writes them (_MarkPushed); the run summary reads them.
PUSHED_KEY = tfx_pusher_executor._PUSHED_KEY  # pylint: disable=protected-access
PUSHED_DESTINATION_KEY = tfx_pusher_executor._PUSHED_DESTINATION_KEY  # pylint: disable=protected-access
LOCK_SUFFIX = ".push.lock"           # <serving_dir>/.<model_name>.push.lock: beside the model's folder, not in it
LOCK_TIMEOUT_S = 10 * 60             # the lock guards a rename and a prune, never a copy
LOCK_POLL_S = 0.05
SAVED_MODEL_FILE = "saved_model.pb"
KEEP_ALL = sys.maxsize  # model_version_policy { all {} }: TF Serving serves every version, so none is pruned
PUSHED_MARKER = ".pix2pix-tfx-pushed"  # in each version folder this Pusher published: only those are pruned


class PushConfigError(ValueError):
    """A Pusher setting or file that would make retention unsafe; raised before anything is copied."""


def served_versions(base_directory: str) -> List[int]:
    """Version folders TF Serving would consider, oldest first."""
    if not fileio.exists(base_directory):
        return []
    return sorted(int(name.rstrip("/")) for name in fileio.listdir(base_directory) if name.rstrip("/").isdigit())


def next_version(base_directory: str, now: int) -> int:
    """A Unix-time version, strictly newer than any existing one (choose it under ``push_lock``)."""
    existing = served_versions(base_directory)
    return max([now] + [v + 1 for v in existing])


def same_model(model_path: str, version_path: str) -> bool:
    """Byte-identical saved_model.pb means the same exported graph and variables' layout;
    together with identical variables files it is the same model."""
    for relative in (SAVED_MODEL_FILE, os.path.join("variables", "variables.data-00000-of-00001")):
        a, b = os.path.join(model_path, relative), os.path.join(version_path, relative)
        if not (fileio.exists(a) and fileio.exists(b)):
            return False
        with fileio.open(a, "rb") as fa, fileio.open(b, "rb") as fb:
            if fa.read() != fb.read():
                return False
    return True


def is_local(path: str) -> bool:
    """A path of this machine's filesystems (the same rule as ``Config.resolve``), not an object store URI."""
    return "://" not in path


@contextlib.contextmanager
def push_lock(base_directory: str) -> Iterator[None]:
    """Serializes choosing a version, renaming into it and pruning among the pushes to one base folder.

    Local filesystems: an exclusive ``flock`` on ``<serving_dir>/.<model_name>.push.lock`` (the kernel
    releases it when a push dies; beside the model folder, whose listing stays versions only).
    Object stores (gs://) have no locks: there pushes are not serialized, which docs/serving.md says; the
    unique staging folders and a rename that refuses an existing version still hold.
    """
    if not is_local(base_directory):
        yield
        return
    fileio.makedirs(base_directory)
    parent, model_name = os.path.split(os.path.abspath(base_directory))
    path = os.path.join(parent, f".{model_name}{LOCK_SUFFIX}")
    with open(path, "a", encoding="utf-8") as handle:
        deadline = time.monotonic() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{path}: another push has held this lock for over {LOCK_TIMEOUT_S} s; "
                                       "is a push hung? Nothing was published") from None
                time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def staging_name(now: int) -> str:
    """A staging folder name no other push uses, with its start time for the stale-folder cleanup."""
    return f"{STAGING_PREFIX}{now}-{uuid.uuid4().hex}"


def _remove_quietly(path: str) -> None:
    try:
        if fileio.exists(path):
            fileio.rmtree(path)
    except (OSError, tf.errors.OpError, filesystem.NotFoundError) as error:
        log.warning("could not remove %s: %s", path, error)


def pushed_by_us(version_path: str) -> bool:
    """Whether this Pusher published the version folder (retention deletes only those)."""
    return fileio.exists(os.path.join(version_path, PUSHED_MARKER))


def publish_atomically(model_path: str, base_directory: str,
                       describe: Optional[Callable[[str, str], None]] = None) -> str:
    """Copies into a staging folder of this push's own, then renames it to a new version; returns its path.

    The copy happens outside the lock (pushes copy in parallel); the version is chosen and claimed by
    the rename under ``push_lock``. ``rename`` without overwrite refuses an existing version folder.
    ``describe(staging, final path)`` writes files that name the version (the lineage record) into the
    staging folder once the version is chosen, so they appear with it. A failed copy, description or
    rename removes this push's staging folder and publishes nothing.
    """
    fileio.makedirs(base_directory)
    staging = os.path.join(base_directory, staging_name(int(time.time())))
    try:
        io_utils.copy_dir(model_path, staging)
        io_utils.write_string_file(os.path.join(staging, PUSHED_MARKER), "")  # TF Serving ignores other files
        with push_lock(base_directory):
            final = os.path.join(base_directory, str(next_version(base_directory, int(time.time()))))
            if describe is not None:
                describe(staging, final)
            fileio.rename(staging, final, overwrite=False)
    except BaseException:
        _remove_quietly(staging)
        raise
    return final


def remove_stale_staging(base_directory: str, now: int, max_age_s: int = STALE_STAGING_AGE_S) -> List[str]:
    """Deletes staging folders whose push started over ``max_age_s`` ago (crashed pushes); returns their names.

    A live push's staging folder is younger than that, so it is never touched; names that are not
    ours (not ``.staging-<seconds>[-<hex>]``) are left alone.
    """
    if not fileio.exists(base_directory):
        return []
    removed = []
    for name in sorted(entry.rstrip("/") for entry in fileio.listdir(base_directory)):
        match = STAGING_NAME.fullmatch(name)
        if match and now - int(match["started"]) > max_age_s:
            _remove_quietly(os.path.join(base_directory, name))
            removed.append(name)
    return removed


def prune_versions(base_directory: str, keep: int, pinned: Iterable[int] = ()) -> List[int]:
    """Deletes all but the newest ``keep`` versions, never the newest one, a pinned one, or one this Pusher
    did not publish (a version put there by hand or by another tool); returns the deleted."""
    versions = served_versions(base_directory)
    kept = set(versions[-max(keep, 1):]) | set(pinned)
    foreign = [v for v in versions if v not in kept and not pushed_by_us(os.path.join(base_directory, str(v)))]
    if foreign:
        log.warning("kept version(s) %s in %s: not published by this Pusher (no %s), so never deleted",
                    foreign, base_directory, PUSHED_MARKER)
    doomed = [version for version in versions if version not in kept and version not in foreign]
    for version in doomed:
        fileio.rmtree(os.path.join(base_directory, str(version)))
    return doomed


def serving_config_pins(path: str, model_name: str) -> Tuple[Dict[int, str], int]:
    """What TF Serving's model config file (text-format ModelServerConfig) keeps serving for ``model_name``.

    Returns the versions it names (``specific { versions }``, ``version_labels``), each with why, and the
    ``latest`` policy's ``num_versions`` (0 for other policies). A missing, unreadable or unparsable file,
    or one without that model, raises ``PushConfigError``: retention cannot know what is pinned.
    """
    hint = f"fix the file or set {MODEL_CONFIG_FILE_SETTING}: null"
    if not fileio.exists(path):
        raise PushConfigError(f"{MODEL_CONFIG_FILE_SETTING}: {path} does not exist (TF Serving's model config, "
                              f"read so that retention keeps the versions it pins); {hint}")
    try:
        with fileio.open(path, "rb") as handle:
            config = text_format.Parse(handle.read(), model_server_config_pb2.ModelServerConfig())
    except (text_format.ParseError, UnicodeDecodeError, OSError, tf.errors.OpError,
            filesystem.NotFoundError) as error:
        raise PushConfigError(f"{MODEL_CONFIG_FILE_SETTING}: {path} is not a readable text-format "
                              f"ModelServerConfig ({type(error).__name__}: {error}); {hint}") from None
    entries = [entry for entry in config.model_config_list.config if entry.name == model_name]
    if not entries:
        found = [entry.name for entry in config.model_config_list.config]
        raise PushConfigError(f"{MODEL_CONFIG_FILE_SETTING}: {path} has no model_config_list entry named "
                              f"{model_name!r} (found {found}), so TF Serving would not serve what is pushed; "
                              f"{hint}")
    pins: Dict[int, str] = {}
    latest = 0
    for entry in entries:
        policy = entry.model_version_policy
        for version in policy.specific.versions:
            pins[version] = f"specific.versions in {path}"
        for label, version in entry.version_labels.items():
            pins[version] = f"version label {label!r} in {path}"
        if policy.WhichOneof("policy_choice") == "latest":
            latest = max(latest, policy.latest.num_versions)
        elif policy.WhichOneof("policy_choice") == "all":
            latest = KEEP_ALL
    return pins, latest


def retention(settings: PusherSettings, model_name: str) -> Tuple[int, Dict[int, str]]:
    """How many newest versions to keep and which versions are pinned (version -> why)."""
    keep = settings.keep_versions
    pins = {version: f"{SECTION}.pinned_versions" for version in settings.pinned_versions}
    config_file = settings.model_config_file
    if config_file:
        served, latest = serving_config_pins(config_file, model_name)
        pins.update(served)
        keep = max(keep, latest)
    return keep, pins


class Executor(tfx_pusher_executor.Executor):
    """Pushes a blessed model to a filesystem destination, atomically."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher supports filesystem destinations only")
        base = destination.filesystem.base_directory
        settings = typed_settings.unpack(
            json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {},
            SECTION, PusherSettings)
        # The base folder is <serving_dir>/<model_name> (TF Serving's layout): its name is the served model's.
        # Read before anything else, so a broken model config file fails every run, blessed or not.
        keep, pins = retention(settings, os.path.basename(base.rstrip("/")))
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            log.info("the model was not blessed: nothing pushed")
            return
        model_path = self.GetModelPath(input_dict)

        versions = served_versions(base)
        if versions and same_model(model_path, os.path.join(base, str(versions[-1]))):
            serving_path = os.path.join(base, str(versions[-1]))
            log.info("this model is already served as version %d: not copied again", versions[-1])
        else:
            custom_config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
            serving_path = publish_atomically(model_path, base, lambda staging, final: self._describe(
                input_dict, custom_config.get(lineage_record.LINEAGE_KEY) or {}, staging, final))
            log.info("published %s with its lineage record and model card (%s/)", serving_path,
                     lineage_record.ASSETS_EXTRA)
        with push_lock(base):
            stale = remove_stale_staging(base, int(time.time()))
            deleted = prune_versions(base, keep, pins)
            present = set(served_versions(base))
        if stale:
            log.info("removed staging folders of pushes that crashed over %d s ago: %s",
                     STALE_STAGING_AGE_S, stale)
        if deleted:
            log.info("kept the newest %d versions and the pinned ones %s, deleted %s",
                     keep, sorted(pins), deleted)
        for version in sorted(set(pins) - present):
            log.warning("version %d is pinned (%s) but %s has no such version: TF Serving cannot load it",
                        version, pins[version], base)

        io_utils.copy_dir(serving_path, model_push.uri)  # archive with the artifact, as TFX's Pusher does
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=os.path.basename(serving_path))

    def _describe(self, input_dict: Dict[str, List[Any]], lineage: Dict[str, Any], staging: str, final: str) -> None:
        """Writes assets.extra/lineage.json and assets.extra/model_card.html into the staging folder."""
        from components.pusher import model_card

        def single(role):
            artifacts = input_dict.get(role) or []
            return artifacts[0] if artifacts else None

        artifacts = {role: lineage_record.artifact_entry(single(role))
                     for role in lineage_record.ROLES if single(role) is not None}
        pusher_execution = getattr(self._context, "_unique_id", None) if self._context else None
        executions = lineage_builder.executions_from_store(lineage.get("metadata_path"), artifacts)
        node = self._context.pipeline_node if self._context else None
        if pusher_execution and str(pusher_execution).isdigit():  # the launcher's execution id
            executions.append({"id": int(pusher_execution), "type": node.node_info.type.name if node else None,
                               "node": node.node_info.id if node else "Pusher", "produced": []})
        pipeline = dict(lineage.get("pipeline") or {})
        pipeline.update(run_id=self._context.pipeline_run_id if self._context else None,
                        metadata_path=lineage.get("metadata_path"))
        base = os.path.dirname(final)
        record = lineage_record.build_record(
            served={"model_name": os.path.basename(base), "version": int(os.path.basename(final)), "path": final},
            pipeline=pipeline,
            code=lineage_record.code_version(lineage.get("project_dir") or os.getcwd()),
            data=lineage_builder.data_section(single(lineage_record.EXAMPLES)),
            validation=lineage_builder.validation_section(single(lineage_record.ANOMALIES)),
            training=lineage_builder.training_section(single(lineage_record.MODEL_RUN)),
            evaluation=lineage_builder.evaluation_section(single(lineage_record.MODEL_EVALUATION),
                                                          single(lineage_record.MODEL_BLESSING)),
            config=lineage.get("config") or {}, artifacts=artifacts, executions=executions)
        record_path = lineage_record.lineage_path(staging)
        fileio.makedirs(os.path.dirname(record_path))
        io_utils.write_string_file(record_path, json.dumps(record, indent=1, sort_keys=True))
        evaluation = single(lineage_record.MODEL_EVALUATION)
        grid = os.path.join(evaluation.uri, lineage_builder.SAMPLE_GRID) if evaluation is not None else None
        model_card.write_model_card(record, lineage_record.model_card_path(staging),
                                    grid if grid and fileio.exists(grid) else None)
