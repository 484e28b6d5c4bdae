"""Fault injection, data area (issue #12 items 4, 9 and the download part of 10).

Every hostile input is made here: PNGs with junk appended, symlinks to nothing
and in circles, a FIFO, unreadable folders, EXIF-rotated photos, an HTTP
server on 127.0.0.1 that lies about lengths or hangs up, a disk that is full
(/dev/full). Ingestion is run through the real executor (tests/support/ingestion.py).
"""
import contextlib
import errno
import http.server
import io
import os
import signal
import socketserver
import subprocess
import sys
import tarfile
import threading
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps
from tfx.proto import example_gen_pb2
from tfx.utils import io_utils

from components import features
from components.example_gen import aligned, driver, image_checks, ingest, listing, pairing
from components.example_gen import quarantine as q, tfrecord_files
from data import download, synthetic_facades
from pipeline import local_runner
from pipeline.config import ConfigError, load_config
from tests.support import images, ingestion
from tests.support.ingestion import image_bytes, run_example_gen
from tests.support import paths

ROOT = paths.ROOT
DEFAULT = os.path.join(ROOT, "pipeline_config.yaml")
TINY_SYNTHETIC = ["data.synthetic.num_pairs=3", "data.synthetic.image_size=16"]
LENIENT = dict(min_image_side=8, min_valid_fraction=0.0)
HANG_LIMIT_S = 120     # a listing or read that blocks (a FIFO) fails the test instead of hanging it


