"""Where the project writes, checked before anything runs; and which folders it may replace.

Two rules keep an output setting from destroying anything:

* :func:`check_output_paths` refuses, before any component runs, output paths
  that are the same as or inside one another, the dataset, the checkout or the
  config file's folder, a filesystem root or the home folder. Paths are
  compared as written and after following symlinks (``os.path.realpath``);
  ``gs://`` and other URIs as normalized URIs.
* A folder the project replaces whole (the published report) must carry the
  marker file :data:`MARKER_FILE`, written only into folders the project
  itself created: :func:`replace_owned_dir` refuses any other folder, so a
  typo such as ``pipeline.report_dir=build`` or ``.`` is an error, not a loss.

Stdlib only (and :class:`ConfigError`): the serving clients use the same
path comparison for their inputs and outputs.
"""
from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from typing import Callable, Dict, List, Optional, Tuple

from components.example_gen import spans
from pipeline.config import Config, ConfigError

MARKER_FILE = ".pix2pix-tfx-output"   # in every folder the project created and may replace whole
MARKER_TOOL = "pix2pix-tfx"
STAGING_INFIX = ".staging-"            # .<name>.staging-<random>: the next version of <name>, being filled
PREVIOUS_INFIX = ".previous-"          # .<name>.previous-<random>: the replaced version, until deleted
STALE_AFTER_S = 60 * 60                # no publish takes an hour: older staging folders are a crashed run's
COMPILED_MAX_BYTES = 64 * 1024 * 1024  # a compiled pipeline is ~100 KB; a bigger file is not one
COMPILED_TOP_KEYS = (("pipelineSpec",), ("pipelineInfo", "root"))  # Vertex PipelineJob | KFP package

# Output settings: folders, then the one file (compared with its path: it holds nothing).
OUTPUT_FOLDER_KEYS = ("pipeline.root", "pipeline.report_dir", "pipeline.log_dir", "pusher.serving_dir")
OUTPUT_FILE_KEYS = ("pipeline.metadata_path",)
REPORT_DIR_KEY = "pipeline.report_dir"
REPLACED_WHOLE_KEYS = (REPORT_DIR_KEY,)  # published by swapping the folder: it must be the project's own
DATASET_KEY = "data.dataset_dir"
# The checkout: the folder holding pipeline/ (and components/, serving/, the default config).
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SAME, INSIDE, CONTAINS = "is the same path as", "is inside", "contains"


class OutputPathError(ConfigError):
    """An output path that could overwrite or delete something the project does not own."""


# --------------------------------------------------------------------------- #
# Comparing paths
# --------------------------------------------------------------------------- #
def is_uri(path: str) -> bool:
    return "://" in path


def normalize_uri(uri: str) -> str:
    """``GS://Bucket//a/./b/../c/`` -> ``gs://bucket/a/c``: one spelling per object-store folder."""
    scheme, _, rest = uri.partition("://")
    parts: List[str] = []
    for part in rest.split("/"):
        if part in ("", "."):
            continue
        if part == ".." and len(parts) > 1:  # never above the bucket
            parts.pop()
        elif part != "..":
            parts.append(part)
    if parts:
        parts[0] = parts[0].lower()  # bucket and host names are case-insensitive
    return f"{scheme.lower()}://" + "/".join(parts)


def path_forms(path: str) -> Tuple[str, ...]:
    """The spellings compared: a URI normalized; a local path absolute, then with symlinks followed."""
    if is_uri(path):
        return (normalize_uri(path),)
    written = os.path.normpath(os.path.abspath(path))
    real = os.path.realpath(written)
    return (written,) if real == written else (written, real)


def _within(inner: str, outer: str) -> bool:
    if is_uri(inner) != is_uri(outer):
        return False
    return inner.startswith(outer if outer.endswith("/") else outer + "/")


def relation(a: str, b: str) -> Optional[str]:
    """SAME, INSIDE (a is inside b) or CONTAINS (a contains b) when the paths overlap, else None."""
    pairs = [(x, y) for x in path_forms(a) for y in path_forms(b)]
    if any(x == y for x, y in pairs):
        return SAME
    if any(_within(x, y) for x, y in pairs):
        return INSIDE
    if any(_within(y, x) for x, y in pairs):
        return CONTAINS
    return None


def describe_pair(key_a: str, a: str, what: str, key_b: str, b: str) -> str:
    """``key_a (a) contains key_b (b)``, with the real paths when symlinks make them overlap."""
    text = f"{key_a} ({a}) {what} {key_b} ({b})"
    real_a, real_b = path_forms(a)[-1], path_forms(b)[-1]
    if (real_a, real_b) != (path_forms(a)[0], path_forms(b)[0]):
        text += f" (after following symlinks: {real_a} and {real_b})"
    return text


