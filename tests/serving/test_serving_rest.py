"""REST: the request body TF Serving receives, decoded by its JSON rules, and the client against a server double."""
import base64
import json
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from components import features
from serving import client, rest_client
from serving.errors import (EndpointTimeout, EndpointUnreachable, RequestRejected, ServerFailure,
                            UnexpectedResponse)
from tests.support import images
from tests.support.transform_graph import TINY_IMAGE_SIZE
from tests.support.serving_doubles import (MODEL_NAME, ServingStatus, closed_port, decode_rest_predict_request,
                                           encode_rest_predict_response, rest_server_double, rest_signature_name)

pytestmark = pytest.mark.slow  # exports models, starts processes or trains: seconds per test

VERSION = 7   # the version tests/serving/conftest.py pushes for this module
TIMEOUT_S = 0.5


@pytest.fixture
def rest(model_server):
    """A fresh loopback server around the (shared, already loaded) model; yields its base URL."""
    with rest_server_double(model_server.reset()) as url:
        yield url


def _png_shape(data: bytes):
    return tf.io.decode_png(data).numpy().shape


def _inputs_folder(root):
    folder = root / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(images.png(40, 24, seed=1))
    (folder / "b.jpg").write_bytes(images.encode(images.random_pixels(9, 13, seed=2), "JPEG"))
    (folder / "c.bmp").write_bytes(images.encode(images.random_pixels(20, 20, seed=3), "BMP"))
    return folder


# --- the body as TF Serving receives it -----------------------------------------------------------------------
def test_the_client_body_decodes_by_tf_serving_rules_into_the_signature_input(model_server):
    sent = [images.png(20, 30, seed=1), images.encode(images.random_pixels(9, 13, seed=2), "JPEG")]
    body = rest_client.build_predict_body(sent)
    assert json.loads(body) == {"instances": [{"b64": base64.b64encode(data).decode()} for data in sent]}
    signature = rest_signature_name(body)
    inputs = decode_rest_predict_request(body, model_server.input_dtypes(MODEL_NAME, None, signature))
    assert list(inputs) == [features.SERVING_INPUT_BYTES] and inputs[features.SERVING_INPUT_BYTES].shape == (2,)
    assert list(inputs[features.SERVING_INPUT_BYTES]) == sent
    _, outputs = model_server.predict(MODEL_NAME, None, signature, inputs)
    response = json.loads(encode_rest_predict_response(outputs))
    assert [set(item) for item in response["predictions"]] == [{"b64"}, {"b64"}]  # "_bytes" output -> base64
    for item, encoded in zip(response["predictions"], sent):
        height, width = tf.io.decode_image(encoded).shape[:2]
        assert _png_shape(base64.b64decode(item["b64"])) == (*images.model_scale_shape(height, width, TINY_IMAGE_SIZE), 3)


def test_the_readme_curl_body_and_a_named_columnar_body_are_the_same_request(model_server):
    encoded = images.png(12, 12, seed=4)
    b64 = base64.b64encode(encoded).decode()
    dtypes = model_server.input_dtypes(MODEL_NAME, None, features.SERVING_DEFAULT)
    bodies = [f'{{"instances": [{{"b64": "{b64}"}}]}}',                                   # docs/serving.md's curl
              f'{{"instances": [{{"{features.SERVING_INPUT_BYTES}": {{"b64": "{b64}"}}}}]}}',  # named row
              f'{{"inputs": {{"{features.SERVING_INPUT_BYTES}": [{{"b64": "{b64}"}}]}}}}']     # columnar
    for body in bodies:
        assert list(decode_rest_predict_request(body.encode(), dtypes)[features.SERVING_INPUT_BYTES]) == [encoded]


@pytest.mark.parametrize("body, message", [
    (b'{"instances": []}', "No values in 'instances' array"),
    (b'{"instances": [{"b64": "!!!"}]}', "Unable to base64 decode"),
    (b'{"instances": [{"b64": "AAAA", "extra": 1}]}', "Failed to process element: 0"),
    (b'{"instances": [{"b64": "AAAA"}], "inputs": []}', "expecting only one of 'inputs' or 'instances'"),
    (b'{"signature": "x"}', "Missing 'inputs' or 'instances' key"),
    (b'[1, 2]', "Is not object"),
    (b'{"instances": [["AAAA"], "AAAA"]}', "Encountered list at unexpected size"),
])
def test_the_double_refuses_what_tf_serving_refuses(model_server, body, message):
    dtypes = model_server.input_dtypes(MODEL_NAME, None, features.SERVING_DEFAULT)
    with pytest.raises(ServingStatus, match=message) as refused:
        decode_rest_predict_request(body, dtypes)
    assert refused.value.code == "INVALID_ARGUMENT"


