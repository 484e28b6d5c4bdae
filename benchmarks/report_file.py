"""Where a benchmark's table goes: printed, and written to its results file for the docs to quote."""
from __future__ import annotations

import os
import time


def publish(text: str, output: str, started: float) -> None:
    """Writes ``text`` to ``output`` (creating its folder), prints it and the total time since ``started``."""
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        handle.write(text)
    print(text)
    print(f"(total {time.perf_counter() - started:.0f} s; written to {output})")
