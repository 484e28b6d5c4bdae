"""The ``pipeline`` and ``beam`` sections: what the runners and TFX itself read, not any one component."""
from __future__ import annotations

import dataclasses
from typing import List, Literal

from components.typed_settings import require

# Beam's DirectRunner modes (--direct_running_mode).
DIRECT_RUNNING_MODES = ("in_memory", "multi_threading", "multi_processing")


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    name: str
    root: str
    metadata_path: str
    enable_cache: bool
    report_dir: str
    log_dir: str


@dataclasses.dataclass(frozen=True)
class BeamSettings:
    direct_running_mode: Literal[DIRECT_RUNNING_MODES]
    direct_num_workers: int
    extra_args: List[str]

    def validate(self, key: str) -> None:
        require(self.direct_num_workers >= 0, f"{key}.direct_num_workers",
                self.direct_num_workers, "an integer >= 0 (0 = one per CPU)")

    def pipeline_args(self) -> List[str]:
        """Beam pipeline args shared by every Beam-based component."""
        return [
            f"--direct_running_mode={self.direct_running_mode}",
            f"--direct_num_workers={self.direct_num_workers}",
            *self.extra_args,
        ]