def test_a_plain_json_string_is_text_not_base64_and_the_model_refuses_it(rest):
    body = b'{"instances": ["iVBORw0KGgo="]}'  # base64 of a PNG signature, sent without {"b64": ...}
    request = rest_client.urllib.request.Request(rest_client.predict_url(rest, MODEL_NAME), data=body, method="POST")
    with pytest.raises(rest_client.urllib.error.HTTPError) as refused:
        rest_client.urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert "image_bytes[0] is not a PNG, JPEG or BMP image" in json.loads(refused.value.read())["error"]


# --- the client ------------------------------------------------------------------------------------------------
def test_predict_url_follows_tf_serving_paths():
    assert rest_client.predict_url("http://h:8501/", "pix2pix") == "http://h:8501/v1/models/pix2pix:predict"
    assert rest_client.predict_url("h:8501", "m", 3) == "http://h:8501/v1/models/m/versions/3:predict"


def test_the_client_gets_what_the_model_gives_locally(rest, local):
    sent = [images.png(40, 24, seed=1), images.encode(images.random_pixels(9, 13, seed=2), "JPEG")]
    pngs = rest_client.RestPredictClient(rest, MODEL_NAME).predict(sent)
    assert pngs == local.translate(sent)
    assert [_png_shape(png) for png in pngs] == [(*images.model_scale_shape(h, w, TINY_IMAGE_SIZE), 3)
                                                 for h, w in ((40, 24), (9, 13))]


def test_a_version_that_is_served_works_and_one_that_is_not_is_a_404(rest):
    assert len(rest_client.RestPredictClient(rest, MODEL_NAME, version=VERSION).predict([images.png()])) == 1
    with pytest.raises(RequestRejected) as refused:
        rest_client.RestPredictClient(rest, MODEL_NAME, version=99).predict([images.png()])
    assert refused.value.status == "HTTP 404" and not refused.value.per_image
    assert "Servable not found for request: Specific(pix2pix, 99)" in str(refused.value)
    assert "/v1/models/pix2pix/versions/99:predict" in str(refused.value)


def test_an_unknown_signature_is_refused_with_the_server_text(rest):
    with pytest.raises(RequestRejected, match='Serving signature key "nope" not found'):
        rest_client.RestPredictClient(rest, MODEL_NAME, signature="nope").predict([images.png()])


def test_the_cli_translates_a_folder(rest, local, tmp_path, capsys):
    folder = _inputs_folder(tmp_path)
    status = client.main([str(folder), "--output", str(tmp_path / "out"), "--server", rest, "--batch-size", "2",
                          "--no-progress"])
    assert status == client.EXIT_OK, capsys.readouterr().err
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]
    for name, source in [("a.png", "a.png"), ("b.png", "b.jpg"), ("c.png", "c.bmp")]:
        assert (tmp_path / "out" / name).read_bytes() == local.translate([(folder / source).read_bytes()])[0]
    assert "translated 3 image(s) via rest" in capsys.readouterr().out


def test_an_image_the_server_refuses_is_skipped_with_its_error_and_the_rest_is_written(
        rest, model_server, tmp_path, capsys):
    folder = _inputs_folder(tmp_path)
    (folder / "huge.png").write_bytes(images.png(50, 50, seed=9))  # above the model's pixel limit
    status = client.main([str(folder), "--output", str(tmp_path / "out"), "--server", rest, "--no-progress"])
    err = capsys.readouterr().err
    assert status == client.EXIT_SOME_FAILED
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["a.png", "b.png", "c.png"]
    assert "huge.png: refused by the server: image_bytes[0] is 50x50 pixels" in err
    assert model_server.requests == 1 + 4  # the batch of 4, then each image alone


