"""``pipeline_config.yaml`` as one typed, validated object: the sections, composed.

Every setting lives in the YAML file; each section's type lives beside the
code that uses it (``components/<stage>/settings.py``, ``pipeline/dataset.py``,
``pipeline/pipeline_settings.py``, ``pipeline/profiles.py``) and is built by the
one generic loader, ``components/typed_settings.py``. This module only puts
them together: it reads the file, applies the profile's and the command line's
overrides, builds every section and checks the rules that span two sections.
An unknown key, a wrong type or an out-of-range value fails here, before any
component runs, with a message naming the key, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from typing import Any, Dict, Sequence

from components.bulk_inference.settings import BulkInferenceSettings
from components.evaluator.settings import EvaluatorSettings
from components.example_validator.settings import DataValidationSettings
from components.pusher.settings import PusherSettings
from components.trainer.settings import ServingSettings, TrainerSettings
from components.transform.settings import TransformSettings
from components.typed_settings import (ConfigError, apply_override, build, check_keys, read_yaml_mapping, require,
                                       to_dict)
from pipeline import profiles
from pipeline.dataset import DataSection
from pipeline.pipeline_settings import BeamSettings, PipelineSettings

__all__ = ["Config", "ConfigError", "load_config"]


@dataclasses.dataclass(frozen=True)
class Config:
    pipeline: PipelineSettings
    data: DataSection
    data_validation: DataValidationSettings
    transform: TransformSettings
    trainer: TrainerSettings
    evaluator: EvaluatorSettings
    pusher: PusherSettings
    serving: ServingSettings
    bulk_inference: BulkInferenceSettings
    beam: BeamSettings
    source: str = ""  # the file it was loaded from, for messages
    profile_name: str = profiles.LOCAL_RUNNER
    profile: profiles.ProfileSettings = profiles.ProfileSettings(runner=profiles.LOCAL_RUNNER)

    def __post_init__(self) -> None:
        # Every signature of the served model has one pixel limit: an image ingestion admits must be
        # within it, or the Evaluator (which scores through the served signatures) would refuse it.
        limit = self.serving.max_input_pixels
        require(limit is None or self.data.max_image_pixels <= limit, "data.max_image_pixels",
                self.data.max_image_pixels, f"at most serving.max_input_pixels ({limit}): every signature of the "
                "served model refuses larger images, the Evaluator's included; raise both together")
        # The networks' size rules, applied to the size Transform gives them.
        self.trainer.check_image_size(self.transform.image_size)

    def as_dict(self) -> Dict[str, Any]:
        """Every section as plain data, plus the profile's name: what a lineage record stores."""
        sections = {name: to_dict(getattr(self, name)) for name in typing.get_type_hints(Config)
                    if name not in _NOT_SECTIONS}
        return {**sections, "profile": self.profile_name}

    def resolve(self, path: str) -> str:
        """A path from the config, relative to the config file's folder."""
        if os.path.isabs(path) or "://" in path:
            return path
        return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.source)), path))

    def with_resolved_paths(self) -> "Config":
        """The same settings with every path absolute (or a URI): what components, which run elsewhere, receive."""
        weights = self.evaluator.fid_inception_weights
        model_config_file = self.pusher.model_config_file
        return dataclasses.replace(
            self,
            pipeline=dataclasses.replace(self.pipeline, **{key: self.resolve(getattr(self.pipeline, key)) for key in (
                "root", "metadata_path", "report_dir", "log_dir")}),
            data=dataclasses.replace(self.data, dataset_dir=self.resolve(self.data.dataset_dir)),
            data_validation=dataclasses.replace(self.data_validation,
                                                schema_file=self.resolve(self.data_validation.schema_file)),
            evaluator=dataclasses.replace(self.evaluator, fid_inception_weights=self.resolve(weights) if weights else None),
            pusher=dataclasses.replace(self.pusher, serving_dir=self.resolve(self.pusher.serving_dir),
                                       model_config_file=self.resolve(model_config_file) if model_config_file else None))


_NOT_SECTIONS = ("source", "profile_name", "profile")


def load_config(path: str, overrides: Sequence[str] = (), profile: str = profiles.LOCAL_RUNNER) -> Config:
    """Reads the YAML file, applies the profile's and the ``section.key=value`` overrides, validates.

    A profile's ``overrides`` (e.g. a gs:// pipeline.root for Vertex) apply first;
    ``--set`` on the command line wins over both the file and the profile.
    """
    raw = read_yaml_mapping(path)
    try:
        for override in overrides:
            apply_override(raw, override)
        profile_settings = profiles.apply_profile(raw, profile,
                                                  cli_keys={o.partition("=")[0].strip() for o in overrides})
        sections: Dict[str, Any] = {name: hint for name, hint in typing.get_type_hints(Config).items()
                                    if name not in _NOT_SECTIONS}
        check_keys(raw, sections, where="top level")
        values = {name: build(section_type, raw[name], name) for name, section_type in sections.items()}
        return Config(**values, source=os.path.abspath(path), profile_name=profile, profile=profile_settings)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
