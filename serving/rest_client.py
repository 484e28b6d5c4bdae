"""REST client for TF Serving's predict API: encoded images in, generated PNGs out.

Request, in TF Serving's row format (``POST /v1/models/<name>[/versions/<v>]:predict``)::

    {"instances": [{"b64": "<base64 of image 1>"}, {"b64": "..."}]}

The signature has one input (``image_bytes``, DT_STRING), so each instance is
that input's value, and ``{"b64": ...}`` is how JSON carries bytes. The
response is ``{"predictions": [{"b64": "<base64 PNG>"}, ...]}``: TF Serving
base64-encodes a string output only when its name ends in ``_bytes``, which
is why the output is called ``generated_image_bytes``. Errors come back as
``{"error": "<text>"}`` with an HTTP status (INVALID_ARGUMENT -> 400,
NOT_FOUND -> 404, ...). Only the standard library is used.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import urllib.error
import urllib.request
from typing import List, Optional, Sequence

from components import features
from serving.errors import (EndpointTimeout, EndpointUnreachable, RequestRejected, ServerFailure,
                            UnexpectedResponse, tidy_tf_message)

DEFAULT_REST_SERVER = "http://localhost:8501"
DEFAULT_TIMEOUT_S = 30.0
B64_KEY = "b64"
INSTANCES_KEY = "instances"
PREDICTIONS_KEY = "predictions"
INPUTS_KEY, OUTPUTS_KEY = "inputs", "outputs"   # the columnar format
SIGNATURE_KEY = "signature_name"
ERROR_KEY = "error"
HTTP_BAD_REQUEST = 400
HTTP_SERVER_ERROR = 500
ERROR_TEXT_SHOWN = 2000  # characters of a non-JSON error body quoted back


def predict_url(server: str, model: str, version: Optional[int] = None) -> str:
    """``http://host:8501/v1/models/<model>[/versions/<v>]:predict``."""
    base = server.rstrip("/")
    if "://" not in base:
        base = "http://" + base
    return f"{base}/v1/models/{model}" + (f"/versions/{version}" if version is not None else "") + ":predict"


def build_predict_body(images: Sequence[bytes], signature: Optional[str] = None, seed: Optional[int] = None) -> bytes:
    """The JSON body TF Serving's ``:predict`` expects for the ``image_bytes`` signatures.

    Without a seed, the row format (one instance per image). With one (``serving_stochastic``),
    the columnar format: its ``seed`` is a scalar, which no row can carry.
    """
    encoded = [{B64_KEY: base64.b64encode(image).decode("ascii")} for image in images]
    if seed is None:
        body = {INSTANCES_KEY: encoded}
    else:
        body = {INPUTS_KEY: {features.SERVING_INPUT_BYTES: encoded, features.SERVING_SEED: int(seed)}}
    if signature and signature != features.SERVING_DEFAULT:
        body[SIGNATURE_KEY] = signature
    return json.dumps(body).encode("utf-8")


def parse_predict_response(payload: bytes, expected: int, endpoint: str, columnar: bool = False) -> List[bytes]:
    """``{"predictions": [{"b64": ...}, ...]}`` (or, answering a columnar request, ``{"outputs": ...}``)
    -> PNG bytes, one per request image."""
    try:
        predictions = json.loads(payload)[OUTPUTS_KEY if columnar else PREDICTIONS_KEY]   # the request's format
        if columnar and isinstance(predictions, dict):   # several outputs: keyed by name
            predictions = predictions[features.SERVING_OUTPUT_BYTES]
        pngs = []
        for prediction in predictions:
            if isinstance(prediction, dict) and B64_KEY not in prediction:
                prediction = prediction[features.SERVING_OUTPUT_BYTES]  # several outputs: keyed by name
            pngs.append(base64.b64decode(prediction[B64_KEY], validate=True))
    except (ValueError, KeyError, TypeError) as error:
        raise UnexpectedResponse(endpoint, f"expected {{\"{PREDICTIONS_KEY}\": [{{\"{B64_KEY}\": ...}}, ...]}} "
                                           f"with {expected} item(s); got {payload[:200]!r} ({error!r})") from None
    if len(pngs) != expected:
        raise UnexpectedResponse(endpoint, f"sent {expected} image(s), got {len(pngs)} prediction(s)")
    return pngs


def _server_error_text(body: bytes) -> str:
    """TF Serving's ``{"error": ...}`` text, or the raw body from anything else (a proxy, a wrong port)."""
    try:
        return tidy_tf_message(str(json.loads(body)[ERROR_KEY]))
    except (ValueError, KeyError, TypeError):
        text = body.decode("utf-8", errors="replace").strip()
        return text[:ERROR_TEXT_SHOWN] or "(empty body)"


class RestPredictClient:
    """Sends batches of encoded images to one model's ``:predict`` endpoint."""

    def __init__(self, server: str = DEFAULT_REST_SERVER, model: str = "pix2pix", version: Optional[int] = None,
                 signature: str = features.SERVING_DEFAULT, timeout: float = DEFAULT_TIMEOUT_S):
        self.url = predict_url(server, model, version)
        self.signature = signature
        self.timeout = timeout

    def predict(self, images: Sequence[bytes], seed: Optional[int] = None) -> List[bytes]:
        """Generated PNGs for ``images`` (``seed``: for ``serving_stochastic``); a ``ServingError`` when there are none."""
        request = urllib.request.Request(self.url, data=build_predict_body(images, self.signature, seed),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            status = f"HTTP {error.code}"
            text = _server_error_text(error.read())
            if error.code >= HTTP_SERVER_ERROR:
                raise ServerFailure(self.url, status, text) from None
            raise RequestRejected(self.url, status, text, per_image=error.code == HTTP_BAD_REQUEST) from None
        except urllib.error.URLError as error:
            raise self._connection_error(error.reason) from None
        except (socket.timeout, TimeoutError) as error:  # while reading the response
            raise self._connection_error(error) from None
        except (http.client.HTTPException, ConnectionError) as error:
            raise ServerFailure(self.url, "connection broken", f"{type(error).__name__}: {error}") from None
        return parse_predict_response(payload, len(images), self.url, columnar=seed is not None)

    def _connection_error(self, reason) -> Exception:
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return EndpointTimeout(self.url, f"no answer within {self.timeout:g} s (raise --timeout for big batches "
                                             "or a cold server)")
        if isinstance(reason, ConnectionRefusedError):
            return EndpointUnreachable(self.url, "connection refused: is TF Serving running and listening on this "
                                                 "port? (docker compose -f serving/docker-compose.yml up)")
        if isinstance(reason, socket.gaierror):
            return EndpointUnreachable(self.url, f"unknown host ({reason})")
        return EndpointUnreachable(self.url, f"cannot connect ({reason})")
