"""Typed, validated view of ``pipeline_config.yaml``: the one source of truth.

Every setting of the pipeline lives in the YAML file. It is loaded here into
frozen dataclasses; an unknown key, a wrong type or an out-of-range value fails
at start with a message naming the key, the value and what is allowed, before
any component runs. Components receive their section as a plain dict (TFX
``custom_config``) and rebuild the same dataclass with :func:`section_from_dict`,
so a setting is validated by exactly one piece of code wherever it is used.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import typing
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence

import yaml

METRIC_NAMES = ("l1", "psnr", "ssim", "ms_ssim", "fid")
# Values each metric can take (L1 in [0, 255] pixels, PSNR capped by the Evaluator at 100 dB, SSIM in [-1, 1]):
# a threshold outside them can never pass. tests/test_faults_config.py checks them against the Evaluator.
METRIC_BOUNDS = {"l1": (0.0, 255.0), "psnr": (0.0, 100.0), "ssim": (-1.0, 1.0), "ms_ssim": (-1.0, 1.0),
                 "fid": (0.0, math.inf)}
STATISTIC_NAMES = ("mean", "p10", "p90", "min", "max")


class ConfigError(ValueError):
    """A setting is missing, unknown or invalid; the message names the key."""


# --------------------------------------------------------------------------- #
# Sections. Field docs live in pipeline_config.yaml, next to the values.
# --------------------------------------------------------------------------- #
@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    name: str
    root: str
    metadata_path: str
    enable_cache: bool
    report_dir: str
    log_dir: str


@dataclasses.dataclass(frozen=True)
class SyntheticDatasetSettings:
    num_pairs: int
    image_size: int
    seed: int

    def validate(self, key: str) -> None:
        _require(self.num_pairs >= 1, f"{key}.num_pairs", self.num_pairs, "an integer >= 1")
        _require(self.image_size >= 16, f"{key}.image_size", self.image_size, "an integer >= 16")


@dataclasses.dataclass(frozen=True)
class DataSettings:
    """Where the paired images are, in which layout, and what ingestion accepts."""

    # The image formats the ExampleGen reads (PNG 8/16-bit, JPEG, BMP, GIF first frame).
    SUPPORTED_IMAGE_EXTENSIONS: typing.ClassVar[tuple] = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
    # Splits the Trainer ("train") and the Evaluator ("eval") read.
    REQUIRED_SPLITS: typing.ClassVar[tuple] = ("train", "eval")

    dataset_dir: str
    layout: Literal["two_folder", "aligned", "tfrecord"]
    input_subdir: str
    target_subdir: str
    direction: Literal["AtoB", "BtoA"]
    image_extensions: List[str]
    tfrecord_extensions: List[str]
    split_mode: Literal["auto", "folders", "hash"]
    split_folders: Dict[str, str]
    split_ratios: Dict[str, int]
    size_mismatch: Literal["resize", "reject"]
    min_image_side: int
    max_image_pixels: int
    max_file_bytes: int
    min_valid_fraction: float
    generate_if_missing: bool
    synthetic: SyntheticDatasetSettings

    def validate(self, key: str) -> None:
        _require(set(self.split_ratios) == set(self.REQUIRED_SPLITS), f"{key}.split_ratios",
                 dict(self.split_ratios), "exactly the splits 'train' and 'eval'")
        for split, ratio in self.split_ratios.items():
            _require(ratio >= 1, f"{key}.split_ratios.{split}", ratio, "an integer >= 1")
        _require(set(self.REQUIRED_SPLITS) <= set(self.split_folders), f"{key}.split_folders",
                 dict(self.split_folders), "a mapping with at least the splits 'train' and 'eval' "
                 "(TFX split name -> folder name), e.g. {train: train, eval: val, test: test}")
        for split, folder in self.split_folders.items():
            _require(split.replace("_", "").replace("-", "").isalnum(), f"{key}.split_folders",
                     split, "split names made of letters, digits, '_' and '-'")
            _require("/" not in folder and folder not in (".", ".."), f"{key}.split_folders.{split}",
                     folder, "a folder name directly under dataset_dir (no '/')")
        _require(len(set(self.split_folders.values())) == len(self.split_folders), f"{key}.split_folders",
                 dict(self.split_folders), "a different folder for each split")
        for sub_key in ("input_subdir", "target_subdir"):
            subdir = getattr(self, sub_key)
            _require("/" not in subdir and subdir not in self.split_folders.values(), f"{key}.{sub_key}",
                     subdir, "a folder name without '/' that is not one of split_folders")
        _require(self.input_subdir != self.target_subdir, f"{key}.target_subdir",
                 self.target_subdir, "a folder different from input_subdir")
        _require(bool(self.image_extensions), f"{key}.image_extensions",
                 self.image_extensions, "a non-empty list such as ['.png', '.jpg']")
        for ext in self.image_extensions:
            _require(ext.lower() in self.SUPPORTED_IMAGE_EXTENSIONS, f"{key}.image_extensions", ext,
                     f"extensions among {list(self.SUPPORTED_IMAGE_EXTENSIONS)}")
        _require(bool(self.tfrecord_extensions), f"{key}.tfrecord_extensions",
                 self.tfrecord_extensions, "a non-empty list such as ['.tfrecord', '.gz']")
        for ext in self.tfrecord_extensions:
            _require(ext.startswith(".") and len(ext) > 1, f"{key}.tfrecord_extensions", ext,
                     "extensions that start with a dot, e.g. '.tfrecord'")
        _require(self.min_image_side >= 1, f"{key}.min_image_side", self.min_image_side, "an integer >= 1")
        _require(self.max_image_pixels >= self.min_image_side ** 2, f"{key}.max_image_pixels",
                 self.max_image_pixels, f"an integer >= min_image_side^2 ({self.min_image_side ** 2})")
        _require(self.max_file_bytes >= 1024, f"{key}.max_file_bytes", self.max_file_bytes,
                 "an integer >= 1024 (bytes; larger files are quarantined unread)")
        _require(0.0 <= self.min_valid_fraction <= 1.0, f"{key}.min_valid_fraction",
                 self.min_valid_fraction, "a number in [0, 1]")


@dataclasses.dataclass(frozen=True)
class TransformSettings:
    image_size: int
    channels: Literal[1, 3]

    def validate(self, key: str) -> None:
        _require(self.image_size >= 16 and self.image_size % 4 == 0, f"{key}.image_size", self.image_size,
                 "a multiple of 4 >= 16 (a power of two for the U-Net generator)")


@dataclasses.dataclass(frozen=True)
class TrainerSettings:
    epochs: int
    epochs_decay: int
    batch_size: int
    generator: Literal["unet", "resnet_6blocks", "resnet_9blocks"]
    discriminator: Literal["patchgan", "pixelgan"]
    ngf: int
    ndf: int
    n_layers_d: int
    norm: Literal["batch", "instance", "none"]
    dropout_rate: float
    gan_mode: Literal["vanilla", "lsgan", "wgangp"]
    lambda_l1: float
    lambda_gp: float
    learning_rate: float
    beta_1: float
    jitter: bool
    jitter_scale: float
    shuffle_buffer: int
    cache_dataset: bool
    seed: int
    checkpoint_every_steps: int
    samples_every_epochs: int
    sample_images: int
    collapse_d_loss: float
    collapse_patience_steps: int
    warm_start: bool
    distribution_strategy: Literal["default", "mirrored", "multi_worker_mirrored"]
    mixed_precision: Literal["float32", "mixed_float16", "mixed_bfloat16"]
    jit_compile: bool

    def validate(self, key: str) -> None:
        _require(self.epochs >= 0, f"{key}.epochs", self.epochs, "an integer >= 0")
        _require(self.epochs_decay >= 0, f"{key}.epochs_decay", self.epochs_decay, "an integer >= 0")
        _require(self.batch_size >= 1, f"{key}.batch_size", self.batch_size, "an integer >= 1")
        _require(self.ngf >= 1, f"{key}.ngf", self.ngf, "an integer >= 1")
        _require(self.ndf >= 1, f"{key}.ndf", self.ndf, "an integer >= 1")
        _require(self.n_layers_d >= 1, f"{key}.n_layers_d", self.n_layers_d, "an integer >= 1")
        _require(0.0 <= self.dropout_rate < 1.0, f"{key}.dropout_rate", self.dropout_rate, "a number in [0, 1)")
        _require(self.lambda_l1 >= 0.0, f"{key}.lambda_l1", self.lambda_l1, "a number >= 0")
        _require(self.lambda_gp >= 0.0, f"{key}.lambda_gp", self.lambda_gp, "a number >= 0")
        _require(self.learning_rate > 0.0, f"{key}.learning_rate", self.learning_rate, "a number > 0")
        _require(0.0 <= self.beta_1 < 1.0, f"{key}.beta_1", self.beta_1, "a number in [0, 1)")
        _require(self.jitter_scale >= 1.0, f"{key}.jitter_scale", self.jitter_scale,
                 "a number >= 1 (286/256 = 1.117 in the paper)")
        _require(self.shuffle_buffer >= 1, f"{key}.shuffle_buffer", self.shuffle_buffer, "an integer >= 1")
        _require(self.checkpoint_every_steps >= 0, f"{key}.checkpoint_every_steps",
                 self.checkpoint_every_steps, "an integer >= 0 (0: only at the end)")
        _require(self.samples_every_epochs >= 1, f"{key}.samples_every_epochs",
                 self.samples_every_epochs, "an integer >= 1")
        _require(self.sample_images >= 1, f"{key}.sample_images", self.sample_images, "an integer >= 1")
        _require(self.collapse_d_loss >= 0.0, f"{key}.collapse_d_loss", self.collapse_d_loss, "a number >= 0")
        _require(self.collapse_patience_steps >= 1, f"{key}.collapse_patience_steps",
                 self.collapse_patience_steps, "an integer >= 1")


@dataclasses.dataclass(frozen=True)
class Threshold:
    statistic: Literal["mean", "p10", "p90", "min", "max"]
    min: Optional[float] = None
    max: Optional[float] = None

    def validate(self, key: str) -> None:
        _require((self.min is None) != (self.max is None), key,
                 dataclasses.asdict(self), "exactly one of 'min' or 'max'")


@dataclasses.dataclass(frozen=True)
class RegressionThreshold:
    """How much worse than the last blessed model a candidate may be on one metric.

    ``absolute`` is in the metric's units, ``relative`` a fraction of the
    baseline's value; "worse" follows the metric's direction (higher L1 is
    worse, lower PSNR/SSIM is worse). When both are set, both must hold.
    """
    statistic: Literal["mean", "p10", "p90", "min", "max"]
    absolute: Optional[float] = None
    relative: Optional[float] = None

    def validate(self, key: str) -> None:
        _require(self.absolute is not None or self.relative is not None, key,
                 dataclasses.asdict(self), "at least one of 'absolute' or 'relative'")
        for name in ("absolute", "relative"):
            value = getattr(self, name)
            _require(value is None or value >= 0.0, f"{key}.{name}", value, "a number >= 0 (allowed worsening)")


@dataclasses.dataclass(frozen=True)
class EvaluatorSettings:
    batch_size: int
    thresholds: Dict[str, Threshold]
    regression: Dict[str, RegressionThreshold]
    sample_images: int
    worst_images: int
    fid_inception_weights: Optional[str] = None

    def validate(self, key: str) -> None:
        _require(self.batch_size >= 1, f"{key}.batch_size", self.batch_size, "an integer >= 1")
        _require(bool(self.thresholds), f"{key}.thresholds", self.thresholds,
                 "at least one threshold (a model is blessed only by passing them)")
        for section in ("thresholds", "regression"):
            for metric in getattr(self, section):
                _require(metric in METRIC_NAMES, f"{key}.{section}", metric,
                         f"metric names among {list(METRIC_NAMES)}")
            # FID is computed only with Inception weights: without them a fid rule could never pass.
            _require(bool(self.fid_inception_weights) or "fid" not in getattr(self, section),
                     f"{key}.{section}.fid", dataclasses.asdict(getattr(self, section)["fid"])
                     if "fid" in getattr(self, section) else None,
                     f"no fid rule while {key}.fid_inception_weights is null (FID is then never computed, so the "
                     f"rule could never pass), or a local InceptionV3 notop .h5 file in {key}.fid_inception_weights")
        for metric, threshold in self.thresholds.items():
            low, high = METRIC_BOUNDS[metric]
            _require(threshold.min is None or threshold.min <= high, f"{key}.thresholds.{metric}.min", threshold.min,
                     f"at most {high} ({metric} never exceeds it, so the gate could never pass)")
            _require(threshold.max is None or threshold.max >= low, f"{key}.thresholds.{metric}.max", threshold.max,
                     f"at least {low} ({metric} is never below it, so the gate could never pass)")
        _require(self.sample_images >= 1, f"{key}.sample_images", self.sample_images, "an integer >= 1")
        _require(self.worst_images >= 0, f"{key}.worst_images", self.worst_images, "an integer >= 0")


@dataclasses.dataclass(frozen=True)
class PusherSettings:
    serving_dir: str
    model_name: str
    keep_versions: int
    infra_validation: bool
    serving_image_tag: str
    pinned_versions: List[int] = dataclasses.field(default_factory=list)
    model_config_file: Optional[str] = None

    def validate(self, key: str) -> None:
        _require(_is_plain_name(self.model_name), f"{key}.model_name", self.model_name,
                 "a plain name of letters, digits, '_', '-' and '.' that starts with a letter or digit "
                 "(TF Serving's model name, a single folder under serving_dir: no '/', no '..')")
        _require(self.keep_versions >= 1, f"{key}.keep_versions", self.keep_versions,
                 "an integer >= 1 (the served version is always kept)")
        for index, version in enumerate(self.pinned_versions):
            _require(version >= 1, f"{key}.pinned_versions[{index}]", version,
                     "a version number >= 1 (a folder name under serving_dir/model_name)")


@dataclasses.dataclass(frozen=True)
class ServingSettings:
    max_input_pixels: Optional[int]
    output_size: Literal["model", "input"]

    def validate(self, key: str) -> None:
        _require(self.max_input_pixels is None or self.max_input_pixels >= 1, f"{key}.max_input_pixels",
                 self.max_input_pixels, "an integer >= 1, or null for no limit")


@dataclasses.dataclass(frozen=True)
class BeamSettings:
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"]
    direct_num_workers: int
    extra_args: List[str]

    def validate(self, key: str) -> None:
        _require(self.direct_num_workers >= 0, f"{key}.direct_num_workers",
                 self.direct_num_workers, "an integer >= 0 (0 = one per CPU)")

    def pipeline_args(self) -> List[str]:
        """Beam pipeline args shared by every Beam-based component."""
        return [
            f"--direct_running_mode={self.direct_running_mode}",
            f"--direct_num_workers={self.direct_num_workers}",
            *self.extra_args,
        ]


# --------------------------------------------------------------------------- #
# Profiles: where and how the same pipeline runs (local, Vertex AI, Kubeflow).
# --------------------------------------------------------------------------- #
REMOTE_RUNNERS = ("vertex", "kubeflow")


@dataclasses.dataclass(frozen=True)
class DataflowSettings:
    """Beam args for the DataflowRunner; every Beam-based component uses them."""

    temp_location: str
    machine_type: str
    max_num_workers: int
    region: Optional[str] = None          # default: the profile's region
    disk_size_gb: Optional[int] = None
    subnetwork: Optional[str] = None
    extra_args: List[str] = dataclasses.field(default_factory=list)

    def validate(self, key: str) -> None:
        _require(self.temp_location.startswith("gs://"), f"{key}.temp_location", self.temp_location,
                 "a gs:// URI (Dataflow stages and writes temporary files there)")
        _require(self.max_num_workers >= 1, f"{key}.max_num_workers", self.max_num_workers, "an integer >= 1")
        _require(self.disk_size_gb is None or self.disk_size_gb >= 10, f"{key}.disk_size_gb",
                 self.disk_size_gb, "an integer >= 10, or null for Dataflow's default")


@dataclasses.dataclass(frozen=True)
class ResourceSettings:
    """The machine one pipeline step asks for (the step's container resource spec)."""

    accelerator_type: Optional[str] = None   # e.g. NVIDIA_TESLA_T4, NVIDIA_L4, NVIDIA_TESLA_A100
    accelerator_count: int = 0
    cpu_limit: Optional[float] = None        # vCPUs
    memory_limit_gib: Optional[float] = None

    def validate(self, key: str) -> None:
        if self.accelerator_type is not None:
            _require(self.accelerator_type.replace("_", "").isalnum()
                     and self.accelerator_type == self.accelerator_type.upper(),
                     f"{key}.accelerator_type", self.accelerator_type,
                     "an accelerator name such as NVIDIA_TESLA_T4, NVIDIA_L4 or NVIDIA_TESLA_A100")
            _require(self.accelerator_count >= 1, f"{key}.accelerator_count", self.accelerator_count,
                     "an integer >= 1 when accelerator_type is set")
        else:
            _require(self.accelerator_count == 0, f"{key}.accelerator_count", self.accelerator_count,
                     "0 without an accelerator_type (name the GPU type too)")
        for name in ("cpu_limit", "memory_limit_gib"):
            value = getattr(self, name)
            _require(value is None or value > 0, f"{key}.{name}", value, "a number > 0, or null")


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """When the remote runner starts the pipeline on its own."""

    cron: str                             # five fields: minute hour day-of-month month day-of-week
    time_zone: str = "UTC"                # IANA name, e.g. Europe/Berlin
    display_name: Optional[str] = None    # default: <pipeline.name>-schedule
    max_concurrent_runs: int = 1
    max_runs: Optional[int] = None        # null: until deleted

    def validate(self, key: str) -> None:
        from pipeline import cron  # leaf module, no imports back

        try:
            cron.parse(self.cron)
        except cron.CronError as error:
            raise ConfigError(f"{key}.cron: got {self.cron!r}; {error}") from None
        try:
            cron.time_zone(self.time_zone)
        except cron.CronError as error:
            raise ConfigError(f"{key}.time_zone: {error}") from None
        _require(self.max_concurrent_runs >= 1, f"{key}.max_concurrent_runs", self.max_concurrent_runs,
                 "an integer >= 1")
        _require(self.max_runs is None or self.max_runs >= 1, f"{key}.max_runs", self.max_runs,
                 "an integer >= 1, or null for no limit")


@dataclasses.dataclass(frozen=True)
class ProfileSettings:
    """One entry of ``profiles:``: the runner and everything it needs besides the pipeline's settings."""

    runner: Literal["local", "vertex", "kubeflow"]
    project: Optional[str] = None            # vertex: GCP project
    region: Optional[str] = None             # vertex: Vertex AI / Dataflow region
    service_account: Optional[str] = None    # the identity the pipeline's steps run as
    image: Optional[str] = None              # container image every step runs in (see Dockerfile)
    kfp_host: Optional[str] = None           # kubeflow: the Kubeflow Pipelines API endpoint
    experiment: Optional[str] = None         # kubeflow: KFP experiment the runs are filed under
    dataflow: Optional[DataflowSettings] = None             # null: Beam's DirectRunner inside each step
    trainer_resources: Optional[ResourceSettings] = None    # the Trainer step's GPU, CPU and memory
    schedule: Optional[ScheduleSettings] = None

    def validate(self, key: str) -> None:
        if self.runner == "local":
            for name in ("image", "dataflow", "trainer_resources", "schedule", "kfp_host"):
                _require(getattr(self, name) is None, f"{key}.{name}", "set",
                         "nothing for the local runner (it runs here, with Beam's DirectRunner); "
                         "use a vertex or kubeflow profile")
            return
        _require(self.image is not None, f"{key}.image", None,
                 "the container image the steps run in, e.g. us-docker.pkg.dev/PROJECT/REPO/pix2pix-tfx:TAG")
        if self.runner == "vertex":
            _require(self.project is not None, f"{key}.project", None, "the GCP project id")
            _require(self.region is not None, f"{key}.region", None, "a Vertex AI region, e.g. us-central1")
        if self.dataflow is not None:
            _require(self.project is not None and (self.dataflow.region or self.region) is not None,
                     f"{key}.dataflow", "set", "project and region (in the profile or dataflow.region) "
                     "for the DataflowRunner")


DEFAULT_PROFILES = {"local": {"runner": "local"}}
PROFILE_OVERRIDES = "overrides"   # profiles.<name>.overrides: {section.key: value} applied to the config


@dataclasses.dataclass(frozen=True)
class Config:
    pipeline: PipelineSettings
    data: DataSettings
    transform: TransformSettings
    trainer: TrainerSettings
    evaluator: EvaluatorSettings
    pusher: PusherSettings
    serving: ServingSettings
    beam: BeamSettings
    source: str = ""  # the file it was loaded from, for messages
    profile_name: str = "local"
    profile: ProfileSettings = ProfileSettings(runner="local")

    def __post_init__(self) -> None:
        # Every signature of the served model has one pixel limit: an image ingestion admits must be
        # within it, or the Evaluator (which scores through the served signatures) would refuse it.
        limit = self.serving.max_input_pixels
        _require(limit is None or self.data.max_image_pixels <= limit, "data.max_image_pixels",
                 self.data.max_image_pixels, f"at most serving.max_input_pixels ({limit}): every signature of the "
                 "served model refuses larger images, the Evaluator's included; raise both together")
        # Cross-section rules between the image size and the networks.
        size, n_layers = self.transform.image_size, self.trainer.n_layers_d
        if self.trainer.generator == "unet":  # halves the image down to 1x1
            _require(_is_power_of_two(size), "transform.image_size", size,
                     "a power of two with trainer.generator: unet (or a ResNet generator)")
        if self.trainer.discriminator == "patchgan":
            # n_layers_d halvings, then two 4x4 convolutions (padding 1) each take a pixel off.
            _require(-(-size // 2 ** n_layers) - 2 >= 1, "trainer.n_layers_d", n_layers,
                     f"a PatchGAN depth that leaves a patch map at transform.image_size={size} "
                     f"(at most {max(size.bit_length() - 3, 1)})")

    def resolve(self, path: str) -> str:
        """A path from the config, relative to the config file's folder."""
        if os.path.isabs(path) or "://" in path:
            return path
        return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(self.source)), path))

    def section_dict(self, name: str) -> Dict[str, Any]:
        """One section as plain data, the form TFX passes to module code."""
        return dataclasses.asdict(getattr(self, name))


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #
def load_config(path: str, overrides: Sequence[str] = (), profile: str = "local") -> Config:
    """Reads the YAML file, applies the profile's and the ``section.key=value`` overrides, validates.

    A profile's ``overrides`` (e.g. a gs:// pipeline.root for Vertex) apply first;
    ``--set`` on the command line wins over both the file and the profile.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, got {type(raw).__name__}")
    try:
        for override in overrides:
            apply_override(raw, override)
        profile_settings = _apply_profile(raw, profile, cli_keys={o.partition("=")[0].strip() for o in overrides})
        sections = {f.name: f for f in dataclasses.fields(Config) if f.name not in _NOT_SECTIONS}
        _check_keys(raw, sections, where="top level")
        values = {name: _convert(raw[name], field.type, name) for name, field in sections.items()}
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return Config(**values, source=os.path.abspath(path), profile_name=profile, profile=profile_settings)


_NOT_SECTIONS = ("source", "profile_name", "profile")


def _apply_profile(raw: Dict[str, Any], name: str, cli_keys: set) -> ProfileSettings:
    """Takes ``profiles`` out of the raw config, applies the chosen one's overrides, returns its settings."""
    profiles = raw.pop("profiles", None) or DEFAULT_PROFILES
    if not isinstance(profiles, dict):
        raise ConfigError(f"profiles: expected a mapping of profile name -> settings, got {profiles!r}")
    if name not in profiles:
        raise ConfigError(f"--profile {name!r}: no such profile; profiles in the config: {sorted(profiles)}")
    key = f"profiles.{name}"
    chosen = profiles[name]
    if not isinstance(chosen, dict):
        raise ConfigError(f"{key}: expected a mapping, got {chosen!r}")
    chosen = dict(chosen)
    profile_overrides = chosen.pop(PROFILE_OVERRIDES, None) or {}
    if not isinstance(profile_overrides, dict):
        raise ConfigError(f"{key}.{PROFILE_OVERRIDES}: expected a mapping of section.key -> value, "
                          f"got {profile_overrides!r}")
    for dotted, value in profile_overrides.items():
        if str(dotted).split(".")[0] == "profiles" or "." not in str(dotted):
            raise ConfigError(f"{key}.{PROFILE_OVERRIDES}: {dotted!r} is not a section.key of the pipeline's "
                              "settings (e.g. pipeline.root)")
        if dotted not in cli_keys:  # --set wins
            _set_value(raw, str(dotted), value, where=f"{key}.{PROFILE_OVERRIDES}.{dotted}")
    return _convert(chosen, ProfileSettings, key)


