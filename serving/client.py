"""Send images to a running TF Serving and write the generated PNGs.

``python -m serving.client INPUT... --output DIR [--protocol rest|grpc] [--server URL_OR_HOST:PORT]
[--model pix2pix] [--version N] [--batch-size 8] [--timeout 30] [--overwrite-inputs]``

INPUT may be files, folders or globs. Each file is checked to be a PNG, JPEG,
BMP or GIF before anything is sent. Images go in batches; when the server
refuses a batch's content (HTTP 400 / INVALID_ARGUMENT, e.g. an image above the
model's pixel limit) the batch is resent one image at a time, so only the
offending image is skipped, with the server's own error text. A server that is
down, silent past ``--timeout``, failing (5xx) or missing the model stops the
run with a message naming the endpoint. An ``--output`` folder that would
overwrite or mix with the inputs is refused unless ``--overwrite-inputs``.

Exit status: 0 all translated, 1 some inputs skipped, 2 nothing could be done.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List, Sequence, Tuple

from components import features
from serving import image_files
from serving.errors import RequestRejected, ServingError
from serving.grpc_client import DEFAULT_GRPC_SERVER
from serving.progress import progress_bar
from serving.rest_client import DEFAULT_REST_SERVER, RestPredictClient

PROTOCOL_REST, PROTOCOL_GRPC = "rest", "grpc"
DEFAULT_SERVERS = {PROTOCOL_REST: DEFAULT_REST_SERVER, PROTOCOL_GRPC: DEFAULT_GRPC_SERVER}
DEFAULT_MODEL_NAME = "pix2pix"
DEFAULT_BATCH_SIZE = 8
DEFAULT_TIMEOUT_S = 30.0
EXIT_OK, EXIT_SOME_FAILED, EXIT_UNUSABLE = 0, 1, 2


def make_client(protocol: str, server: str, model: str, version=None, signature=features.SERVING_DEFAULT,
                timeout: float = DEFAULT_TIMEOUT_S):
    """A REST or gRPC client with the same ``predict(images) -> pngs`` method."""
    if protocol == PROTOCOL_GRPC:
        from serving.grpc_client import GrpcPredictClient  # imports TensorFlow's protos: only when used

        return GrpcPredictClient(server, model, version, signature, timeout)
    return RestPredictClient(server, model, version, signature, timeout)


def predict_each(client, images: Sequence[bytes]) -> List[Tuple[bytes, str]]:
    """(png, "") or (b"", server's reason) per image: a refused batch is retried one image at a time."""
    try:
        return [(png, "") for png in client.predict(images)]
    except RequestRejected as error:
        if not error.per_image:
            raise
        if len(images) == 1:
            return [(b"", error.server_message)]
    return [outcome for image in images for outcome in predict_each(client, [image])]


def send_all(client, paths: Sequence[str], output_dir: str, batch_size: int = DEFAULT_BATCH_SIZE,
             progress: bool = True) -> Tuple[List[str], Dict[str, str]]:
    """Translates ``paths`` through the server into ``output_dir``; returns (written files, failures by path).

    Raises ``ServingError`` when the server cannot be used at all. The caller checks that
    ``output_dir`` is apart from the inputs (``image_files.check_output_apart``).
    """
    names = dict(zip(paths, image_files.output_names(paths)))
    os.makedirs(output_dir, exist_ok=True)
    written: List[str] = []
    failed: Dict[str, str] = {}
    with progress_bar(len(paths), "client", progress) as bar:
        for start in range(0, len(paths), batch_size):
            batch, unreadable = image_files.read_images(paths[start:start + batch_size])
            failed.update({path: f"{reason} (not sent)" for path, reason in unreadable.items()})
            if batch:
                for (path, _), (png, reason) in zip(batch, predict_each(client, [data for _, data in batch])):
                    if reason:
                        failed[path] = f"{path}: refused by the server: {reason}"
                        continue
                    target = os.path.join(output_dir, names[path])
                    with open(target, "wb") as handle:
                        handle.write(png)
                    written.append(target)
            bar.update(len(paths[start:start + batch_size]))
    return written, failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.client", description=__doc__.splitlines()[0])
    parser.add_argument("inputs", nargs="+", help="image files, folders or globs")
    parser.add_argument("--output", required=True, help="folder for the generated PNGs")
    parser.add_argument("--protocol", choices=(PROTOCOL_REST, PROTOCOL_GRPC), default=PROTOCOL_REST)
    parser.add_argument("--server", default=None,
                        help=f"REST base URL (default {DEFAULT_REST_SERVER}) or gRPC host:port "
                             f"(default {DEFAULT_GRPC_SERVER})")
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help="TF Serving model name (default: %(default)s)")
    parser.add_argument("--version", type=int, default=None, help="model version (default: what the server serves)")
    parser.add_argument("--signature", default=features.SERVING_DEFAULT, help="signature (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                        help="images per request (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help="seconds to wait for each answer (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(image_files.OVERWRITE_INPUTS_FLAG, action="store_true",
                        help="allow --output to be where the inputs are; their files may be replaced")
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.timeout <= 0:
        parser.error("--batch-size must be >= 1 and --timeout > 0")
    server = args.server or DEFAULT_SERVERS[args.protocol]
    try:
        paths = image_files.collect_images(args.inputs)
        if not args.overwrite_inputs:
            image_files.check_output_apart(args.output, image_files.input_folders(args.inputs), paths)
    except (FileNotFoundError, image_files.OutputOverlapsInputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    client = make_client(args.protocol, server, args.model, args.version, args.signature, args.timeout)
    try:
        written, failed = send_all(client, paths, args.output, args.batch_size, progress=not args.no_progress)
    except ServingError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNUSABLE
    finally:
        if hasattr(client, "close"):
            client.close()
    for reason in failed.values():
        print(f"skipped {reason}", file=sys.stderr)
    print(f"translated {len(written)} image(s) via {args.protocol} {server} into {args.output}"
          + (f"; {len(failed)} skipped" if failed else ""))
    return EXIT_SOME_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