def is_filesystem_root(path: str) -> bool:
    """``/`` (or a drive), or a bare ``gs://bucket``."""
    for form in path_forms(path):
        if is_uri(form):
            if "/" not in form.partition("://")[2]:
                return True
        elif os.path.dirname(form) == form:
            return True
    return False


def _home() -> Optional[str]:
    home = os.path.expanduser("~")
    return None if home == "~" else home


# --------------------------------------------------------------------------- #
# The check before a run or a compile
# --------------------------------------------------------------------------- #
def _setting(config: Config, key: str) -> str:
    section, name = key.split(".")
    return config.resolve(getattr(getattr(config, section), name))


def output_settings(config: Config) -> Dict[str, str]:
    """Every output key -> its path, resolved as the pipeline resolves it."""
    return {key: _setting(config, key) for key in OUTPUT_FOLDER_KEYS + OUTPUT_FILE_KEYS}


def check_output_paths(config: Config, extra_files: Optional[Dict[str, str]] = None) -> None:
    """Refuses output paths that could overwrite or delete each other, the data or the project.

    ``extra_files`` adds output files of the command itself (``{"--output": path}`` for compile).
    Raises :class:`OutputPathError` naming both keys and both paths.
    """
    outputs = output_settings(config)
    outputs.update(extra_files or {})
    dataset = _setting(config, DATASET_KEY)
    location = spans.parse(dataset)
    # With a span pattern, every span lands under its fixed folders: that whole folder is the dataset's.
    protected = {DATASET_KEY: location.base if location else dataset}
    project_roots = {"the project's checkout": PROJECT_ROOT}
    if config.source:
        project_roots["the config file's folder"] = os.path.dirname(os.path.abspath(config.source))
    home = _home()
    keys = list(outputs)
    for key, path in outputs.items():
        if is_filesystem_root(path):
            raise OutputPathError(f"{key}: {path} is a filesystem root; expected a folder of its own, "
                                  "e.g. build/... next to the config file")
        if home is not None and relation(path, home) in (SAME, CONTAINS):
            raise OutputPathError(f"{key}: {path} {relation(path, home)} your home folder ({home}); "
                                  "expected a folder of its own inside it, e.g. build/... next to the config")
        for root_name, root in project_roots.items():
            what = relation(path, root)
            if what in (SAME, CONTAINS):
                raise OutputPathError(f"{describe_pair(key, path, what, root_name, root)}; an output must be "
                                      "a folder of its own (e.g. build/...), never one that holds the project")
        for other_key, other in protected.items():
            what = relation(path, other)
            if what is not None:
                raise OutputPathError(f"{describe_pair(key, path, what, other_key, other)}; outputs must be "
                                      "apart from the dataset: the pipeline would write into it (or replace it)")
    for index, key in enumerate(keys):  # after the checks above: a message names the worst problem first
        for other_key in keys[index + 1:]:
            what = relation(outputs[key], outputs[other_key])
            if what is not None:
                raise OutputPathError(f"{describe_pair(key, outputs[key], what, other_key, outputs[other_key])}; "
                                      "each output needs a path of its own (one is replaced or cleaned without "
                                      "regard for the other)")
    for key in OUTPUT_FOLDER_KEYS:
        path = outputs[key]
        if not is_uri(path) and os.path.exists(path) and not os.path.isdir(path):
            raise OutputPathError(f"{key}: {path} is a file; expected a folder")
    for key in OUTPUT_FILE_KEYS:
        path = outputs[key]
        if not is_uri(path) and os.path.isdir(path):
            raise OutputPathError(f"{key}: {path} is a folder; expected a file path (e.g. build/metadata.sqlite)")
    for key in REPLACED_WHOLE_KEYS:
        require_replaceable(outputs[key], key)


def check_compiled_output(config: Config, output_path: str, flag: str = "--output") -> None:
    """Refuses a compile destination that would overwrite a file that is not a compiled pipeline.

    The destination must also stay apart from the dataset and the output folders (:func:`check_output_paths`).
    """
    check_output_paths(config, {flag: output_path})
    path = os.path.abspath(output_path)
    if config.source and relation(path, config.source) == SAME:
        raise OutputPathError(f"{flag} {output_path}: that is the config file ({config.source}); "
                              "choose another file, e.g. build/pix2pix_pipeline.json")
    if os.path.isdir(path):
        raise OutputPathError(f"{flag} {output_path}: is a folder; expected a file name")
    if os.path.lexists(path) and not _is_compiled_pipeline(path):
        raise OutputPathError(f"{flag} {output_path}: exists and is not a pipeline this project compiled "
                              "(no pipelineSpec / pipelineInfo at its top level); it is not overwritten. "
                              "Choose another file or move that one away")


