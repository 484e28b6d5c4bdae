"""gRPC: the client against an in-process PredictionService backed by the real SavedModel."""
import time

import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from components import features
from serving import client, grpc_client
from serving.errors import EndpointTimeout, EndpointUnreachable, RequestRejected, ServerFailure
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.serving_doubles import MODEL_NAME, ServingStatus, closed_port, grpc_server_double

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

VERSION = 3   # the version tests/serving/conftest.py pushes for this module
TIMEOUT_S = 0.5


@pytest.fixture
def target(model_server):
    """host:port of a fresh in-process gRPC server around the shared, loaded model."""
    with grpc_server_double(model_server.reset()) as address:
        yield address


def test_the_request_carries_the_images_as_one_string_tensor():
    sent = [images.png(seed=1), images.png(seed=2)]
    request = grpc_client.build_predict_request(sent, MODEL_NAME, version=VERSION)
    assert (request.model_spec.name, request.model_spec.signature_name) == (MODEL_NAME, features.SERVING_DEFAULT)
    assert request.model_spec.version.value == VERSION
    tensor = request.inputs[features.SERVING_INPUT_BYTES]
    assert tensor.dtype == types_pb2.DT_STRING and [dim.size for dim in tensor.tensor_shape.dim] == [2]
    assert list(tensor.string_val) == sent
    assert list(tf.make_ndarray(tensor)) == sent  # what the server makes of it
    assert not grpc_client.build_predict_request(sent, MODEL_NAME).model_spec.HasField("version")


def test_the_client_gets_what_the_model_gives_locally(target, local):
    sent = [images.png(40, 24, seed=1), images.encode(images.random_pixels(9, 13, seed=2), "JPEG"),
            images.encode(images.random_pixels(5, 30, seed=3), "BMP")]
    with grpc_client.GrpcPredictClient(target, MODEL_NAME) as stub:
        pngs = stub.predict(sent)
    assert pngs == local.translate(sent)
    assert [tuple(tf.io.decode_png(png).shape) for png in pngs] == [
        (*images.model_scale_shape(h, w, TINY_IMAGE_SIZE), 3) for h, w in ((40, 24), (9, 13), (5, 30))]


def test_a_version_that_is_not_served_is_not_found(target):
    with grpc_client.GrpcPredictClient(target, MODEL_NAME, version=VERSION) as stub:
        assert len(stub.predict([images.png()])) == 1
    with grpc_client.GrpcPredictClient(target, MODEL_NAME, version=99) as stub:
        with pytest.raises(RequestRejected) as refused:
            stub.predict([images.png()])
    assert refused.value.status == "NOT_FOUND" and not refused.value.per_image
    assert "Specific(pix2pix, 99)" in str(refused.value) and f"grpc://{target}" in str(refused.value)


@pytest.mark.parametrize("bad, message", [
    (b"nope", "image_bytes[1] is not a PNG, JPEG or BMP image"),
    (b"", "image_bytes[1] is empty"),
    (images.png(50, 50), "image_bytes[1] is 50x50 pixels (width x height) = 2500 pixels, above the limit"),
])
def test_bad_images_are_an_invalid_argument_with_the_models_words(target, bad, message):
    with grpc_client.GrpcPredictClient(target, MODEL_NAME) as stub:
        with pytest.raises(RequestRejected) as refused:
            stub.predict([images.png(), bad])
    assert refused.value.status == "INVALID_ARGUMENT" and refused.value.per_image
    assert message in refused.value.server_message
    assert "{{node" not in refused.value.server_message


def test_the_cli_over_grpc_skips_only_the_refused_image(target, local, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(images.png(20, 30, seed=1))
    (folder / "b.jpeg").write_bytes(images.encode(images.random_pixels(31, 7, seed=2), "JPEG"))
    (folder / "huge.gif").write_bytes(images.encode(images.random_pixels(60, 60, seed=3), "GIF"))
    status = client.main([str(folder), "--output", str(tmp_path / "out"), "--protocol", "grpc", "--server", target,
                          "--no-progress"])
    captured = capsys.readouterr()
    assert status == client.EXIT_SOME_FAILED
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.png", "b.png"]
    assert (tmp_path / "out" / "b.png").read_bytes() == local.translate([(folder / "b.jpeg").read_bytes()])[0]
    assert "huge.gif: refused by the server: image_bytes[0] is 60x60 pixels" in captured.err
    assert f"via grpc {target}" in captured.out


def test_nothing_listening_is_unreachable_quickly(tmp_path, capsys):
    address = f"127.0.0.1:{closed_port()}"
    started = time.monotonic()
    with grpc_client.GrpcPredictClient(address, MODEL_NAME, timeout=5) as stub:
        with pytest.raises(EndpointUnreachable, match="unavailable"):
            stub.predict([images.png()])
    assert time.monotonic() - started < 5
    (tmp_path / "a.png").write_bytes(images.png())
    assert client.main([str(tmp_path / "a.png"), "--output", str(tmp_path / "out"), "--protocol", "grpc",
                        "--server", address, "--no-progress"]) == client.EXIT_UNUSABLE
    assert f"error: grpc://{address} model pix2pix" in capsys.readouterr().err


def test_a_silent_server_is_a_timeout_within_the_deadline(target, model_server):
    model_server.stall_s = 5.0
    started = time.monotonic()
    with grpc_client.GrpcPredictClient(target, MODEL_NAME, timeout=TIMEOUT_S) as stub:
        with pytest.raises(EndpointTimeout, match=f"no answer within {TIMEOUT_S:g} s"):
            stub.predict([images.png()])
    assert time.monotonic() - started < 3.0


def test_an_internal_error_is_a_server_failure(target, model_server):
    model_server.fail_with = ServingStatus("INTERNAL", "session run failed")
    with grpc_client.GrpcPredictClient(target, MODEL_NAME) as stub:
        with pytest.raises(ServerFailure, match="INTERNAL: session run failed"):
            stub.predict([images.png()])
