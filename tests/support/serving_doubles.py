"""Test doubles of TensorFlow Serving, backed by the real exported SavedModel (tests only).

No TF Serving binary can run here, so these stand in for it, following what
TF Serving 2.16 does (tensorflow_serving/util/json_tensor.cc for JSON,
model_servers/http_server.cc for HTTP statuses):

* ``decode_rest_predict_request``: the JSON body -> named input arrays, by the
  documented rules: row format ``{"instances": [...]}`` (or columnar
  ``{"inputs": ...}``); with one signature input each instance *is* that
  input's value; ``{"b64": "..."}`` (an object with exactly that one string
  key) is base64-decoded for DT_STRING inputs; every instance must have the
  same shape.
* ``encode_rest_predict_response``: output arrays -> ``{"predictions": [...]}``;
  one output -> each prediction is its value; DT_STRING outputs whose name ends
  in ``_bytes`` become ``{"b64": ...}``.
* ``RestServerDouble``: ``POST /v1/models/<name>[/versions/<v>]:predict`` on a
  loopback ``http.server``; errors as ``{"error": "..."}`` with TF Serving's
  status mapping (INVALID_ARGUMENT 400, NOT_FOUND 404).
* ``PredictionServiceDouble``: a ``PredictionServiceServicer`` for an
  in-process ``grpc.server``.
Both can be told to stall (bounded) to test client timeouts.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
import json
import pathlib
import re
import shutil
import socket
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from components import features
from components.trainer import export, networks
from tests.support.transform_graph import TINY_IMAGE_SIZE

MODEL_NAME = "pix2pix"
# Small enough that a 50x50 test image is refused, large enough for the other test images.
TEST_PIXEL_LIMIT = 48 * 48
BYTES_SUFFIX = "_bytes"
PREDICT_PATH = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?:predict$")
STALL_LIMIT_S = 10.0
STACK_TRACES_MARKER = "<stack traces unavailable>\n"  # a stalled double never holds a test longer than this

_EXPORTS: Dict[Tuple, Tuple[str, tf.keras.Model]] = {}


def exported_model(transform_output_dir: str, tmp_path_factory, seed: int = 0,
                   max_input_pixels: Optional[int] = TEST_PIXEL_LIMIT,
                   output_size: str = export.OUTPUT_SIZE_MODEL) -> Tuple[str, tf.keras.Model]:
    """A tiny real export (16x16 U-Net, ngf 4) and its generator; built once per session and settings."""
    key = (transform_output_dir, seed, max_input_pixels, output_size)
    if key not in _EXPORTS:
        tf.keras.utils.set_random_seed(seed)
        generator = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
        export_dir = str(tmp_path_factory.mktemp("export") / "model")
        export.export_generator(generator, tft.TFTransformOutput(transform_output_dir), export_dir,
                                max_input_pixels=max_input_pixels, output_size=output_size)
        _EXPORTS[key] = (export_dir, generator)
    return _EXPORTS[key]


def pushed_tiny_model(transform_output_dir: str, tmp_path_factory, version: int) -> str:
    """The tiny export pushed as ``<base>/pix2pix/<version>/``; returns the model base."""
    export_dir, _ = exported_model(transform_output_dir, tmp_path_factory)
    return pushed_layout(tmp_path_factory.mktemp("serving_model"), {version: export_dir})


def pushed_layout(base_dir, versions: Dict[int, str]) -> str:
    """``base_dir/pix2pix/<version>/`` as the Pusher writes it, from export folders; returns the model base."""
    model_base = base_dir / MODEL_NAME
    for version, export_dir in versions.items():
        shutil.copytree(export_dir, model_base / str(version))
    return str(model_base)


class ServingStatus(Exception):
    """A TF Serving status: ``code`` is a grpc.StatusCode name, ``message`` its text."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404, "INTERNAL": 500,
               "UNAVAILABLE": 503}


def kernel_message(python_message: str) -> str:
    """The status text TF Serving's C++ Session::Run returns, from Python's eager error text.

    Python adds a "Graph execution error: ... Detected at node ..." preamble and an
    "[Op:...]" suffix; the server's status carries the kernel message and its node.
    """
    text = python_message.split(STACK_TRACES_MARKER, 1)[-1]
    return re.sub(r"\s*\[Op:[^\]]*\]\s*$", "", text).strip()


