"""profiles.local.memory_allocator: a local run restarts itself with jemalloc when asked and able."""
import os
import subprocess
import sys

import pytest

from components.typed_settings import ConfigError
from pipeline import memory_allocator
from pipeline.config import load_config
from tests.support import paths

FOUND = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"


def _library(folder, name=memory_allocator.LIBRARY):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"\x7fELF")
    return path


def test_the_library_is_found_in_the_first_folder_that_has_it(tmp_path):
    _library(tmp_path / "second")
    first = _library(tmp_path / "first")
    assert memory_allocator.find_jemalloc([str(tmp_path / "empty"), str(tmp_path / "first"),
                                           str(tmp_path / "second")]) == str(first)


def test_a_dangling_link_or_a_folder_of_that_name_is_not_a_library(tmp_path):
    (tmp_path / "links").mkdir()
    os.symlink(tmp_path / "gone", tmp_path / "links" / memory_allocator.LIBRARY)
    (tmp_path / "folder" / memory_allocator.LIBRARY).mkdir(parents=True)
    assert memory_allocator.find_jemalloc([str(tmp_path / "links"), str(tmp_path / "folder")]) is None


def test_a_link_to_a_library_counts(tmp_path):
    target = _library(tmp_path / "real", "libjemalloc.so.2.5")
    (tmp_path / "lib").mkdir()
    os.symlink(target, tmp_path / "lib" / memory_allocator.LIBRARY)
    assert memory_allocator.find_jemalloc([str(tmp_path / "lib")]) == str(tmp_path / "lib" / memory_allocator.LIBRARY)


def test_the_loaded_library_is_read_from_the_process_maps(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f01 r--p 00000000 00:00 0 \n"
                    "7f01-7f02 rw-p 00000000 00:00 0                          [heap]\n"
                    f"7f02-7f03 r-xp 00001000 08:01 1234                       {FOUND}\n")
    assert memory_allocator.loaded_jemalloc(str(maps)) == FOUND
    maps.write_text("7f01-7f02 rw-p 00000000 00:00 0 [heap]\n7f00-7f01 r--p 00000000 00:00 0\n")
    assert memory_allocator.loaded_jemalloc(str(maps)) is None
    assert memory_allocator.loaded_jemalloc(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("setting, environ, found, loaded, preload, says", [
    ("auto", {}, FOUND, None, FOUND, "jemalloc"),
    (None, {}, FOUND, None, FOUND, "jemalloc"),                        # unset is auto
    ("jemalloc", {}, FOUND, None, FOUND, "jemalloc"),
    ("auto", {}, None, None, None, "apt-get install libjemalloc2"),    # not found: glibc, and how to get it
    ("system", {}, FOUND, None, None, "glibc malloc (profiles.local.memory_allocator: system)"),
    ("auto", {}, FOUND, FOUND, None, f"jemalloc ({FOUND})"),           # already loaded (by us or the user)
    ("system", {}, None, FOUND, None, "jemalloc"),                      # preloaded by the user: say so
    ("auto", {memory_allocator.RESTARTED_ENV: FOUND}, FOUND, None, None, "did not take"),   # never twice
])
def test_the_decision_for_every_case(setting, environ, found, loaded, preload, says):
    decision = memory_allocator.decide(setting, environ, found, loaded)
    assert decision.preload == preload and says in decision.line, decision


@pytest.mark.parametrize("environ, found, message", [
    ({}, None, "no libjemalloc.so.2 in"),
    ({memory_allocator.RESTARTED_ENV: FOUND}, FOUND, "was preloaded but did not load"),
])
def test_jemalloc_required_but_unavailable_is_a_config_error(environ, found, message):
    with pytest.raises(ConfigError, match=message) as error:
        memory_allocator.decide("jemalloc", environ, found, None)
    assert "profiles.local.memory_allocator" in str(error.value)


def test_the_restart_puts_jemalloc_first_and_keeps_what_was_preloaded():
    env = memory_allocator.restart_environment({"LD_PRELOAD": "/opt/libother.so", "HOME": "/h"}, FOUND)
    assert env["LD_PRELOAD"] == f"{FOUND}:/opt/libother.so" and env["HOME"] == "/h"
    assert env[memory_allocator.RESTARTED_ENV] == FOUND
    assert memory_allocator.restart_environment({}, FOUND)["LD_PRELOAD"] == FOUND


@pytest.mark.parametrize("setting, message", [
    ("profiles.local.memory_allocator=jemaloc", "profiles.local.memory_allocator: got 'jemaloc'; allowed values"),
    ("profiles.vertex.memory_allocator=auto", "nothing for a remote runner"),
])
def test_the_setting_is_checked_with_the_config(setting, message):
    profile = setting.split(".")[1]
    with pytest.raises(ConfigError, match=message):
        load_config(paths.DEFAULT_CONFIG, [setting], profile=profile)


def test_the_default_config_asks_for_auto():
    assert load_config(paths.DEFAULT_CONFIG, []).profile.memory_allocator == "auto"


def _run(env=None, setting="auto"):
    """A real process that applies ``setting`` and says what it ended up with (after a restart, if any)."""
    script = ("import sys\nfrom pipeline import memory_allocator as m\n"
              f"line = m.apply({setting!r}, [sys.executable, '-c', sys.argv[1], sys.argv[1]])\n"
              "print('LINE', line)\nprint('LOADED', m.loaded_jemalloc())\n")
    return subprocess.run([sys.executable, "-c", script, script], cwd=paths.ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


@pytest.mark.skipif(memory_allocator.find_jemalloc() is None, reason="no libjemalloc.so.2 on this machine")
def test_a_process_restarts_itself_with_jemalloc_when_this_machine_has_it():
    result = _run()
    assert result.returncode == 0, result.stderr
    assert "LOADED /" in result.stdout and "libjemalloc" in result.stdout, result.stdout
    assert "LINE memory allocator: jemalloc" in result.stdout


def test_system_means_no_restart_and_nothing_preloaded():
    result = _run(setting="system")
    assert result.returncode == 0, result.stderr
    assert "LINE memory allocator: glibc malloc" in result.stdout and "LOADED None" in result.stdout


def test_a_preload_the_loader_refused_does_not_loop(tmp_path):
    bogus = str(tmp_path / memory_allocator.LIBRARY)
    open(bogus, "wb").close()   # not an ELF file: the loader says so and goes on without it
    result = _run(env={"LD_PRELOAD": bogus, memory_allocator.RESTARTED_ENV: bogus})
    assert result.returncode == 0, result.stderr
    assert "did not take" in result.stdout and "LOADED None" in result.stdout
