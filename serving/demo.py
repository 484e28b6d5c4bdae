"""A local web page to try the served model: drop an image, see its translation at full size, download it.

``python -m serving.demo [--model-dir serving_model/pix2pix] [--version N] [--rest http://host:8501]
[--model pix2pix] [--host 127.0.0.1] [--port 8080]`` (or ``make demo``), then open the printed address.

By default it loads the newest version the Pusher published under
``--model-dir`` (no server needed); with ``--rest`` it asks a running TF
Serving instead. The page offers the deterministic answer (``serving_default``)
or N samples of the paper's stochastic mode (``serving_stochastic``, seeds
0..N-1), shows the input and every output side by side at their own size, and
links each for download. Only the standard library serves it.

Requests are checked before the model sees them: at most ``MAX_UPLOAD_BYTES``,
an image format the model reads (GIF and BMP are sent as lossless PNG), and the
model's own pixel limit; a refused upload gets a message on the page, never a
traceback. Translations run one at a time, so a crowd of uploads queues
instead of exhausting memory.
"""
from __future__ import annotations

import argparse
import base64
import http.server
import json
import sys
import threading
import urllib.parse
from typing import List, Optional, Sequence

from components import features
from serving import image_files, rest_client
from serving.errors import ServingError, tidy_tf_message

DEFAULT_MODEL_DIR = "serving_model/pix2pix"
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
MAX_UPLOAD_BYTES = 64 * 1024 * 1024      # as data.max_file_bytes: larger uploads are refused unread
MAX_SAMPLES = 8                          # stochastic samples per upload
PAGE_PATH, TRANSLATE_PATH = "/", "/translate"
UPLOAD_NAME = "upload"                   # how messages name the uploaded file