class ModelServerDouble:
    """The servables TF Serving would hold: one model name, versions loaded from a TF Serving model base."""

    def __init__(self, model_base: str, name: str = MODEL_NAME, stall_s: float = 0.0,
                 fail_with: Optional[ServingStatus] = None):
        self.name = name
        self.stall_s = stall_s
        self.fail_with = fail_with  # every request fails with this status (a broken server)
        self.stop = threading.Event()  # set on teardown: a stalled request ends at once
        self.requests = 0
        self._models = {int(folder.name): tf.saved_model.load(str(folder))
                        for folder in pathlib.Path(model_base).iterdir() if folder.name.isdigit()}

    def reset(self) -> "ModelServerDouble":
        """Healthy and idle again: what each test starts from when the loaded model is shared."""
        self.stall_s, self.fail_with, self.requests = 0.0, None, 0
        self.stop.clear()
        return self

    def signature(self, name: str, version: Optional[int], signature_name: str):
        if name != self.name:
            raise ServingStatus("NOT_FOUND", f"Servable not found for request: Latest({name})")
        version = max(self._models) if version is None else version
        if version not in self._models:
            raise ServingStatus("NOT_FOUND", f"Servable not found for request: Specific({name}, {version})")
        signatures = self._models[version].signatures
        if signature_name not in signatures:
            raise ServingStatus("FAILED_PRECONDITION", f'Serving signature key "{signature_name}" not found.')
        return version, signatures[signature_name]

    def input_dtypes(self, name: str, version: Optional[int], signature_name: str) -> Dict[str, tf.DType]:
        _, signature = self.signature(name, version, signature_name)
        return {key: spec.dtype for key, spec in signature.structured_input_signature[1].items()}

    def predict(self, name: str, version: Optional[int], signature_name: str,
                inputs: Dict[str, np.ndarray]) -> Tuple[int, Dict[str, np.ndarray]]:
        self.requests += 1
        if self.stall_s:
            self.stop.wait(min(self.stall_s, STALL_LIMIT_S))
        if self.fail_with is not None:
            raise self.fail_with
        version, signature = self.signature(name, version, signature_name)
        expected = set(signature.structured_input_signature[1])
        if set(inputs) != expected:
            raise ServingStatus("INVALID_ARGUMENT", f"input tensor aliases {sorted(inputs)} do not match the "
                                                   f"signature's {sorted(expected)}")
        try:
            outputs = signature(**{key: tf.constant(value) for key, value in inputs.items()})
        except tf.errors.InvalidArgumentError as error:
            raise ServingStatus("INVALID_ARGUMENT", kernel_message(error.message)) from None
        return version, {key: value.numpy() for key, value in outputs.items()}


