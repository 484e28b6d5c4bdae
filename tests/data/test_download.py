"""data.download on archives built here, served from file:// and a loopback HTTP server (no internet)."""
import functools
import hashlib
import http.server
import io
import os
import tarfile
import threading

import pytest

from data import download
from tests.support import images


def _tar_gz(path, members):
    """members: name -> bytes (a file) or ("symlink", target)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    return path


def _facades_members():
    aligned = images.encode(images.smooth_pixels(8, 16), "JPEG")
    return {"facades/train/1.jpg": aligned, "facades/train/2.jpg": aligned, "facades/val/1.jpg": aligned,
            "facades/test/9.jpg": aligned}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def served(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (base_url, folder)."""
    www = tmp_path / "www"
    www.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/datasets", www / "datasets"
    server.shutdown()
    server.server_close()


def test_download_over_http_unpacks_the_aligned_layout(served, tmp_path, capsys):
    base_url, folder = served
    folder.mkdir()
    _tar_gz(folder / "facades.tar.gz", _facades_members())
    out = tmp_path / "out" / "facades"
    assert download.main(["facades", "--output", str(out), "--base-url", base_url]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "test/9.jpg", "train/1.jpg", "train/2.jpg", "val/1.jpg"]
    assert (out / "train" / "1.jpg").read_bytes() == _facades_members()["facades/train/1.jpg"]
    captured = capsys.readouterr()
    assert "downloaded" in captured.err and "train/ 2, val/ 1, test/ 1" in captured.out
    assert "--set data.layout=aligned" in captured.out
    assert os.listdir(tmp_path / "out") == ["facades"]            # no temp file or staging folder left


def test_checksum_from_a_file_url_is_verified(tmp_path):
    archive = _tar_gz(tmp_path / "maps.tar.gz", {"train/1.jpg": b"x", "val/1.jpg": b"y"})
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    counts = download.fetch_dataset("maps", str(tmp_path / "ok"), base_url=f"file://{tmp_path}", sha256=digest,
                                    progress=io.StringIO())
    assert counts == {"train": 1, "val": 1}                        # no common top folder: kept as is
    with pytest.raises(download.DownloadError, match="does not match the expected"):
        download.fetch_dataset("maps", str(tmp_path / "bad"), base_url=f"file://{tmp_path}", sha256="0" * 64,
                               progress=io.StringIO())
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("members, message", [
    ({"facades/train/1.jpg": b"x", "../evil.jpg": b"x"}, "outside the output folder"),
    ({"/etc/evil.jpg": b"x"}, "outside the output folder"),
    ({"facades/train/1.jpg": b"x", "facades/train/link.jpg": ("symlink", "/etc/passwd")}, "is a link"),
])
def test_unsafe_archives_are_refused_before_anything_is_written(tmp_path, members, message):
    _tar_gz(tmp_path / "facades.tar.gz", members)
    with pytest.raises(download.DownloadError, match=message):
        download.fetch_dataset("facades", str(tmp_path / "out" / "f"), base_url=f"file://{tmp_path}",
                               progress=io.StringIO())
    assert not (tmp_path / "evil.jpg").exists() and os.listdir(tmp_path / "out") == []


def test_broken_archives_and_bad_requests_fail_clearly(tmp_path, served, capsys):
    (tmp_path / "facades.tar.gz").write_bytes(b"this is not gzip")
    with pytest.raises(download.DownloadError, match="not a valid tar.gz"):
        download.fetch_dataset("facades", str(tmp_path / "a"), base_url=f"file://{tmp_path}", progress=io.StringIO())
    good = _tar_gz(tmp_path / "good.tar.gz", _facades_members()).read_bytes()
    (tmp_path / "facades.tar.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(download.DownloadError, match="not a valid tar.gz"):
        download.fetch_dataset("facades", str(tmp_path / "b"), base_url=f"file://{tmp_path}", progress=io.StringIO())
    base_url, _ = served
    with pytest.raises(download.DownloadError, match="download failed.*404"):
        download.fetch_dataset("night2day", str(tmp_path / "c"), base_url=base_url, progress=io.StringIO())
    assert download.main(["pokemon", "--output", str(tmp_path / "d")]) == 1
    assert "unknown dataset 'pokemon'; available: ['facades', 'cityscapes'" in capsys.readouterr().err
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("x")
    with pytest.raises(download.DownloadError, match="not an empty folder"):
        download.fetch_dataset("facades", str(tmp_path / "used"), base_url=f"file://{tmp_path}")
    assert not [name for name in os.listdir(tmp_path) if name.startswith((".facades", ".night2day"))]


def test_default_urls_are_the_pix2pix_authors():
    assert download.dataset_url("edges2shoes") == \
        "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/edges2shoes.tar.gz"