class UploadError(ValueError):
    """An upload the demo refuses; the message is shown on the page (HTTP 400 or 413)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class LocalBackend:
    """The SavedModel of one pushed version, loaded in this process."""

    def __init__(self, model_dir: str, version: Optional[int] = None):
        import tensorflow as tf

        from serving.local_model import version_dir

        self.path = version_dir(model_dir, version)
        self._model = tf.saved_model.load(self.path)
        self.stochastic = features.SERVING_STOCHASTIC in self._model.signatures
        self.description = f"the SavedModel at {self.path}"

    def translate(self, image: bytes, seed: Optional[int]) -> bytes:
        import tensorflow as tf

        inputs = {features.SERVING_INPUT_BYTES: tf.constant([image])}
        if seed is None:
            signature = self._model.signatures[features.SERVING_DEFAULT]
        else:
            signature = self._model.signatures[features.SERVING_STOCHASTIC]
            inputs[features.SERVING_SEED] = tf.constant(seed, tf.int64)
        try:
            return bytes(signature(**inputs)[features.SERVING_OUTPUT_BYTES].numpy()[0])
        except tf.errors.InvalidArgumentError as error:
            raise UploadError(tidy_tf_message(error.message)) from None


class RestBackend:
    """A running TF Serving, over its REST API."""

    def __init__(self, server: str, model: str, version: Optional[int] = None):
        self._deterministic = rest_client.RestPredictClient(server, model, version)
        self._stochastic = rest_client.RestPredictClient(server, model, version, signature=features.SERVING_STOCHASTIC)
        self.stochastic = True   # TF Serving says otherwise with an error the page shows
        self.description = f"TF Serving at {self._deterministic.url}"

    def translate(self, image: bytes, seed: Optional[int]) -> bytes:
        try:
            if seed is None:
                return self._deterministic.predict([image])[0]
            return self._stochastic.predict([image], seed=seed)[0]
        except ServingError as error:
            raise UploadError(str(error), status=502 if not getattr(error, "per_image", False) else 400) from None


def translations(backend, upload: bytes, samples: int) -> dict:
    """The page's answer: the input's size and each output (deterministic, or ``samples`` stochastic seeds)."""
    if samples < 0 or samples > MAX_SAMPLES:
        raise UploadError(f"samples: got {samples}; expected 0 (the deterministic answer) to {MAX_SAMPLES}")
    if samples and not backend.stochastic:
        raise UploadError(f"{backend.description} has no {features.SERVING_STOCHASTIC} signature (an export from "
                          "before it existed): choose the deterministic answer")
    try:
        info = image_files.sniff_image(upload, UPLOAD_NAME)
        image = image_files.servable(upload, UPLOAD_NAME)
    except image_files.NotAnImageError as error:
        raise UploadError(str(error)) from None
    seeds: List[Optional[int]] = list(range(samples)) if samples else [None]
    outputs = []
    for seed in seeds:
        png = backend.translate(image, seed)
        outputs.append({"label": "deterministic" if seed is None else f"stochastic, seed {seed}",
                        "png_b64": base64.b64encode(png).decode("ascii")})
    return {"input": {"format": info.format, "width": info.width, "height": info.height}, "outputs": outputs}


def make_handler(backend, lock: threading.Lock):
    class DemoHandler(http.server.BaseHTTPRequestHandler):
        server_version = "pix2pix-tfx-demo"

        def log_message(self, fmt, *args):  # one line per request, on stderr as http.server does
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

        def do_GET(self):  # noqa: N802 - http.server's naming
            if urllib.parse.urlsplit(self.path).path != PAGE_PATH:
                return self._json(404, {"error": f"no page {self.path}; the demo is at {PAGE_PATH}"})
            body = PAGE.replace("__BACKEND__", backend.description).replace("__MAX_SAMPLES__", str(MAX_SAMPLES))
            self._send(200, "text/html; charset=utf-8", body.encode("utf-8"))

        def do_POST(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            if url.path != TRANSLATE_PATH:
                return self._json(404, {"error": f"no endpoint {url.path}; POST images to {TRANSLATE_PATH}"})
            try:
                upload = self._read_upload()
                query = urllib.parse.parse_qs(url.query)
                try:
                    samples = int(query.get("samples", ["0"])[0])
                except ValueError:
                    raise UploadError(f"samples: got {query.get('samples')}; expected a whole number") from None
                with lock:
                    answer = translations(backend, upload, samples)
            except UploadError as error:
                return self._json(error.status, {"error": str(error)})
            self._json(200, answer)

        def _read_upload(self) -> bytes:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                raise UploadError("the upload has no Content-Length: send the image file as the request body", 411)
            if int(length) > MAX_UPLOAD_BYTES:
                self.close_connection = True   # the body is not read
                raise UploadError(f"{UPLOAD_NAME}: {int(length)} bytes, above the demo's limit of "
                                  f"{MAX_UPLOAD_BYTES} bytes", 413)
            data = self.rfile.read(int(length))
            if len(data) != int(length):
                raise UploadError(f"{UPLOAD_NAME}: the body ended after {len(data)} of {length} bytes")
            return data

        def _json(self, status: int, payload: dict):
            self._send(status, "application/json", json.dumps(payload).encode("utf-8"))

        def _send(self, status: int, content_type: str, body: bytes):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return DemoHandler


def make_server(backend, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> http.server.ThreadingHTTPServer:
    return http.server.ThreadingHTTPServer((host, port), make_handler(backend, threading.Lock()))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=DEFAULT_MODEL_DIR,
                        help="the Pusher's <serving_dir>/<model_name> (default: %(default)s)")
    parser.add_argument("--version", type=int, default=None, help="a version under --model-dir (default: newest)")
    parser.add_argument("--rest", default=None, help="a running TF Serving's REST address, e.g. http://localhost:8501")
    parser.add_argument("--model", default="pix2pix", help="the model name on TF Serving (default: %(default)s)")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0: any free)")
    args = parser.parse_args(argv)
    try:
        backend = (RestBackend(args.rest, args.model, args.version) if args.rest
                   else LocalBackend(args.model_dir, args.version))
    except (OSError, ValueError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    server = make_server(backend, args.host, args.port)
    print(f"pix2pix demo on http://{args.host}:{server.server_address[1]}/ using {backend.description} "
          "(Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pix2pix demo</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
#drop { border: 2px dashed #888; border-radius: 8px; padding: 1.5rem; text-align: center; }
#drop.over { background: #eef5ff; border-color: #1f77b4; }
.row { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; margin-top: 1rem; }
figure { margin: 0; } figcaption { font-size: 0.85rem; color: #555; }
img { max-width: none; image-rendering: auto; border: 1px solid #ddd; }
#message.error { color: #b00020; font-weight: 600; }
.note { color: #666; font-size: 0.85rem; }
</style></head>
<body>
<h1>pix2pix: try the model</h1>
<p class="note">Answers come from __BACKEND__.</p>
<div id="drop">Drop an image here, or <input id="file" type="file" accept="image/*"></div>
<p><label><input type="radio" name="mode" value="0" checked> deterministic (what serving_default returns)</label>
<label><input type="radio" name="mode" value="n"> stochastic, as the paper samples:
<input id="samples" type="number" min="1" max="__MAX_SAMPLES__" value="3"> samples</label></p>
<p id="message" role="status"></p>
<div class="row" id="results"></div>
<script>
const drop = document.getElementById("drop"), file = document.getElementById("file");
const message = document.getElementById("message"), results = document.getElementById("results");
function figure(src, caption, download) {
  const fig = document.createElement("figure"), img = document.createElement("img"), cap = document.createElement("figcaption");
  img.src = src; img.alt = caption; cap.textContent = caption;
  if (download) { const a = document.createElement("a"); a.href = src; a.download = download; a.textContent = " download"; cap.appendChild(a); }
  fig.appendChild(img); fig.appendChild(cap); return fig;
}
async function translate(chosen) {
  if (!chosen) return;
  const stochastic = document.querySelector('input[name=mode]:checked').value !== "0";
  const samples = stochastic ? document.getElementById("samples").value : 0;
  message.className = ""; message.textContent = "Translating " + chosen.name + "..."; results.innerHTML = "";
  try {
    const response = await fetch("/translate?samples=" + encodeURIComponent(samples), {method: "POST", body: chosen});
    const answer = await response.json();
    if (!response.ok) { message.className = "error"; message.textContent = answer.error; return; }
    results.appendChild(figure(URL.createObjectURL(chosen), "input, " + answer.input.width + "x" + answer.input.height));
    const stem = chosen.name.replace(/\\.[^.]*$/, "");
    answer.outputs.forEach((out, i) => results.appendChild(
      figure("data:image/png;base64," + out.png_b64, out.label, stem + "_generated" + (stochastic ? "_" + i : "") + ".png")));
    message.textContent = "Done: " + answer.outputs.length + " output(s).";
  } catch (error) { message.className = "error"; message.textContent = "The demo server did not answer: " + error; }
}
file.addEventListener("change", () => translate(file.files[0]));
drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); translate(e.dataTransfer.files[0]); });
</script>
</body></html>
"""


if __name__ == "__main__":
    sys.exit(main())
