"""gRPC client for TF Serving's ``PredictionService.Predict``: encoded images in, generated PNGs out.

The request names the model, the signature and optionally a version, and
carries the images as one DT_STRING tensor of shape [N] under
``inputs["image_bytes"]``; the response's ``outputs["generated_image_bytes"]``
holds N PNGs. gRPC carries bytes as they are (no base64), so it is the
cheaper protocol for large images. Messages may be large: both directions
allow ``MAX_MESSAGE_BYTES``.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from components import features
from serving.errors import (EndpointTimeout, EndpointUnreachable, RequestRejected, ServerFailure,
                            UnexpectedResponse, tidy_tf_message)

DEFAULT_GRPC_SERVER = "localhost:8500"
DEFAULT_TIMEOUT_S = 30.0
MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # gRPC's default receive limit (4 MB) is ~20 PNGs at 256x256


def build_predict_request(images: Sequence[bytes], model: str, signature: str = features.SERVING_DEFAULT,
                          version: Optional[int] = None):
    """A ``PredictRequest`` with the images as ``inputs["image_bytes"]``, a DT_STRING tensor of shape [N]."""
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    tensor = request.inputs[features.SERVING_INPUT_BYTES]
    tensor.dtype = types_pb2.DT_STRING
    tensor.tensor_shape.dim.add(size=len(images))
    tensor.string_val.extend(images)
    return request


def parse_predict_response(response, expected: int, endpoint: str) -> List[bytes]:
    """``outputs["generated_image_bytes"]`` (DT_STRING [N]) -> PNG bytes."""
    from tensorflow.core.framework import types_pb2

    if features.SERVING_OUTPUT_BYTES not in response.outputs:
        raise UnexpectedResponse(endpoint, f"no output {features.SERVING_OUTPUT_BYTES!r} in the response "
                                           f"(outputs: {sorted(response.outputs)})")
    tensor = response.outputs[features.SERVING_OUTPUT_BYTES]
    if tensor.dtype != types_pb2.DT_STRING or len(tensor.string_val) != expected:
        raise UnexpectedResponse(endpoint, f"expected {expected} DT_STRING value(s) in "
                                           f"{features.SERVING_OUTPUT_BYTES!r}, got {len(tensor.string_val)} of "
                                           f"{types_pb2.DataType.Name(tensor.dtype)}")
    return list(tensor.string_val)


class GrpcPredictClient:
    """One channel to a TF Serving gRPC port; ``predict`` sends one batch per call."""

    def __init__(self, server: str = DEFAULT_GRPC_SERVER, model: str = "pix2pix", version: Optional[int] = None,
                 signature: str = features.SERVING_DEFAULT, timeout: float = DEFAULT_TIMEOUT_S):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.server = server
        self.model, self.version, self.signature, self.timeout = model, version, signature, timeout
        self.endpoint = (f"grpc://{server} model {model}" + (f" version {version}" if version is not None else "")
                         + f" signature {signature}")
        self._channel = grpc.insecure_channel(server, options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                                                               ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)])
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, images: Sequence[bytes]) -> List[bytes]:
        """Generated PNGs for ``images``; a ``ServingError`` subclass when there are none."""
        import grpc

        request = build_predict_request(images, self.model, self.signature, self.version)
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise self._rpc_error(error.code(), error.details()) from None
        return parse_predict_response(response, len(images), self.endpoint)

    def _rpc_error(self, code, details: str) -> Exception:
        import grpc

        details = tidy_tf_message(details or "")

        if code == grpc.StatusCode.UNAVAILABLE:
            return EndpointUnreachable(self.endpoint, f"unavailable: {details} (is TF Serving running with its gRPC "
                                                      "port here? docker compose -f serving/docker-compose.yml up)")
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return EndpointTimeout(self.endpoint, f"no answer within {self.timeout:g} s (raise --timeout for big "
                                                  "batches or a cold server)")
        if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS):
            return ServerFailure(self.endpoint, code.name, details)
        hint = " (lower --batch-size)" if code == grpc.StatusCode.RESOURCE_EXHAUSTED else ""
        return RequestRejected(self.endpoint, code.name, details + hint,
                               per_image=code == grpc.StatusCode.INVALID_ARGUMENT)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
