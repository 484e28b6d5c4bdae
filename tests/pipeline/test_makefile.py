"""Setup: a clear message and a non-zero exit when Python 3.10 is missing."""
import os
import shutil
import subprocess
from tests.support import paths

ROOT = paths.ROOT


def test_missing_python310_is_reported_clearly(tmp_path):
    for name in ("Makefile", "requirements.lock"):
        shutil.copy(os.path.join(ROOT, name), tmp_path / name)
    result = subprocess.run(["make", "setup", "PYTHON=python3.10-does-not-exist"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Python 3.10" in result.stderr and "is required" in result.stderr
    assert not (tmp_path / ".venv").exists()


def test_setup_is_skipped_when_the_lock_is_installed():
    result = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "pip install" not in result.stdout        # the venv stamp is newer than the lock
    assert "-m pipeline run --config pipeline_config.yaml" in result.stdout


def test_compile_vertex_writes_the_documented_file():
    result = subprocess.run(["make", "-n", "compile-vertex"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "-m pipeline compile --config pipeline_config.yaml --profile vertex --output build/pix2pix_pipeline.json" \
        in result.stdout


def test_demo_serves_the_newest_pushed_model():
    result = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "-m serving.demo" in result.stdout
