"""Deployment profiles: where and how the same pipeline runs (local, Vertex AI, Kubeflow).

A profile is the runner and what it needs besides the pipeline's own settings
(project, image, Dataflow, the Trainer's machine, a schedule), plus
``overrides`` of pipeline settings (e.g. a gs:// pipeline.root). It never holds
a component's settings: those stay in their sections.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Literal, Optional

from components.typed_settings import ConfigError, build, require, set_value
from pipeline import cron, memory_allocator

LOCAL_RUNNER = "local"
REMOTE_RUNNERS = ("vertex", "kubeflow")
RUNNERS = (LOCAL_RUNNER, *REMOTE_RUNNERS)


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
        require(self.temp_location.startswith("gs://"), f"{key}.temp_location", self.temp_location,
                 "a gs:// URI (Dataflow stages and writes temporary files there)")
        require(self.max_num_workers >= 1, f"{key}.max_num_workers", self.max_num_workers, "an integer >= 1")
        require(self.disk_size_gb is None or self.disk_size_gb >= 10, f"{key}.disk_size_gb",
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
            require(self.accelerator_type.replace("_", "").isalnum()
                     and self.accelerator_type == self.accelerator_type.upper(),
                     f"{key}.accelerator_type", self.accelerator_type,
                     "an accelerator name such as NVIDIA_TESLA_T4, NVIDIA_L4 or NVIDIA_TESLA_A100")
            require(self.accelerator_count >= 1, f"{key}.accelerator_count", self.accelerator_count,
                     "an integer >= 1 when accelerator_type is set")
        else:
            require(self.accelerator_count == 0, f"{key}.accelerator_count", self.accelerator_count,
                     "0 without an accelerator_type (name the GPU type too)")
        for name in ("cpu_limit", "memory_limit_gib"):
            value = getattr(self, name)
            require(value is None or value > 0, f"{key}.{name}", value, "a number > 0, or null")


@dataclasses.dataclass(frozen=True)
class ScheduleSettings:
    """When the remote runner starts the pipeline on its own."""

    cron: str                             # five fields: minute hour day-of-month month day-of-week
    time_zone: str = "UTC"                # IANA name, e.g. Europe/Berlin
    display_name: Optional[str] = None    # default: <pipeline.name>-schedule
    max_concurrent_runs: int = 1
    max_runs: Optional[int] = None        # null: until deleted

    def validate(self, key: str) -> None:
        try:
            cron.parse(self.cron)
        except cron.CronError as error:
            raise ConfigError(f"{key}.cron: got {self.cron!r}; {error}") from None
        try:
            cron.time_zone(self.time_zone)
        except cron.CronError as error:
            raise ConfigError(f"{key}.time_zone: {error}") from None
        require(self.max_concurrent_runs >= 1, f"{key}.max_concurrent_runs", self.max_concurrent_runs,
                 "an integer >= 1")
        require(self.max_runs is None or self.max_runs >= 1, f"{key}.max_runs", self.max_runs,
                 "an integer >= 1, or null for no limit")


@dataclasses.dataclass(frozen=True)
class ProfileSettings:
    """One entry of ``profiles:``: the runner and everything it needs besides the pipeline's settings."""

    runner: Literal[RUNNERS]
    project: Optional[str] = None            # vertex: GCP project
    region: Optional[str] = None             # vertex: Vertex AI / Dataflow region
    service_account: Optional[str] = None    # the identity the pipeline's steps run as
    image: Optional[str] = None              # container image every step runs in (see Dockerfile)
    kfp_host: Optional[str] = None           # kubeflow: the Kubeflow Pipelines API endpoint
    experiment: Optional[str] = None         # kubeflow: KFP experiment the runs are filed under
    dataflow: Optional[DataflowSettings] = None             # null: Beam's DirectRunner inside each step
    trainer_resources: Optional[ResourceSettings] = None    # the Trainer step's GPU, CPU and memory
    schedule: Optional[ScheduleSettings] = None
    # local: glibc malloc or jemalloc for the one process that runs every component (auto: jemalloc if found)
    memory_allocator: Optional[Literal[memory_allocator.CHOICES]] = None

    def validate(self, key: str) -> None:
        if self.runner == LOCAL_RUNNER:
            for name in ("image", "dataflow", "trainer_resources", "schedule", "kfp_host"):
                require(getattr(self, name) is None, f"{key}.{name}", "set",
                         "nothing for the local runner (it runs here, with Beam's DirectRunner); "
                         "use a vertex or kubeflow profile")
            return
        require(self.memory_allocator is None, f"{key}.memory_allocator", self.memory_allocator,
                 "nothing for a remote runner: each step runs in its own process in the image (see Dockerfile)")
        require(self.image is not None, f"{key}.image", None,
                 "the container image the steps run in, e.g. us-docker.pkg.dev/PROJECT/REPO/pix2pix-tfx:TAG")
        if self.runner == "vertex":
            require(self.project is not None, f"{key}.project", None, "the GCP project id")
            require(self.region is not None, f"{key}.region", None, "a Vertex AI region, e.g. us-central1")
        if self.dataflow is not None:
            require(self.project is not None and (self.dataflow.region or self.region) is not None,
                     f"{key}.dataflow", "set", "project and region (in the profile or dataflow.region) "
                     "for the DataflowRunner")


DEFAULT_PROFILES = {LOCAL_RUNNER: {"runner": LOCAL_RUNNER}}
PROFILE_OVERRIDES = "overrides"   # profiles.<name>.overrides: {section.key: value} applied to the config
# Continuous training: a profile with a schedule starts each run's generator from the last blessed one,
# unless its overrides (or --set) say otherwise.
SCHEDULED_DEFAULTS = {"trainer.warm_start": True}


def apply_profile(raw: Dict[str, Any], name: str, cli_keys: set) -> ProfileSettings:
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
            set_value(raw, str(dotted), value, where=f"{key}.{PROFILE_OVERRIDES}.{dotted}")
    if chosen.get("schedule"):
        for dotted, value in SCHEDULED_DEFAULTS.items():
            if dotted not in profile_overrides and dotted not in cli_keys:
                set_value(raw, dotted, value, where=f"{key} (a scheduled profile's default)")
    return build(ProfileSettings, chosen, key)