def _is_compiled_pipeline(path: str) -> bool:
    import yaml  # JSON is YAML too

    try:
        if os.path.getsize(path) > COMPILED_MAX_BYTES or not os.path.isfile(path):
            return False
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(document, dict) and any(all(key in document for key in keys) for keys in COMPILED_TOP_KEYS)


# --------------------------------------------------------------------------- #
# Folders the project owns
# --------------------------------------------------------------------------- #
def _write_marker(folder: str, key: str) -> None:
    with open(os.path.join(folder, MARKER_FILE), "w", encoding="utf-8") as handle:
        json.dump({"created_by": MARKER_TOOL, "setting": key}, handle)
        handle.write("\n")


def is_owned(path: str) -> bool:
    """A real folder (not a symlink) that holds the project's marker file (a regular file)."""
    marker = os.path.join(path, MARKER_FILE)
    return (os.path.isdir(path) and not os.path.islink(path)
            and os.path.isfile(marker) and not os.path.islink(marker))


def require_replaceable(path: str, key: str) -> None:
    """Refuses a path the project may not replace: anything that exists without the marker."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path):
        raise OutputPathError(f"{key}: {path} is a symlink (to {os.readlink(path)}); the project replaces this "
                              "folder whole and never through a link. Point the setting at a folder of its own")
    if not os.path.isdir(path):
        raise OutputPathError(f"{key}: {path} is a file; expected a folder the project creates")
    if not is_owned(path):
        raise OutputPathError(f"{key}: {path} exists and was not created by {MARKER_TOOL} (it has no "
                              f"{MARKER_FILE}); this folder is replaced whole on every run, so the project never "
                              "uses one it did not create. Choose a new folder (e.g. build/reports/latest), or "
                              "move that one away yourself")


def create_owned_dir(path: str, key: str) -> bool:
    """Creates ``path`` (and its parents) with the marker; True when it was created now.

    A folder that already exists is left as it is and never marked: marking it
    would let the project replace a folder it did not make.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        os.mkdir(path)
    except FileExistsError:
        return False
    _write_marker(path, key)
    return True


def _is_stale_sibling(parent: str, entry: str, name: str, now: float) -> bool:
    path = os.path.join(parent, entry)
    ours = entry.startswith((f".{name}{STAGING_INFIX}", f".{name}{PREVIOUS_INFIX}"))
    try:
        return ours and is_owned(path) and now - os.stat(path).st_mtime > STALE_AFTER_S
    except OSError:
        return False


def remove_stale_siblings(path: str, now: Optional[float] = None) -> List[str]:
    """Deletes staging/previous folders of ``path`` left by crashed runs (marked, over an hour old)."""
    parent, name = os.path.split(os.path.abspath(path))
    now = time.time() if now is None else now
    try:
        entries = sorted(os.listdir(parent))
    except OSError:
        return []
    stale = [entry for entry in entries if _is_stale_sibling(parent, entry, name, now)]
    for entry in stale:
        shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
    return stale


def replace_owned_dir(path: str, key: str, fill: Callable[[str], None]) -> str:
    """Replaces the folder ``path`` with a new one that ``fill(staging)`` writes; returns ``path``.

    The new version is filled beside it in a folder of its own (marked first),
    then swapped in by two renames; the old one is deleted only once the new
    one is in place. ``path`` must not exist or be a folder the project created
    (:func:`require_replaceable`), checked again after it is moved aside.
    """
    require_replaceable(path, key)
    path = os.path.abspath(path)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    remove_stale_siblings(path)
    staging = os.path.join(parent, f".{name}{STAGING_INFIX}{uuid.uuid4().hex}")
    os.mkdir(staging)  # a name no other publish uses; the umask's mode, as a folder made by hand
    try:
        _write_marker(staging, key)
        fill(staging)
        if not is_owned(staging):  # fill replaced the marker
            _write_marker(staging, key)
        if not os.path.lexists(path):
            os.rename(staging, path)
            return path
        previous = os.path.join(parent, f".{name}{PREVIOUS_INFIX}{uuid.uuid4().hex}")
        os.rename(path, previous)
        if not is_owned(previous):  # swapped for a folder of someone else's since the check
            os.rename(previous, path)
            require_replaceable(path, key)
        try:
            os.rename(staging, path)
        except BaseException:
            os.rename(previous, path)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # made above, under a fresh name: ours
        raise
    shutil.rmtree(previous, ignore_errors=True)  # checked to be ours
    return path