@contextlib.contextmanager
def _no_hang(seconds=HANG_LIMIT_S):
    def _timeout(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _png(seed=0, size=(16, 16)):
    return images.encode(images.smooth_pixels(*size, seed=seed))


def _pair(root, stem, seed=0, ext=".png", fmt="PNG"):
    for offset, role in enumerate(("input", "target")):
        images.write(root / role / f"{stem}{ext}", images.encode(images.smooth_pixels(16, 16, seed=seed + offset), fmt))


def _dataset(tmp_path):
    """(dataset root, its train/ folder): val/ holds one good pair so that the eval split is never empty."""
    root = tmp_path / "ds"
    _pair(root / "val", "v", seed=50)
    return root, root / "train"


# --------------------------------------------------------------------------- #
# Item 4: data.generate_if_missing fills only the embedded dataset's own folder
# --------------------------------------------------------------------------- #
def test_a_mistyped_dataset_dir_is_an_error_not_generated_data(tmp_path):
    (tmp_path / "facades" / "input").mkdir(parents=True)
    typo = tmp_path / "facdes"
    config = load_config(DEFAULT, [f"data.dataset_dir={typo}", *TINY_SYNTHETIC])
    assert config.data.generate_if_missing
    with pytest.raises(ConfigError) as error:
        local_runner.ensure_dataset(config)
    message = str(error.value)
    assert message.startswith(f"data.dataset_dir: {typo} does not exist")
    assert f"did you mean {tmp_path / 'facades'}?" in message and "'synthetic_facades'" in message
    assert sorted(os.listdir(tmp_path)) == ["facades"]                 # nothing generated, nothing staged


def test_a_dataset_dir_that_is_a_symlink_to_nothing_is_not_filled(tmp_path):
    (tmp_path / "synthetic_facades").symlink_to(tmp_path / "unmounted_disk")
    config = load_config(DEFAULT, [f"data.dataset_dir={tmp_path / 'synthetic_facades'}", *TINY_SYNTHETIC])
    with pytest.raises(ConfigError, match=r"data.dataset_dir: .*synthetic_facades is a symlink to .*unmounted_disk"):
        local_runner.ensure_dataset(config)
    assert not (tmp_path / "unmounted_disk").exists()


def test_the_embedded_dataset_is_generated_at_its_default_place_or_by_name(tmp_path):
    assert load_config(DEFAULT).data.dataset_dir == synthetic_facades.DEFAULT_DATASET_DIR
    asked = tmp_path / "runs" / synthetic_facades.DATASET_NAME
    asked.parent.mkdir()                       # away from the default place: only inside a folder that exists
    config = load_config(DEFAULT, [f"data.dataset_dir={asked}", *TINY_SYNTHETIC])
    assert local_runner.ensure_dataset(config) == str(asked)
    assert sorted(os.listdir(asked / "input")) == sorted(os.listdir(asked / "target")) == [
        "facade_00000.png", "facade_00001.png", "facade_00002.png"]


def test_a_killed_generation_is_not_taken_as_a_dataset(tmp_path):
    """SIGKILL mid-generation: nothing at the dataset path; the next run generates it whole and clears the debris."""
    target = tmp_path / synthetic_facades.DATASET_NAME
    process = subprocess.Popen([sys.executable, "-m", "data.synthetic_facades", "--output", str(target),
                                "--num-pairs", "100000", "--image-size", "16"], cwd=ROOT)
    try:
        deadline = time.monotonic() + HANG_LIMIT_S
        while time.monotonic() < deadline:
            staged = [p for p in tmp_path.iterdir() if p.name.startswith(f".{target.name}.tmp-")]
            if staged and (staged[0] / "target").is_dir() and len(os.listdir(staged[0] / "target")) > 5:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the generation never got under way")
    finally:
        process.kill()
        process.wait(timeout=60)
    assert not target.exists()
    config = load_config(DEFAULT, [f"data.dataset_dir={target}", *TINY_SYNTHETIC])
    local_runner.ensure_dataset(config)
    assert len(os.listdir(target / "input")) == 3
    assert sorted(os.listdir(tmp_path)) == [target.name]                 # the killed run's staging is gone


# --------------------------------------------------------------------------- #
# Item 9a: data.max_file_bytes, checked on the listed size, never read past
# --------------------------------------------------------------------------- #
LIMIT = 4096


def test_a_valid_png_with_junk_appended_is_quarantined_unread(tmp_path):
    root, train = _dataset(tmp_path)
    _pair(train, "ok", seed=0)
    images.write(train / "input" / "junk.png", _png(4) + os.urandom(3 * LIMIT))
    images.write(train / "target" / "junk.png", _png(5))
    run = run_example_gen(root, tmp_path / "work", max_file_bytes=LIMIT, **LENIENT)
    reasons = run.reasons_by_file(root)
    assert reasons == {"train/input/junk.png": q.FILE_TOO_LARGE, "train/target/junk.png": q.PARTNER_REJECTED}
    detail = next(row["detail"] for row in run.rows if row["reason"] == q.FILE_TOO_LARGE)
    size = os.path.getsize(train / "input" / "junk.png")
    assert detail == f"{size:,} bytes > data.max_file_bytes = {LIMIT:,}; not read"
    assert sorted(run.by_id()) == ["ok", "v"]


def test_a_file_that_lies_about_its_size_is_read_only_to_the_limit(tmp_path):
    """/dev/zero is listed at 0 bytes and never ends: at most limit + 1 bytes are read."""
    with _no_hang(), pytest.raises(image_checks.ImageRejected) as error:
        ingest.read_file("/dev/zero", 0, LIMIT)
    assert error.value.reason == q.FILE_TOO_LARGE and "it grew" in error.value.detail
    grown = images.write(tmp_path / "grown.png", _png(1) + b"\0" * LIMIT)
    with pytest.raises(image_checks.ImageRejected, match="over data.max_file_bytes = 4,096 bytes when read"):
        ingest.read_file(str(grown), 100, LIMIT)


def test_tfrecord_images_and_records_over_the_limit_are_quarantined(tmp_path):
    limit = 1024  # the smallest data.max_file_bytes
    big_input = pairing.make_example("big", _png(0) + b"\0" * (2 * limit), _png(1)).SerializeToString()
    huge = pairing.make_example("huge", _png(2), _png(3) + b"\0" * (ingest.RECORD_OVERHEAD_BYTES + 4 * limit))
    records = [big_input, huge.SerializeToString(), pairing.make_example("fine", _png(4), _png(5)).SerializeToString()]
    path = tmp_path / "ds" / "train" / "all.tfrecord"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(tfrecord_files.encode_record(record) for record in records))
    images.write(tmp_path / "ds" / "val" / "v.tfrecord", tfrecord_files.encode_record(
        pairing.make_example("v", _png(6), _png(7)).SerializeToString()))
    run = run_example_gen(tmp_path / "ds", tmp_path / "work", layout="tfrecord", max_file_bytes=limit, **LENIENT)
    rows = {row["file"].rsplit("/", 1)[1]: row for row in run.rows}
    assert {name: row["reason"] for name, row in rows.items()} == {
        "all.tfrecord#0": q.FILE_TOO_LARGE, "all.tfrecord#1": q.FILE_TOO_LARGE}
    assert rows["all.tfrecord#0"]["detail"].startswith(f"{features.INPUT_IMAGE_KEY}: encoded image of ")
    assert "more than two images of data.max_file_bytes = 1,024 each; not read" in rows["all.tfrecord#1"]["detail"]
    assert sorted(run.by_id()) == ["fine", "v"]                            # fine: after the skipped record


