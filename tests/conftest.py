"""Shared test setup: legacy Keras before TensorFlow is imported, quiet logs, the session's Transform graph.

Helpers that several stages' tests use live in ``tests/support/``."""
import os

import components  # noqa: F401,E402 - components/__init__.py sets TF_USE_LEGACY_KERAS before TensorFlow loads
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tests.support.transform_graph import build_transform_graph  # noqa: E402


@pytest.fixture(scope="session")
def transform_output_dir(tmp_path_factory):
    """A real Transform graph (tft_beam on two tiny examples) at TINY_IMAGE_SIZE."""
    return build_transform_graph(str(tmp_path_factory.mktemp("transform_graph")), str(tmp_path_factory.mktemp("tft_tmp")))
