"""One progress bar style for the command-line tools (on stderr, so stdout stays the summary)."""
from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, description: str, enabled: bool = True) -> tqdm:
    """A bar counting images; hidden when disabled or when stderr is not a terminal (logs, CI)."""
    return tqdm(total=total, desc=description, unit="img", file=sys.stderr, dynamic_ncols=True,
                disable=None if enabled else True)
