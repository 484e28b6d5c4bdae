"""The layering a newcomer can rely on: the ground floor (components/, data/) never imports the top (pipeline/),
and the settings loader imports nothing of the project."""
import ast
import os

import pytest
from tests.support import paths

ROOT = paths.ROOT
PROJECT_PACKAGES = ("pipeline", "components", "data", "serving", "benchmarks", "tests")


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), filename=path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module


def _python_files(package):
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        yield from (os.path.join(folder, name) for name in files if name.endswith(".py"))


@pytest.mark.parametrize("package", ["components", "data"])
def test_the_ground_floor_never_imports_the_pipeline_package(package):
    upward = {f"{os.path.relpath(path, ROOT)}: {name}" for path in _python_files(package)
              for name in _imports(path) if name == "pipeline" or name.startswith("pipeline.")}
    assert not upward


def test_the_settings_loader_is_a_leaf():
    names = set(_imports(os.path.join(ROOT, "components", "typed_settings.py")))
    assert not {name for name in names if name.split(".")[0] in PROJECT_PACKAGES}


def test_every_component_has_its_settings_beside_its_code():
    for stage in ("example_gen", "transform", "trainer", "evaluator", "pusher"):
        assert os.path.isfile(os.path.join(ROOT, "components", stage, "settings.py")), stage
