"""TFX Pusher executor that publishes a version atomically and prunes old ones.

TFX's own Pusher copies files straight into ``<base>/<version>/``; TF Serving,
polling the base directory, can see that version while it is half copied.
This executor copies into a hidden staging folder (TF Serving only considers
all-digit folder names), then renames it to the version number, so a version
appears complete or not at all (``rename`` is atomic on local and POSIX
filesystems; on object stores it is a copy, see the README). It also:

* skips the copy when the newest served version already holds this exact model
  (a re-run whose Trainer was cached), recording that version as the push;
* keeps the newest ``keep_versions`` versions and never deletes the newest one,
  the one TF Serving's default ``latest`` policy serves.
Blessing checks, metadata and archiving are TFX's Pusher's, unchanged.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Any, Dict, List

from tfx.components.pusher import executor as tfx_pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

KEEP_VERSIONS = "keep_versions"   # key of the Pusher's custom_config
STAGING_PREFIX = ".staging-"
SAVED_MODEL_FILE = "saved_model.pb"
LOG_PREFIX = "[pusher]"


def served_versions(base_directory: str) -> List[int]:
    """Version folders TF Serving would consider, oldest first."""
    if not fileio.exists(base_directory):
        return []
    return sorted(int(name.rstrip("/")) for name in fileio.listdir(base_directory) if name.rstrip("/").isdigit())


def next_version(base_directory: str, now: int) -> int:
    """A Unix-time version, strictly newer than any existing one."""
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


def publish_atomically(model_path: str, base_directory: str, version: int) -> str:
    """Copies into ``.staging-<version>`` and renames it to ``<version>``."""
    fileio.makedirs(base_directory)
    staging = os.path.join(base_directory, f"{STAGING_PREFIX}{version}")
    final = os.path.join(base_directory, str(version))
    if fileio.exists(staging):
        fileio.rmtree(staging)
    io_utils.copy_dir(model_path, staging)
    fileio.rename(staging, final)
    return final


def prune_versions(base_directory: str, keep: int) -> List[int]:
    """Deletes all but the newest ``keep`` versions (never the newest); returns the deleted ones."""
    versions = served_versions(base_directory)
    doomed = versions[:-max(keep, 1)]
    for version in doomed:
        fileio.rmtree(os.path.join(base_directory, str(version)))
    return doomed


class Executor(tfx_pusher_executor.Executor):
    """Pushes a blessed model to a filesystem destination, atomically."""

    def Do(self, input_dict: Dict[str, List[Any]], output_dict: Dict[str, List[Any]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            logging.info("%s the model was not blessed: nothing pushed", LOG_PREFIX)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher supports filesystem destinations only")
        base = destination.filesystem.base_directory
        custom_config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
        keep = int(custom_config.get(KEEP_VERSIONS, 1))

        versions = served_versions(base)
        if versions and same_model(model_path, os.path.join(base, str(versions[-1]))):
            serving_path = os.path.join(base, str(versions[-1]))
            logging.info("%s this model is already served as version %d: not copied again", LOG_PREFIX, versions[-1])
        else:
            serving_path = publish_atomically(model_path, base, next_version(base, int(time.time())))
            logging.info("%s published %s", LOG_PREFIX, serving_path)
        deleted = prune_versions(base, keep)
        if deleted:
            logging.info("%s kept the newest %d versions, deleted %s", LOG_PREFIX, keep, deleted)

        io_utils.copy_dir(model_path, model_push.uri)  # archive with the artifact, as TFX's Pusher does
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=os.path.basename(serving_path))
