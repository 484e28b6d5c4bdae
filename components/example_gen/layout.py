"""Where the files of each dataset layout sit, and which split and role a file has.

Three layouts (``data.layout``)::

    two_folder   [split/]input/x.png  +  [split/]target/x.jpg     paired by stem
    aligned      [split/]x.jpg        A|B side by side            data.direction picks the input half
    tfrecord     [split/]*.tfrecord   tf.train.Example records    the project's Example format

The optional ``split`` folders are ``data.split_folders`` (``train/``, ``val/`` ->
the split named ``eval``, ``test/``); when none exists the splits are a hash of
the pair id. The split folders found become the ExampleGen's input splits, one
glob pattern each, which is what TFX fingerprints for its cache.

The executor lists the whole dataset once and routes every file here: into a
split and role, into the quarantine (a data file in the wrong place, a file of
the wrong type in a layout folder), or -- for a non-data file outside the layout
such as a README -- into the ignored count. So nothing is skipped silently.
"""
from __future__ import annotations

import dataclasses
import posixpath
from typing import Dict, List, Optional, Sequence, Tuple, Union

from apache_beam.io.filesystems import FileSystems

from components.example_gen import quarantine

TWO_FOLDER = "two_folder"
ALIGNED = "aligned"
TFRECORD = "tfrecord"
LAYOUTS = (TWO_FOLDER, ALIGNED, TFRECORD)

# data.split_mode: how examples get their split.
SPLIT_AUTO = "auto"         # split folders when the dataset has them, else a hash; the runner resolves it
SPLIT_FOLDERS = "folders"   # one input split per split_folders entry (val/ -> eval)
SPLIT_HASH = "hash"         # split_ratios hash buckets on the pair id (a pair never moves)
SPLIT_MODES = (SPLIT_AUTO, SPLIT_FOLDERS, SPLIT_HASH)

HASH_SPLIT_INPUT = "all"        # the single input split when the pair id hash makes the splits
INPUT_ROLE = "input"            # two_folder roles
TARGET_ROLE = "target"
ALIGNED_ROLE = "aligned"
RECORDS_ROLE = "records"
WILDCARDS = "*?["


class DatasetLayoutError(ValueError):
    """The dataset's folders do not fit the configured layout; the message says how."""


def files_pattern(layout: str, folder: str = "") -> str:
    """The glob (relative to the dataset root) of one split's files: what TFX fingerprints."""
    within = "*/*" if layout == TWO_FOLDER else "*"
    return f"{folder}/{within}" if folder else within


def folder_of_pattern(pattern: str) -> str:
    """``val/*/*`` -> ``val``; ``*/*`` -> ``""`` (the dataset root)."""
    fixed: List[str] = []
    for part in pattern.split("/"):
        if any(ch in part for ch in WILDCARDS):
            break
        fixed.append(part)
    return "/".join(fixed)


def find_split_folders(dataset_dir: str, split_folders: Dict[str, str],
                       required_splits: Sequence[str]) -> Dict[str, str]:
    """The configured split folders that hold files, as {split name: folder}.

    Either none (hash split) or at least the required ones: a dataset with
    ``train/`` but no ``val/`` would leave the Evaluator without data.
    """
    present = {split: folder for split, folder in split_folders.items()
               if _holds_files(FileSystems.join(dataset_dir, folder))}
    missing = [split for split in required_splits if split not in present]
    if present and missing:
        found = ", ".join(f"{folder}/ ({split})" for split, folder in present.items())
        wanted = ", ".join(f"{split_folders[split]}/ ({split})" for split in missing)
        raise DatasetLayoutError(
            f"{dataset_dir}: found split folder(s) {found} but not {wanted}; with split folders the "
            f"dataset needs at least {', '.join(split_folders[s] + '/' for s in required_splits)} "
            "(data.split_folders maps TFX split names to folder names), or no split folder at all "
            "(then data.split_ratios splits by a hash of the pair id)")
    return present