def test_an_oversized_record_is_skipped_without_being_held(tmp_path):
    """A header may claim up to 2 GiB: the reader checks it in chunks, and a wrong checksum still says so."""
    framed = tfrecord_files.encode_record(b"x" * (3 * tfrecord_files.SKIP_CHUNK_BYTES))
    assert list(tfrecord_files.read_records(io.BytesIO(framed), max_record_bytes=10)) == [
        tfrecord_files.OversizedRecord(3 * tfrecord_files.SKIP_CHUNK_BYTES)]
    damaged = framed[:100] + b"y" + framed[101:]
    with pytest.raises(tfrecord_files.CorruptRecords, match="record 0: data checksum mismatch"):
        list(tfrecord_files.read_records(io.BytesIO(damaged), max_record_bytes=10))


# --------------------------------------------------------------------------- #
# Item 9b: what the listing used to drop without a word
# --------------------------------------------------------------------------- #
def _hostile_tree(root, elsewhere):
    _pair(root, "ok", seed=0)
    (root / "input" / "gone.png").symlink_to(root / "nowhere.png")            # to nothing
    (root / "input" / "loop_a.png").symlink_to(root / "input" / "loop_b.png")  # in a circle
    (root / "input" / "loop_b.png").symlink_to(root / "input" / "loop_a.png")
    _pair(elsewhere, "linked", seed=4)
    (elsewhere / "input" / "up").symlink_to(elsewhere)                          # would loop if followed
    (root / "target" / "more").symlink_to(elsewhere / "target")                 # a symlinked folder
    (root / "input" / "linked_file.png").symlink_to(elsewhere / "input" / "linked.png")
    os.mkfifo(root / "target" / "pipe.png")                                     # opening it blocks
    images.write(root / "target" / "linked_file.png", _png(9))


def test_broken_symlinks_symlinked_folders_and_fifos_are_reported_and_nothing_hangs(tmp_path):
    (root, train), elsewhere = _dataset(tmp_path), tmp_path / "elsewhere"
    _hostile_tree(train, elsewhere)
    with _no_hang():
        run = run_example_gen(root, tmp_path / "work", **LENIENT)
    assert run.reasons_by_file(train) == {
        "input/gone.png": q.BROKEN_SYMLINK, "input/loop_a.png": q.BROKEN_SYMLINK, "input/loop_b.png": q.BROKEN_SYMLINK,
        "target/more": q.SYMLINKED_FOLDER, "target/pipe.png": q.NOT_A_REGULAR_FILE}
    details = {row["file"].rsplit("/", 1)[1]: row["detail"] for row in run.rows}
    assert details["gone.png"] == f"a symlink to {train / 'nowhere.png'}: No such file or directory"
    assert "Too many levels of symbolic links" in details["loop_a.png"]
    assert details["more"].startswith(f"a symlink to the folder {elsewhere / 'target'}; symlinked folders are not "
                                      "followed")
    assert details["pipe.png"] == "a FIFO (named pipe); only regular files are read (it was not opened)"
    assert sorted(run.by_id()) == ["linked_file", "ok", "v"]             # a symlink to a file is read
    assert {row["split"] for row in run.rows} == {"train"}


def test_the_driver_fingerprints_a_dataset_with_broken_symlinks(tmp_path):
    """TFX's own fingerprint stops at the first symlink to nothing, before any report exists."""
    root = tmp_path / "ds"
    _pair(root, "ok")
    splits = [example_gen_pb2.Input.Split(name="all", pattern="*/*")]
    clean = driver._InputProcessor(str(root), splits)  # pylint: disable=protected-access
    clean.resolve_span_and_version()
    assert clean.get_input_fingerprint(0, None) == io_utils.generate_fingerprint("all", str(root / "*/*"))
    (root / "input" / "gone.png").symlink_to(root / "nowhere.png")
    processor = driver._InputProcessor(str(root), splits)  # pylint: disable=protected-access
    assert processor.resolve_span_and_version() == (0, None)
    assert "num_files:3" in processor.get_input_fingerprint(0, None)
    gen = ingestion.example_gen(root, ingestion.data_section())
    assert gen.driver_class is driver.PairedImageDriver


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists and reads any folder whatever its mode; "
                                              "test_a_folder_that_cannot_be_listed_is_reported covers it")
def test_unreadable_files_and_folders_are_reported(tmp_path):
    root, train = _dataset(tmp_path)
    _pair(train, "ok")
    _pair(train / "input" / "sub", "hidden")
    images.write(train / "input" / "locked.png", _png(1))
    images.write(train / "target" / "locked.png", _png(2))
    os.chmod(train / "input" / "locked.png", 0)
    os.chmod(train / "input" / "sub", 0)
    try:
        run = run_example_gen(root, tmp_path / "work", **LENIENT)
    finally:
        os.chmod(train / "input" / "sub", 0o755)
    reasons = run.reasons_by_file(train)
    assert reasons["input/locked.png"] == q.UNREADABLE_FILE and reasons["input/sub"] == q.UNREADABLE_FOLDER


