"""The memory allocator of a local run: jemalloc when this machine has it, else glibc's malloc.

The LocalDagRunner runs every component in one process. Beam's worker threads in ExampleGen,
StatisticsGen and Transform leave glibc's per-thread arena heaps behind, and the Trainer's own
threads then spread over them: on the 256 px scale benchmark the Trainer's peak in that process grew
1.28x from 4x to 16x the data, while the same Trainer in its own process stayed flat (0.98x).
jemalloc's arenas give memory back, and keep the in-process Trainer flat (docs/benchmarks.md#scale).

An allocator can only be chosen before the process starts, so ``python -m pipeline run`` starts
itself again with jemalloc in ``LD_PRELOAD`` (``os.execve``: same process id, same arguments).
``profiles.local.memory_allocator`` says which: ``auto`` (jemalloc when found, else glibc),
``jemalloc`` (refuse to run without it) or ``system`` (glibc's malloc, nothing preloaded).
"""
from __future__ import annotations

import dataclasses
import glob
import os
import platform
import sys
import sysconfig
from typing import Dict, List, Optional, Sequence

from components.typed_settings import ConfigError

AUTO, JEMALLOC, SYSTEM = "auto", "jemalloc", "system"
CHOICES = (AUTO, JEMALLOC, SYSTEM)
LIBRARY = "libjemalloc.so.2"
INSTALL_HINT = "Debian/Ubuntu: sudo apt-get install libjemalloc2; Fedora: sudo dnf install jemalloc"
# Set in the restarted process, so it never restarts twice, even when the preload did not take.
RESTARTED_ENV = "PIX2PIX_TFX_ALLOCATOR_RESTARTED"
LINE_PREFIX = "memory allocator:"   # how every run's line starts (the scale benchmark reads it)


def library_dirs() -> List[str]:
    """Where distributions install libjemalloc.so.2, this interpreter's architecture first."""
    # Debian's multiarch folder; a Python built without MULTIARCH (conda, some images) gets it from the machine.
    multiarch = sysconfig.get_config_var("MULTIARCH") or f"{platform.machine()}-linux-gnu"
    return [f"/usr/lib/{multiarch}", "/usr/lib64", "/usr/lib", "/usr/local/lib"]


def find_jemalloc(dirs: Optional[Sequence[str]] = None) -> Optional[str]:
    """The first libjemalloc.so.2 in ``dirs`` that is a readable regular file (a symlink to one counts)."""
    for folder in library_dirs() if dirs is None else dirs:
        for path in sorted(glob.glob(os.path.join(glob.escape(folder), LIBRARY))):
            if os.path.isfile(path) and os.access(path, os.R_OK):
                return path
    return None


def loaded_jemalloc(maps_path: str = "/proc/self/maps") -> Optional[str]:
    """The jemalloc library mapped into this process (preloaded by us or by the user), or None."""
    try:
        with open(maps_path, encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)   # address perms offset device inode [path]
                path = fields[5].strip() if len(fields) == 6 else ""
                if os.path.basename(path).startswith("libjemalloc"):
                    return path
    except OSError:
        return None
    return None


@dataclasses.dataclass(frozen=True)
class Decision:
    """What this process should do: restart with ``preload`` in LD_PRELOAD, or go on; and the log line."""

    preload: Optional[str]
    line: str


def decide(setting: Optional[str], environ: Dict[str, str], found: Optional[str], loaded: Optional[str],
           key: str = "profiles.local.memory_allocator") -> Decision:
    """Pure decision, so every case is testable without starting processes."""
    setting = setting or AUTO
    if setting not in CHOICES:
        raise ConfigError(f"{key}: got {setting!r}; expected one of {list(CHOICES)}")
    if loaded:
        return Decision(None, f"{LINE_PREFIX} jemalloc ({loaded})")
    if setting == SYSTEM:
        return Decision(None, f"{LINE_PREFIX} glibc malloc ({key}: system)")
    if environ.get(RESTARTED_ENV):
        # We did restart with LD_PRELOAD and jemalloc is still not mapped: the loader refused it.
        if setting == JEMALLOC:
            raise ConfigError(f"{key}: jemalloc; {environ.get(RESTARTED_ENV)} was preloaded but did not load "
                              f"(a library of another architecture?). {INSTALL_HINT}, or set it to auto")
        return Decision(None, f"{LINE_PREFIX} glibc malloc (preloading {environ.get(RESTARTED_ENV)} "
                              "did not take)")
    if found:
        return Decision(found, f"{LINE_PREFIX} jemalloc ({found})")
    if setting == JEMALLOC:
        raise ConfigError(f"{key}: jemalloc, but no {LIBRARY} in {library_dirs()}. {INSTALL_HINT}; "
                          "or set it to auto (jemalloc when present, else glibc malloc)")
    return Decision(None, f"{LINE_PREFIX} glibc malloc (no {LIBRARY} found; with it the Trainer's "
                          f"memory stays flatter as data grows: {INSTALL_HINT})")


def restart_environment(environ: Dict[str, str], library: str) -> Dict[str, str]:
    """The environment to start again with: jemalloc first in LD_PRELOAD, anything already there kept."""
    env = dict(environ)
    env["LD_PRELOAD"] = ":".join(part for part in (library, environ.get("LD_PRELOAD", "")) if part)
    env[RESTARTED_ENV] = library
    return env


def apply(setting: Optional[str], argv: Sequence[str]) -> str:
    """Restarts this process with jemalloc when the setting asks for it and it is not loaded yet.

    Returns the log line when the process goes on. ``argv`` is the whole command line to start again
    (``[sys.executable, "-m", "pipeline", ...]``); only a process started as a program may do this.
    """
    if not sys.platform.startswith("linux"):
        if setting == JEMALLOC:
            raise ConfigError(f"profiles.local.memory_allocator: jemalloc is preloaded on Linux only; "
                              f"this is {sys.platform}: use auto or system")
        return f"{LINE_PREFIX} the system's (jemalloc preloading is Linux only)"
    decision = decide(setting, dict(os.environ), find_jemalloc(), loaded_jemalloc())
    if decision.preload is None:
        return decision.line
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], list(argv), restart_environment(dict(os.environ), decision.preload))
    raise AssertionError("os.execve returned")   # pragma: no cover - execve does not return
