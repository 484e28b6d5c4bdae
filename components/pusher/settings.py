"""The ``pusher`` section: where blessed generators are published and which versions are kept."""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from components.typed_settings import is_plain_name, require

SECTION = "pusher"


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
        require(is_plain_name(self.model_name), f"{key}.model_name", self.model_name,
                "a plain name of letters, digits, '_', '-' and '.' that starts with a letter or digit "
                "(TF Serving's model name, a single folder under serving_dir: no '/', no '..')")
        require(self.keep_versions >= 1, f"{key}.keep_versions", self.keep_versions,
                "an integer >= 1 (the served version is always kept)")
        for index, version in enumerate(self.pinned_versions):
            require(version >= 1, f"{key}.pinned_versions[{index}]", version,
                    "a version number >= 1 (a folder name under serving_dir/model_name)")