def test_a_file_that_is_not_an_image_is_never_sent(rest, model_server, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "notes.png").write_bytes(b"these are notes, not pixels")
    (folder / "empty.jpg").write_bytes(b"")
    status = client.main([str(folder), "--output", str(tmp_path / "out"), "--server", rest, "--no-progress"])
    err = capsys.readouterr().err
    assert status == client.EXIT_SOME_FAILED and model_server.requests == 0
    assert "notes.png: not a PNG/JPEG/BMP/GIF image" in err and "empty.jpg: empty file" in err


def test_connection_refused_names_the_endpoint(tmp_path, capsys):
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(EndpointUnreachable, match="connection refused"):
        rest_client.RestPredictClient(url, MODEL_NAME, timeout=5).predict([images.png()])
    (tmp_path / "a.png").write_bytes(images.png())
    status = client.main([str(tmp_path / "a.png"), "--output", str(tmp_path / "out"), "--server", url,
                          "--no-progress"])
    assert status == client.EXIT_UNUSABLE
    assert f"error: {url}/v1/models/pix2pix:predict: connection refused" in capsys.readouterr().err


def test_a_silent_server_is_a_timeout_within_the_limit(rest, model_server):
    model_server.stall_s = 5.0
    started = time.monotonic()
    with pytest.raises(EndpointTimeout, match=f"no answer within {TIMEOUT_S:g} s"):
        rest_client.RestPredictClient(rest, MODEL_NAME, timeout=TIMEOUT_S).predict([images.png()])
    assert time.monotonic() - started < 3.0


def test_a_server_error_is_a_server_failure_with_its_text(rest, model_server, tmp_path, capsys):
    model_server.fail_with = ServingStatus("INTERNAL", "out of memory while batching")
    with pytest.raises(ServerFailure, match="HTTP 500: out of memory while batching"):
        rest_client.RestPredictClient(rest, MODEL_NAME).predict([images.png()])
    (tmp_path / "a.png").write_bytes(images.png())
    assert client.main([str(tmp_path / "a.png"), "--output", str(tmp_path / "out"), "--server", rest,
                        "--no-progress"]) == client.EXIT_UNUSABLE
    assert "out of memory while batching" in capsys.readouterr().err


@pytest.mark.parametrize("payload, message", [
    (b'{"outputs": []}', "expected {\"predictions\""),
    (b'{"predictions": [{"b64": "AAAA"}, {"b64": "AAAA"}]}', "sent 1 image(s), got 2 prediction(s)"),
    (b'{"predictions": [[1, 2, 3]]}', "expected {\"predictions\""),
    (b"<html>proxy</html>", "expected {\"predictions\""),
])
def test_a_response_that_is_not_the_contract_is_reported(payload, message):
    with pytest.raises(UnexpectedResponse, match=message.replace("(", r"\(").replace(")", r"\)")):
        rest_client.parse_predict_response(payload, 1, "http://x")


def test_a_multi_output_response_is_read_by_output_name():
    png = images.png()
    outputs = {features.SERVING_OUTPUT_BYTES: np.array([png], dtype=object), "score": np.array([0.5])}
    assert rest_client.parse_predict_response(encode_rest_predict_response(outputs), 1, "http://x") == [png]


def test_the_stochastic_signature_over_rest_takes_a_seed_in_the_columnar_format(rest, model_base):
    """serving_stochastic's seed is a scalar: the client sends {"inputs": {...}} and reads {"outputs": [...]}."""
    sent = [images.png(20, 12, seed=4)]
    body = json.loads(rest_client.build_predict_body(sent, features.SERVING_STOCHASTIC, seed=5))
    assert body["signature_name"] == features.SERVING_STOCHASTIC and body["inputs"][features.SERVING_SEED] == 5
    client = rest_client.RestPredictClient(rest, MODEL_NAME, signature=features.SERVING_STOCHASTIC)
    first, again, other = client.predict(sent, seed=5), client.predict(sent, seed=5), client.predict(sent, seed=6)
    model = tf.saved_model.load(os.path.join(model_base, str(VERSION)))
    local = model.signatures[features.SERVING_STOCHASTIC](image_bytes=tf.constant(sent),
                                                         seed=tf.constant(5, tf.int64))
    assert first == again == [local[features.SERVING_OUTPUT_BYTES].numpy()[0]]
    assert other != first