def input_splits(layout: str, present_split_folders: Dict[str, str]) -> List[Tuple[str, str]]:
    """(split name, pattern) for the ExampleGen's input config."""
    if present_split_folders:
        return [(split, files_pattern(layout, folder)) for split, folder in present_split_folders.items()]
    return [(HASH_SPLIT_INPUT, files_pattern(layout))]


def _holds_files(folder: str) -> bool:
    return bool(FileSystems.match([FileSystems.join(folder, "**")], limits=[1])[0].metadata_list)


@dataclasses.dataclass(frozen=True)
class Route:
    """A file the layout reads: its split (input split name), role and full path."""

    split: str
    role: str
    path: str
    size: Optional[int] = None   # bytes, from the listing: checked against data.max_file_bytes before reading


def stem_of(path: str) -> str:
    """A pair is identified by the file stem: ``input/x.png`` pairs ``target/x.jpg``."""
    return posixpath.splitext(posixpath.basename(path))[0]


def extension_of(path: str) -> str:
    return posixpath.splitext(path)[1].lower()


@dataclasses.dataclass(frozen=True)
class FileRouter:
    """Decides, from its path under the dataset root, what a listed file is."""

    root: str
    layout: str
    split_by_folder: Dict[str, str]        # "" -> the hash split input when there are no split folders
    input_subdir: str
    target_subdir: str
    data_extensions: Tuple[str, ...]       # the layout's: image or TFRecord extensions
    other_data_extensions: Tuple[str, ...]  # the other layouts': quarantined when found outside the layout

    def route(self, path: str) -> Union[Route, quarantine.Rejection, None]:
        """A Route, a Rejection (wrong place / wrong type), or None (a non-data file to ignore)."""
        parts = self._relative_parts(path)
        split, inside = self._split_of(parts)
        role = self._role_of(inside) if split is not None else None
        extension = extension_of(path)
        if role is None:
            if extension in self.data_extensions or extension in self.other_data_extensions:
                return quarantine.Rejection(path, quarantine.OUTSIDE_LAYOUT, self._where_files_go(), split or "")
            return None
        if extension not in self.data_extensions:
            return quarantine.Rejection(path, quarantine.UNSUPPORTED_EXTENSION,
                                        f"{extension or 'no extension'}; the {self.layout} layout reads "
                                        f"{list(self.data_extensions)}", split)
        return Route(split, role, path)

    def split_name_of(self, path: str) -> str:
        """The input split a path (a file or a folder) is under, or "" when it is under none."""
        return self._split_of(self._relative_parts(path) + [""])[0] or ""  # + "": the folder val/ is in eval

    def _relative_parts(self, path: str) -> List[str]:
        root = self.root.rstrip("/") + "/"
        relative = path[len(root):] if path.startswith(root) else path
        return [part for part in relative.split("/") if part]

    def _split_of(self, parts: List[str]) -> Tuple[Optional[str], List[str]]:
        if "" in self.split_by_folder:
            return self.split_by_folder[""], parts
        if len(parts) > 1 and parts[0] in self.split_by_folder:
            return self.split_by_folder[parts[0]], parts[1:]
        return None, parts

    def _role_of(self, inside: List[str]) -> Optional[str]:
        if self.layout == TWO_FOLDER:
            if len(inside) == 2 and inside[0] in (self.input_subdir, self.target_subdir):
                return INPUT_ROLE if inside[0] == self.input_subdir else TARGET_ROLE
            return None
        if len(inside) == 1:
            return ALIGNED_ROLE if self.layout == ALIGNED else RECORDS_ROLE
        return None

    def _where_files_go(self) -> str:
        folders = [folder for folder in self.split_by_folder if folder]
        prefix = f"{{{','.join(folders)}}}/" if folders else ""
        if self.layout == TWO_FOLDER:
            return (f"not read: the {self.layout} layout reads {prefix}{self.input_subdir}/* and "
                    f"{prefix}{self.target_subdir}/* under the dataset folder")
        return f"not read: the {self.layout} layout reads {prefix}* under the dataset folder"
