"""The pipeline's container image is built from the same lock, with the project's code importable.

No Docker engine here: the Dockerfile is checked against the lock and the
code layout it must ship (a version drift or a missing package fails here,
not in a pipeline step on Vertex AI).
"""
import os
import re
from tests.support import paths

ROOT = paths.ROOT
DOCKERFILE = open(os.path.join(ROOT, "Dockerfile")).read()
DOCKERIGNORE = open(os.path.join(ROOT, ".dockerignore")).read().split()


def _lock():
    pins = {}
    for line in open(os.path.join(ROOT, "requirements.lock")):
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[name.lower()] = version
    return pins


def _arg(name):
    return re.search(rf"^ARG {name}=(\S+)$", DOCKERFILE, re.M).group(1)


def test_the_base_image_is_the_official_tfx_image_of_the_locked_version():
    assert _arg("TFX_VERSION") == _lock()["tfx"]
    assert re.search(r"^FROM tensorflow/tfx:\$\{TFX_VERSION\}$", DOCKERFILE, re.M)


def test_the_beam_worker_boot_matches_the_locked_beam():
    assert _arg("BEAM_VERSION") == _lock()["apache-beam"]
    assert "FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION} AS beam-sdk" in DOCKERFILE
    assert "COPY --from=beam-sdk /opt/apache/beam /opt/apache/beam" in DOCKERFILE
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in DOCKERFILE


def test_the_python_version_is_the_projects():
    assert _arg("PYTHON_VERSION") == open(os.path.join(ROOT, ".python-version")).read().strip()


def test_dependencies_come_from_the_lock_with_legacy_keras():
    assert "COPY requirements.lock ./" in DOCKERFILE
    assert "pip install --no-cache-dir -r requirements.lock" in DOCKERFILE
    assert "TF_USE_LEGACY_KERAS=1" in DOCKERFILE
    assert "PYTHONPATH=/pix2pix" in DOCKERFILE and "WORKDIR /pix2pix" in DOCKERFILE


def test_every_code_package_the_steps_import_is_copied():
    packages = sorted(name for name in os.listdir(ROOT)
                      if os.path.isfile(os.path.join(ROOT, name, "__init__.py")) and name not in ("tests", "benchmarks"))
    assert packages == ["components", "data", "pipeline", "serving"]
    for package in packages:
        assert f"COPY {package}/ {package}/" in DOCKERFILE
    assert "COPY pipeline_config.yaml ./" in DOCKERFILE


def test_the_build_context_leaves_out_the_venv_and_outputs():
    for entry in (".venv", "build", "serving_model", ".git", "tests"):
        assert entry in DOCKERIGNORE