def test_a_folder_that_cannot_be_listed_is_reported(tmp_path, monkeypatch):
    """The file system's refusal is injected (tests run as root): os.scandir raises EACCES for one folder."""
    root = tmp_path / "ds"
    _pair(root, "ok")
    images.write(root / "input" / "deep" / "x.png", _png(3))
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("/deep"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(listing.os, "scandir", scandir)
    listed = list(listing.walk_local(str(root)))
    problems = [item for item in listed if isinstance(item, q.Rejection)]
    assert problems == [q.Rejection(str(root / "input" / "deep"), q.UNREADABLE_FOLDER,
                                    "cannot be listed (Permission denied); nothing under it was read")]
    assert sorted(os.path.relpath(item.path, root) for item in listed if item not in problems) == [
        "input/ok.png", "target/ok.png"]
    with pytest.raises(image_checks.ImageRejected) as error:      # a path that raises on open: a folder
        ingest.read_file(str(root / "input"), 0, LIMIT)
    assert error.value.reason == q.UNREADABLE_FILE


# --------------------------------------------------------------------------- #
# Item 9c: upper-case extensions are data
# --------------------------------------------------------------------------- #
def test_upper_case_extensions_are_read_and_paired(tmp_path):
    root, train = _dataset(tmp_path)
    images.write(train / "input" / "a.PNG", _png(0))
    images.write(train / "target" / "a.png", _png(1))
    images.write(train / "input" / "b.JPG", images.encode(images.smooth_pixels(16, 16, seed=2), "JPEG"))
    images.write(train / "target" / "b.Jpeg", images.encode(images.smooth_pixels(16, 16, seed=3), "JPEG"))
    images.write(train / "input" / "c.png", _png(4))
    images.write(train / "target" / "c.JPEG", images.encode(images.smooth_pixels(16, 16, seed=5), "JPEG"))
    run = run_example_gen(root, tmp_path / "work", image_extensions=[".PNG", ".jpg", ".Jpeg"], **LENIENT)
    assert run.rows == [] and sorted(run.by_id()) == ["a", "b", "c", "v"]
    images.write(train / "input" / "d.png", _png(6))
    images.write(train / "input" / "d.PNG", _png(7))                 # the same stem twice: ambiguous
    images.write(train / "target" / "d.png", _png(8))
    again = run_example_gen(root, tmp_path / "work2", **LENIENT)
    assert set(again.reasons_by_file(root).values()) == {q.DUPLICATE_STEM}


# --------------------------------------------------------------------------- #
# Item 9d: EXIF orientation
# --------------------------------------------------------------------------- #
def _with_orientation(pixels, orientation, fmt):
    exif = Image.Exif()
    exif[image_checks.EXIF_ORIENTATION_TAG] = orientation
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, exif=exif.tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_is_stored_upright(orientation):
    stored = images.smooth_pixels(16, 24, seed=orientation)
    data = _with_orientation(stored, orientation, "PNG")
    checked = image_checks.check_image(data, image_checks.ImageLimits(min_side=8, max_pixels=10_000))
    with Image.open(io.BytesIO(data)) as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    assert checked.reencoded and checked.size == (expected.shape[1], expected.shape[0])
    np.testing.assert_array_equal(tf.io.decode_png(checked.encoded).numpy(), expected)


def test_a_rotated_phone_photo_is_paired_upright(tmp_path):
    """A portrait JPEG stored landscape with orientation 6, its target an upright portrait PNG."""
    root, train = _dataset(tmp_path)
    landscape = images.smooth_pixels(32, 48, seed=1)           # as the camera stored it: 48 wide, 32 high
    photo = _with_orientation(landscape, 6, "JPEG")
    images.write(train / "input" / "phone.jpg", photo)
    images.write(train / "target" / "phone.png", images.encode(images.smooth_pixels(48, 32, seed=2)))
    run = run_example_gen(root, tmp_path / "work", size_mismatch="reject", **LENIENT)
    assert run.rows == []                                        # same upright size: no size_mismatch
    stored = tf.io.decode_image(image_bytes(run.by_id()["phone"], features.INPUT_IMAGE_KEY)).numpy()
    np.testing.assert_array_equal(stored, np.rot90(tf.io.decode_jpeg(photo).numpy(), -1))
    assert stored.shape == (48, 32, 3)


def test_an_aligned_photo_is_cut_after_turning_it_upright():
    upright_pixels = images.smooth_pixels(16, 32, seed=3)       # A|B, each 16x16
    data = _with_orientation(np.ascontiguousarray(np.rot90(upright_pixels, -1)), 8, "PNG")  # stored 32 high
    input_png, target_png = aligned.check_aligned(data, image_checks.ImageLimits(8, 10_000), aligned.A_TO_B)
    np.testing.assert_array_equal(tf.io.decode_png(input_png).numpy(), upright_pixels[:, :16])
    np.testing.assert_array_equal(tf.io.decode_png(target_png).numpy(), upright_pixels[:, 16:])


# --------------------------------------------------------------------------- #
# Item 10 (download part): one clear message each, nothing left behind
# --------------------------------------------------------------------------- #
def _archive_bytes():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("facades/train/1.jpg", "facades/val/1.jpg"):
            data = images.encode(images.smooth_pixels(8, 16), "JPEG")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _HostileHandler(http.server.BaseHTTPRequestHandler):
    """Serves the archive in the way the path asks: /bad_length/, /short/, /cut_chunked/, /ok/."""

    body = b""

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        mode = self.path.strip("/").split("/")[0]
        self.send_response(200)
        if mode == "cut_chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = self.body[: len(self.body) // 2]
            self.wfile.write(f"{len(self.body):x}\r\n".encode() + half)   # announces more than it sends
        else:
            length = {"bad_length": "12abc", "short": str(len(self.body) * 2)}.get(mode, str(len(self.body)))
            self.send_header("Content-Length", length)
            self.end_headers()
            self.wfile.write(self.body)
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture()
def hostile_server():
    handler = type("Handler", (_HostileHandler,), {"body": _archive_bytes()})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode, message", [
    ("bad_length", r"the server sent a bad Content-Length header \('12abc'; expected one byte count\)"),
    ("short", r"got [\d,]+ bytes, the server announced [\d,]+ \(connection cut\?\)"),
    ("cut_chunked", r"the response was cut off after [\d,]+ bytes \(IncompleteRead\)"),
])
def test_a_lying_or_cut_response_gives_one_clear_error_and_leaves_nothing(tmp_path, hostile_server, mode, message):
    out = tmp_path / "out" / "facades"
    with _no_hang(), pytest.raises(download.DownloadError, match=message):
        download.fetch_dataset("facades", str(out), base_url=f"{hostile_server}/{mode}", progress=io.StringIO())
    assert os.listdir(tmp_path / "out") == []
    assert download.main(["facades", "--output", str(out), "--base-url", f"{hostile_server}/ok"]) == 0


