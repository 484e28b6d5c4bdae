"""What can go wrong between a client and TF Serving, as exceptions that say where and what.

Every message names the endpoint (URL or host:port) so a log line is enough to
know which server and model a failure is about. ``RequestRejected`` with
``per_image=True`` means the content of the request was refused (TF Serving's
INVALID_ARGUMENT / HTTP 400): the other images of a folder can still go.
"""
from __future__ import annotations

import re
from typing import Optional

# TensorFlow wraps a kernel's message in graph-node annotations ("[[{{node ...}}]]"), and Python's
# eager errors add a preamble ("Graph execution error: ... Detected at node ...") and "[Op:...]".
_TF_MESSAGE_NOISE = (re.compile(r"\[\[\{\{node [^}]*\}\}(?:[^\]]*)\]\]"), re.compile(r"\[Op:[^\]]*\]"),
                     re.compile(r"^.*?<stack traces unavailable>", re.S),
                     re.compile(r"^Graph execution error:.*?Detected at node \S+ defined at \(most recent call last\):",
                                re.S))
# tf.debugging.Assert prints its data as "assertion failed: [<message>]".
_TF_ASSERTION = re.compile(r"assertion failed: \[(.*)\]")


def tidy_tf_message(message: str) -> str:
    """The words of a TensorFlow error that a person needs: no node annotations, one line."""
    for noise in _TF_MESSAGE_NOISE:
        message = noise.sub(" ", message)
    message = " ".join(message.split())
    assertion = _TF_ASSERTION.fullmatch(message)
    return assertion.group(1) if assertion else message


class ServingError(Exception):
    """A request that did not come back as generated images."""

    def __init__(self, endpoint: str, message: str):
        super().__init__(f"{endpoint}: {message}")
        self.endpoint = endpoint


class EndpointUnreachable(ServingError):
    """Nothing answers at the address (connection refused, unknown host, network down)."""


class EndpointTimeout(ServingError):
    """The server accepted the request but gave no answer in time."""


class RequestRejected(ServingError):
    """The server answered with an error about the request (HTTP 4xx, gRPC INVALID_ARGUMENT, NOT_FOUND...)."""

    def __init__(self, endpoint: str, status: str, server_message: str, per_image: bool):
        super().__init__(endpoint, f"{status}: {server_message}")
        self.status = status
        self.server_message = server_message
        self.per_image = per_image


class ServerFailure(ServingError):
    """The server failed on its side (HTTP 5xx, gRPC INTERNAL/UNKNOWN...)."""

    def __init__(self, endpoint: str, status: str, server_message: Optional[str]):
        super().__init__(endpoint, f"{status}: {server_message or '(no error text)'}")
        self.status = status
        self.server_message = server_message


class UnexpectedResponse(ServingError):
    """The server answered 200/OK but not with what the pix2pix signature returns."""
