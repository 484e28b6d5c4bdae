"""The dataset a run trains on: the ``data`` section as the runners read it, checked before the pipeline is built.

The ExampleGen's own settings (``components/example_gen/settings.py``) say how
to read the pairs; the runner adds two things it alone does, here: generating
the embedded dataset when it is missing (``generate_if_missing``,
``synthetic``), and resolving ``split_mode: auto`` by looking at the dataset,
so that the pipeline definition itself does no I/O.
"""
from __future__ import annotations

import dataclasses
import difflib
import logging
import os

from components.example_gen import layout, spans
from components.example_gen.settings import REQUIRED_SPLITS, DataSettings
from components.typed_settings import ConfigError
from data import synthetic_facades

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DataSection(DataSettings):
    """``data``: the ExampleGen's settings plus the embedded dataset the local runner may generate."""

    generate_if_missing: bool
    synthetic: synthetic_facades.SyntheticDatasetSettings

    def example_gen_settings(self) -> DataSettings:
        """The part the ExampleGen reads (the rest is the runner's)."""
        return DataSettings(**{field.name: getattr(self, field.name) for field in dataclasses.fields(DataSettings)})


def resolve_split_mode(config):
    """The config with ``data.split_mode: auto`` made concrete from the dataset's folders (see below);
    with a span pattern, from the folders of the span a run would read now."""
    if config.data.split_mode != layout.SPLIT_AUTO:
        return config
    data = resolved_split_mode(config.data, current_data_folder(config))
    return config if data is config.data else dataclasses.replace(config, data=data)


def current_data_folder(config) -> str:
    """``data.dataset_dir``, or with a span pattern the folder of the span a run reads now (the newest, or
    ``data.spans.pinned``): the one the checks before building a pipeline look at. The pipeline itself keeps
    the pattern, and the ExampleGen resolves it again when it runs."""
    dataset_dir = config.resolve(config.data.dataset_dir)
    location = spans.parse(dataset_dir)
    if location is None:
        return dataset_dir
    try:
        span = spans.resolve(location, config.data.spans.pinned)
    except spans.SpanPatternError as error:
        raise ConfigError(f"data.dataset_dir: {error}") from None
    log.info("data.dataset_dir %s -> %s", dataset_dir, span.describe())
    return span.root


def resolved_split_mode(data: DataSettings, dataset_dir: str) -> DataSettings:
    """``data`` with ``split_mode: auto`` replaced by what the dataset at ``dataset_dir`` has.

    ``folders`` with the split folders that hold files when there are some
    (at least train and eval, else a ConfigError naming data.split_folders),
    or ``hash`` when there are none. Other modes are returned unchanged.
    """
    if data.split_mode != layout.SPLIT_AUTO:
        return data
    try:
        present = layout.find_split_folders(dataset_dir, data.split_folders, REQUIRED_SPLITS)
    except layout.DatasetLayoutError as error:
        raise ConfigError(f"data.split_folders: {error}") from None
    resolved = (dataclasses.replace(data, split_mode=layout.SPLIT_FOLDERS, split_folders=present) if present
                else dataclasses.replace(data, split_mode=layout.SPLIT_HASH))
    log.info("data.split_mode auto -> %s%s", resolved.split_mode,
             f" ({', '.join(f'{folder}/ -> {split}' for split, folder in present.items())})" if present else "")
    return resolved


def ensure_dataset(config) -> str:
    """The dataset folder, its folders checked against data.layout; the embedded dataset is generated when allowed.

    Remote datasets (gs://...) are not checked here: the ExampleGen reports what it finds.
    """
    data = config.data
    dataset_dir = config.resolve(data.dataset_dir)
    if "://" in dataset_dir:
        return dataset_dir
    if spans.parse(dataset_dir) is not None:
        dataset_dir = current_data_folder(config)   # spans arrive from outside: never generated
    elif not os.path.exists(dataset_dir):
        _generate_embedded_dataset(config, dataset_dir)
    if not os.path.isdir(dataset_dir):
        raise ConfigError(f"data.dataset_dir: {dataset_dir} is not a folder")
    try:
        split_folders = layout.find_split_folders(dataset_dir, data.split_folders, REQUIRED_SPLITS)
    except layout.DatasetLayoutError as error:
        raise ConfigError(f"data.split_folders: {error}") from None
    if data.split_mode == layout.SPLIT_FOLDERS:
        missing = [f"{folder}/ ({split})" for split, folder in data.split_folders.items() if split not in split_folders]
        if missing:
            raise ConfigError(f"data.split_folders: data.split_mode is folders but {dataset_dir} has no files under "
                              f"{', '.join(missing)}; remove those entries or set data.split_mode: auto")
    elif data.split_mode == layout.SPLIT_HASH:
        split_folders = {}
    if data.layout == layout.TWO_FOLDER:
        for parent in [os.path.join(dataset_dir, folder) for folder in split_folders.values()] or [dataset_dir]:
            for sub_key in ("input_subdir", "target_subdir"):
                folder = os.path.join(parent, getattr(data, sub_key))
                if not os.path.isdir(folder):
                    raise ConfigError(f"data.{sub_key}: {folder} is not a folder; the two_folder layout expects "
                                      f"{data.input_subdir}/ and {data.target_subdir}/ under {parent}")
    return dataset_dir