def test_a_full_disk_while_downloading_says_so(hostile_server):
    """/dev/full: every write fails with ENOSPC, a real one."""
    with pytest.raises(download.DownloadError, match=r"no space left on the disk of /dev/full after writing 0.0 MB"):
        download.download(f"{hostile_server}/ok/facades.tar.gz", "/dev/full", progress=io.StringIO())


def test_a_full_disk_while_unpacking_leaves_no_half_dataset(tmp_path, hostile_server, monkeypatch):
    """The disk fills up on the second unpacked file (ENOSPC injected into the module's writes)."""
    real_open, opened = open, []

    class _FillingUp(io.FileIO):
        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), self.name)

    def filling_open(path, mode="r", *args, **kwargs):
        if "w" in mode and ".partial-" in str(path):
            opened.append(path)
            if len(opened) == 2:
                return _FillingUp(path, "w")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(download, "open", filling_open, raising=False)
    out = tmp_path / "out" / "facades"
    with pytest.raises(download.DownloadError, match=r"no space left on the disk of .*facades\.partial-\d+/val/1\.jpg"):
        download.fetch_dataset("facades", str(out), base_url=f"{hostile_server}/ok", progress=io.StringIO())
    assert os.listdir(tmp_path / "out") == []                      # no archive, no staging, no half dataset


def test_a_typo_in_the_folder_above_the_embedded_dataset_is_an_error(tmp_path):
    """build/dataset/synthetic_facades (dataset, not datasets): named right, in a folder that is not there."""
    typo = tmp_path / "dataset" / "synthetic_facades"
    config = load_config(DEFAULT, [f"data.dataset_dir={typo}", *TINY_SYNTHETIC])
    with pytest.raises(ConfigError, match=rf"data.dataset_dir: {typo} does not exist, nor does its folder"):
        local_runner.ensure_dataset(config)
    assert os.listdir(tmp_path) == []                                   # nothing generated, nothing made