def apply_override(raw: Dict[str, Any], override: str) -> None:
    """Sets ``a.b.c=value`` in the raw mapping; the value is parsed as YAML."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected section.key=value, e.g. trainer.epochs=1")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML: {error}") from None
    _set_value(raw, key.strip(), value, where=f"--set {override!r}")


def _set_value(raw: Dict[str, Any], dotted: str, value: Any, where: str) -> None:
    """Sets ``a.b.c`` in the raw mapping; every part but the last must be an existing section."""
    parts = dotted.split(".")
    node = raw
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: {'.'.join(parts[: depth + 1])!r} is not a section of the config")
        node = child
    node[parts[-1]] = value


def section_from_dict(cls, data: Mapping[str, Any], key: str):
    """Rebuilds (and re-validates) one section from its plain-dict form."""
    return _convert(dict(data), cls, key)


def _check_keys(raw: Mapping[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(raw) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed keys: {sorted(allowed)}")
    missing = sorted(k for k, f in allowed.items() if k not in raw and _is_required(f))
    if missing:
        raise ConfigError(f"{where}: missing key {missing[0]!r}")


def _is_required(field) -> bool:
    return (not isinstance(field, dataclasses.Field)
            or (field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING))


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """Checks ``value`` against ``annotation`` and builds dataclasses."""
    if isinstance(annotation, str):  # postponed annotations
        annotation = _resolve_annotation(annotation)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        fields = {f.name: f for f in dataclasses.fields(annotation)}
        _check_keys(value, fields, where=key)
        hints = typing.get_type_hints(annotation)
        built = annotation(**{name: _convert(value[name], hints[name], f"{key}.{name}")
                              for name in fields if name in value})
        if hasattr(built, "validate"):
            built.validate(key)
        return built
    if origin is Literal:
        if value not in args or type(value) is not type(args[0]):
            raise ConfigError(f"{key}: got {value!r}; allowed values: {list(args)}")
        return value
    if origin is typing.Union:  # Optional[X]
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key)
    if origin in (list, List):
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return [_convert(item, args[0], f"{key}[{i}]") for i, item in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    if annotation is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str) and _FLOAT_TEXT.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 2e-4 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: got {value!r}; expected a finite number (not inf or nan)")
        return float(value)
    if annotation is str:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a non-empty string, got {value!r}")
        return value
    raise TypeError(f"unsupported annotation {annotation!r} for {key}")


# A decimal number in any notation Python reads, but not the words inf/nan (refused as not finite above).
_FLOAT_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _is_plain_name(name: str) -> bool:
    """A single path component that cannot climb out of its parent folder."""
    return bool(_PLAIN_NAME.fullmatch(name)) and ".." not in name


def _resolve_annotation(text: str) -> Any:
    return eval(text, {**globals(), **vars(typing)})  # noqa: S307 - our own annotations only


def _require(condition: bool, key: str, value: Any, allowed: str) -> None:
    if not condition:
        raise ConfigError(f"{key}: got {value!r}; expected {allowed}")


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0