def _generate_embedded_dataset(config, dataset_dir: str) -> None:
    """Makes the embedded synthetic dataset at ``dataset_dir``, or says why a missing dataset is an error.

    Only a folder named like the embedded dataset is generated, and away from
    its default place only inside a folder that exists: any other missing path
    is a typo or an unmounted disk, and training on generated data there could
    push a model of it over the served one.
    """
    data = config.data
    if os.path.islink(dataset_dir):
        raise ConfigError(f"data.dataset_dir: {dataset_dir} is a symlink to {os.readlink(dataset_dir)}, which does "
                          "not exist (an unmounted disk?); nothing is generated there")
    if not data.generate_if_missing:
        raise ConfigError(f"data.dataset_dir: {dataset_dir} does not exist (and "
                          "data.generate_if_missing is false)")
    default_dir = config.resolve(synthetic_facades.DEFAULT_DATASET_DIR)
    parent = os.path.dirname(os.path.normpath(dataset_dir))
    if (synthetic_facades.is_embedded_location(dataset_dir) and os.path.normpath(dataset_dir) != default_dir
            and not os.path.isdir(parent)):
        raise ConfigError(f"data.dataset_dir: {dataset_dir} does not exist, nor does its folder {parent}: a typo in "
                          f"the path? data.generate_if_missing generates the embedded dataset at its default place "
                          f"({default_dir}) or in a missing {synthetic_facades.DATASET_NAME}/ inside a folder that "
                          "exists; create that folder first to generate there")
    if not synthetic_facades.is_embedded_location(dataset_dir):
        raise ConfigError(
            f"data.dataset_dir: {dataset_dir} does not exist{_did_you_mean(dataset_dir)}. Check the path (it is "
            f"relative to the config file's folder). data.generate_if_missing only generates the embedded "
            f"synthetic dataset, in a folder named {synthetic_facades.DATASET_NAME!r} (by default "
            f"{config.resolve(synthetic_facades.DEFAULT_DATASET_DIR)}), never in place of a missing dataset")
    if data.layout != layout.TWO_FOLDER:
        raise ConfigError(
            f"data.dataset_dir: {dataset_dir} does not exist; data.generate_if_missing only makes the embedded "
            f"two_folder dataset and data.layout is {data.layout!r}. For an aligned dataset run "
            f"`python -m data.download facades --output {dataset_dir}`, or convert one with "
            "`python -m data.convert_layout`")
    synthetic = data.synthetic
    log.info("Generating the embedded synthetic facades dataset (%d pairs, %dpx, seed %d) in %s",
             synthetic.num_pairs, synthetic.image_size, synthetic.seed, dataset_dir)
    synthetic_facades.generate_dataset(dataset_dir, num_pairs=synthetic.num_pairs, image_size=synthetic.image_size,
                                       seed=synthetic.seed)


def _did_you_mean(missing: str) -> str:
    """' (did you mean /x/facades?)' from the folders next to a mistyped path, or ''."""
    parent, name = os.path.split(missing.rstrip(os.sep))
    try:
        siblings = [entry for entry in os.listdir(parent) if os.path.isdir(os.path.join(parent, entry))]
    except OSError:
        return f" (nor does its folder {parent})" if not os.path.isdir(parent) else ""
    close = difflib.get_close_matches(name, siblings, n=1)
    return f" (did you mean {os.path.join(parent, close[0])}?)" if close else ""
