"""The served model the REST and gRPC client tests share: the tiny export pushed as the test module's VERSION,
the in-process model server double around it, and the same model loaded locally (what a client must match)."""
import pytest

from serving.local_model import LocalGenerator, version_dir
from tests.support.serving_doubles import ModelServerDouble, pushed_tiny_model


@pytest.fixture(scope="module")
def model_base(transform_output_dir, tmp_path_factory, request):
    """``<serving_dir>/<model>`` holding the tiny export as version ``VERSION`` of the requesting test module."""
    return pushed_tiny_model(transform_output_dir, tmp_path_factory, request.module.VERSION)


@pytest.fixture(scope="module")
def model_server(model_base):
    return ModelServerDouble(model_base)


@pytest.fixture(scope="module")
def local(model_base):
    return LocalGenerator(version_dir(model_base))
