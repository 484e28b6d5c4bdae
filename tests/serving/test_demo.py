"""The demo page (serving/demo.py): its endpoint on hostile uploads, and the page itself in headless Chromium,
driven through the DevTools protocol: upload a PNG through the file input, see the answer at the input's size;
upload a text file, see the message."""
import base64
import io
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest
import tensorflow as tf
import tensorflow_transform as tft
from PIL import Image

from components.trainer import export, networks
from serving import demo
from tests.support import images
from tests.support.serving_doubles import pushed_layout
from tests.support.transform_graph import TINY_IMAGE_SIZE

pytestmark = pytest.mark.slow  # exports a model and starts servers (and a browser)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGE_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def demo_url(transform_output_dir, tmp_path_factory):
    """The demo serving the newest pushed version of a tiny tiled export, on a free port."""
    tf.keras.utils.set_random_seed(0)
    generator = networks.build_unet_generator(TINY_IMAGE_SIZE, ngf=4)
    export_dir = str(tmp_path_factory.mktemp("export") / "model")
    export.export_generator(generator, tft.TFTransformOutput(transform_output_dir), export_dir,
                            max_input_pixels=1024 * 1024, inference_mode="tiled")
    model_base = pushed_layout(tmp_path_factory.mktemp("serving_model"), {3: export_dir})
    server = demo.make_server(demo.LocalBackend(model_base), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _post(url, body: bytes, query: str = "", headers=None):
    request = urllib.request.Request(f"{url}/translate{query}", data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=PAGE_TIMEOUT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _size(png_b64: str):
    return Image.open(io.BytesIO(base64.b64decode(png_b64))).size


def test_an_upload_comes_back_at_its_own_size(demo_url):
    status, answer = _post(demo_url, images.png(30, 50, seed=1))
    assert status == 200
    assert answer["input"] == {"format": "PNG", "width": 50, "height": 30}
    assert [out["label"] for out in answer["outputs"]] == ["deterministic"]
    assert _size(answer["outputs"][0]["png_b64"]) == (50, 30)


def test_stochastic_samples_are_distinct_and_reproducible(demo_url):
    png = images.png(20, 20, seed=2)
    _, first = _post(demo_url, png, "?samples=2")
    _, again = _post(demo_url, png, "?samples=2")
    assert [out["label"] for out in first["outputs"]] == ["stochastic, seed 0", "stochastic, seed 1"]
    assert first["outputs"][0]["png_b64"] != first["outputs"][1]["png_b64"]
    assert first == again


def test_a_gif_is_sent_as_png_and_works(demo_url):
    buffer = io.BytesIO()
    Image.fromarray(images.random_pixels(12, 18, seed=3)).save(buffer, format="GIF")
    status, answer = _post(demo_url, buffer.getvalue())
    assert status == 200 and _size(answer["outputs"][0]["png_b64"]) == (18, 12)


@pytest.mark.parametrize("body, query, status, message", [
    (b"hello, this is not an image", "", 400, "upload: not a PNG/JPEG/BMP/GIF image"),
    (b"", "", 400, "upload: empty file"),
    (images.png(8, 8), "?samples=99", 400, "samples: got 99; expected 0"),
    (images.png(8, 8), "?samples=many", 400, "samples: got ['many']; expected a whole number"),
    (images.png_claiming_size(5000, 5000), "", 400, "pixels"),
])
def test_a_bad_upload_gets_a_message_not_a_traceback(demo_url, body, query, status, message):
    code, answer = _post(demo_url, body, query)
    assert code == status and message in answer["error"], answer
    assert "Traceback" not in answer["error"]


def _read_until_closed(connection):
    """The whole reply: headers and body may arrive in separate segments, so one recv() is not enough."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_an_upload_that_claims_too_many_bytes_is_refused_unread(demo_url):
    host, port = demo_url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=PAGE_TIMEOUT_S) as connection:
        connection.sendall(f"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Length: {demo.MAX_UPLOAD_BYTES + 1}"
                           "\r\n\r\n".encode())
        reply = _read_until_closed(connection)
    assert reply.startswith("HTTP/1.0 413") or reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "above the demo's limit" in reply


class _DevTools:
    """The few DevTools protocol calls the browser test needs, over websocket-client."""

    def __init__(self, websocket_url):
        import websocket  # websocket-client, in the lock

        self._socket = websocket.create_connection(websocket_url, timeout=PAGE_TIMEOUT_S)
        self._next_id = 0

    def call(self, method, **params):
        self._next_id += 1
        self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression, timeout_s=PAGE_TIMEOUT_S):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {expression}; page text: {self.evaluate('document.body.innerText')}")

    def close(self):
        self._socket.close()


@pytest.fixture()
def browser(tmp_path):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                f"--remote-debugging-port={port}", f"--user-data-dir={tmp_path / 'profile'}",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + PAGE_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
                    pages = [t for t in json.loads(response.read()) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("chromium's DevTools endpoint did not come up")
            time.sleep(0.2)
        tools = _DevTools(pages[0]["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        process.kill()
        process.wait()


def _upload(browser, demo_url, path):
    browser.call("Page.enable")
    browser.call("Page.navigate", url=demo_url + "/")
    browser.wait_for("document.readyState === 'complete' && !!document.getElementById('file')")
    root = browser.call("DOM.getDocument")["root"]["nodeId"]
    node = browser.call("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
    browser.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)


def test_the_page_translates_an_uploaded_png_at_its_size(browser, demo_url, tmp_path):
    path = tmp_path / "facade.png"
    path.write_bytes(images.png(24, 40, seed=4))
    _upload(browser, demo_url, path)
    sizes = browser.wait_for("(() => { const imgs = [...document.querySelectorAll('#results img')];"
                             " return imgs.length === 2 && imgs.every(i => i.complete && i.naturalWidth > 0)"
                             " && imgs.map(i => [i.naturalWidth, i.naturalHeight]); })()")
    assert sizes == [[40, 24], [40, 24]]   # the input and its translation, side by side at full size
    assert browser.evaluate("document.querySelector('#results a[download]').download") == "facade_generated.png"


def test_the_page_shows_a_message_for_a_text_file(browser, demo_url, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    _upload(browser, demo_url, path)
    text = browser.wait_for("document.getElementById('message').className === 'error'"
                            " && document.getElementById('message').textContent")
    assert "not a PNG/JPEG/BMP/GIF image" in text
    assert browser.evaluate("document.querySelectorAll('#results img').length") == 0