# ---------------------------------------------------------------------------------------------
# REST: TF Serving's JSON rules.
# ---------------------------------------------------------------------------------------------
def _is_b64_object(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _json_leaf(value, dtype: tf.DType):
    if isinstance(value, dict):
        if dtype != tf.string or not _is_b64_object(value):
            raise ServingStatus("INVALID_ARGUMENT", f"JSON Value: {json.dumps(value)} not formatted correctly for "
                                                   "base64 data")
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise ServingStatus("INVALID_ARGUMENT", "Unable to base64 decode") from None
    if dtype == tf.string:
        if not isinstance(value, str):
            raise ServingStatus("INVALID_ARGUMENT", f"JSON Value: {json.dumps(value)} is not of expected type: string")
        return value.encode("utf-8")
    return value


def _json_values(value, dtype: tf.DType):
    """Nested JSON lists -> (nested Python values, shape); ragged nesting is refused like TF Serving does."""
    if not isinstance(value, list):
        return _json_leaf(value, dtype), ()
    items = [_json_values(item, dtype) for item in value]
    shapes = {shape for _, shape in items}
    if len(shapes) > 1:
        raise ServingStatus("INVALID_ARGUMENT", f"Encountered list at unexpected size: shapes {sorted(shapes)}")
    return [item for item, _ in items], (len(items), *(shapes.pop() if shapes else ()))


def _json_tensor(value, dtype: tf.DType) -> np.ndarray:
    values, shape = _json_values(value, dtype)
    array = np.empty(shape, dtype=object if dtype == tf.string else dtype.as_numpy_dtype)
    array[...] = values
    return array


def _rest_document(body: bytes) -> dict:
    try:
        document = json.loads(body)
    except ValueError as error:
        raise ServingStatus("INVALID_ARGUMENT", f"JSON Parse error: {error}") from None
    if not isinstance(document, dict):
        raise ServingStatus("INVALID_ARGUMENT", "JSON Value: Is not object")
    return document


def rest_signature_name(body: bytes) -> str:
    """The optional ``signature_name`` of a ``:predict`` body (default: serving_default)."""
    name = _rest_document(body).get("signature_name", features.SERVING_DEFAULT)
    if not isinstance(name, str):
        raise ServingStatus("INVALID_ARGUMENT", "'signature_name' key must be a string value.")
    return name or features.SERVING_DEFAULT


def decode_rest_predict_request(body: bytes, input_dtypes: Dict[str, tf.DType]) -> Dict[str, np.ndarray]:
    """A ``:predict`` JSON body -> named input arrays, as TF Serving builds its PredictRequest."""
    document = _rest_document(body)
    if ("instances" in document) == ("inputs" in document):
        raise ServingStatus("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key" if "inputs" not in document
                           else "Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist")
    if "inputs" in document:  # columnar: one value (list) per input, or the value itself for one input
        columns = document["inputs"]
        if not isinstance(columns, dict) or _is_b64_object(columns):
            columns = {next(iter(input_dtypes)): columns}
        return {name: _json_tensor(columns[name], dtype) for name, dtype in input_dtypes.items()}
    instances = document["instances"]
    if not isinstance(instances, list) or not instances:
        raise ServingStatus("INVALID_ARGUMENT", "No values in 'instances' array")
    named = isinstance(instances[0], dict) and not _is_b64_object(instances[0])
    if not named and len(input_dtypes) > 1:
        raise ServingStatus("INVALID_ARGUMENT", "instances is a plain list, but expecting list of objects as "
                                               "multiple input tensors required as per tensorinfo_map")
    rows = [instance if named else {next(iter(input_dtypes)): instance} for instance in instances]
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(input_dtypes):
            raise ServingStatus("INVALID_ARGUMENT", f"Failed to process element: {index} of 'instances' list; keys "
                                                   f"must be equal to: {','.join(sorted(input_dtypes))}")
    return {name: _json_tensor([row[name] for row in rows], dtype) for name, dtype in input_dtypes.items()}


def _json_value(value, as_b64: bool):
    """One batch item (an array, or a scalar numpy/bytes value) -> JSON."""
    if isinstance(value, np.ndarray) and value.ndim:
        return [_json_value(item, as_b64) for item in value]
    item = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
    if isinstance(item, bytes):
        return {"b64": base64.b64encode(item).decode("ascii")} if as_b64 else item.decode("utf-8")
    return item


def encode_rest_predict_response(outputs: Dict[str, np.ndarray], columnar: bool = False) -> bytes:
    """Output arrays -> TF Serving's row-format ``{"predictions": [...]}``, or, answering a columnar
    request, ``{"outputs": ...}`` (the one output's values, or a mapping of them by name)."""
    as_b64 = {name: value.dtype == object and name.endswith(BYTES_SUFFIX) for name, value in outputs.items()}
    if columnar:
        columns = {name: [_json_value(item, as_b64[name]) for item in value] for name, value in outputs.items()}
        return json.dumps({"outputs": next(iter(columns.values())) if len(columns) == 1 else columns}).encode("utf-8")
    batch = {len(value) for value in outputs.values()}
    if len(batch) != 1:
        raise ServingStatus("INVALID_ARGUMENT", "Tensor name: has inconsistent batch size")
    predictions = []
    for index in range(batch.pop()):
        values = {name: _json_value(value[index], as_b64[name]) for name, value in outputs.items()}
        predictions.append(next(iter(values.values())) if len(values) == 1 else values)
    return json.dumps({"predictions": predictions}).encode("utf-8")


class _RestHandler(BaseHTTPRequestHandler):
    server: "_RestHttpServer"

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        match = PREDICT_PATH.match(self.path)
        try:
            if not match:
                raise ServingStatus("NOT_FOUND", f"Malformed request: POST {self.path}")
            name, version = match["name"], int(match["version"]) if match["version"] else None
            signature_name = rest_signature_name(body)
            inputs = decode_rest_predict_request(body, self.server.model_server.input_dtypes(name, version,
                                                                                               signature_name))
            _, outputs = self.server.model_server.predict(name, version, signature_name, inputs)
            self._reply(200, encode_rest_predict_response(outputs, columnar="inputs" in _rest_document(body)))
        except ServingStatus as error:
            self._reply(HTTP_STATUS.get(error.code, 500), json.dumps({"error": error.message}).encode("utf-8"))
        except Exception as error:  # a bug in the double: answer like TF Serving's INTERNAL, not a dropped socket
            self._reply(500, json.dumps({"error": f"{type(error).__name__}: {error}"}).encode("utf-8"))

    def _reply(self, status: int, payload: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client that gave up
            self.wfile.write(payload)

    def log_message(self, *args):  # quiet test output
        pass


class _RestHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model_server: ModelServerDouble):
        super().__init__(("127.0.0.1", 0), _RestHandler)
        self.model_server = model_server


@contextlib.contextmanager
def rest_server_double(model_server: ModelServerDouble):
    """Yields ``http://127.0.0.1:<port>`` serving ``:predict`` from ``model_server``."""
    server = _RestHttpServer(model_server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        model_server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=STALL_LIMIT_S)


# ---------------------------------------------------------------------------------------------
# gRPC: PredictionService.Predict.
# ---------------------------------------------------------------------------------------------
def _prediction_service_servicer(model_server: ModelServerDouble):
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class PredictionServiceDouble(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):  # noqa: N802 (gRPC's naming)
            spec = request.model_spec
            version = spec.version.value if spec.HasField("version") else None
            try:
                inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
                served_version, outputs = model_server.predict(spec.name, version,
                                                               spec.signature_name or features.SERVING_DEFAULT, inputs)
            except ServingStatus as error:
                context.abort(getattr(grpc.StatusCode, error.code), error.message)
            response = predict_pb2.PredictResponse()
            response.model_spec.name = spec.name
            response.model_spec.version.value = served_version
            response.model_spec.signature_name = spec.signature_name or features.SERVING_DEFAULT
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
            return response

    return PredictionServiceDouble()


@contextlib.contextmanager
def grpc_server_double(model_server: ModelServerDouble):
    """Yields ``127.0.0.1:<port>`` of an in-process gRPC PredictionService backed by ``model_server``."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_prediction_service_servicer(model_server),
                                                                        server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        model_server.stop.set()
        server.stop(grace=None).wait(STALL_LIMIT_S)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
