"""Downloads a classic pix2pix dataset by name and unpacks it in the aligned layout.

    python -m data.download facades --output datasets/facades [--sha256 HEX]
    make run ARGS="--set data.layout=aligned --set data.dataset_dir=datasets/facades"

The archives are the ones the pix2pix authors publish
(``http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/<name>.tar.gz``): one
folder per split (``train/``, ``val/``, sometimes ``test/``) of A|B images side by
side. Why this is more than ``curl | tar``: the download goes to a temporary
file and is verified (a complete gzip stream and tar index, and the SHA-256 when
given) before anything is unpacked; members are unpacked one by one as regular
files only, never outside the output folder (no absolute paths, ``..``, links or
devices); and the output folder appears only once everything is in it. Each way
a download can fail (no connection, a bad ``Content-Length``, a response cut
short, a full disk) ends in one DownloadError that says which, with no archive
or half-unpacked folder left behind.
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import hashlib
import http.client
import os
import posixpath
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from typing import Dict, List, Optional

from components.example_gen.image_checks import SUPPORTED_EXTENSIONS

DATASETS = ("facades", "cityscapes", "maps", "edges2shoes", "edges2handbags", "night2day")
BASE_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"
CHUNK_BYTES = 1 << 20
PROGRESS_EVERY_S = 1.0
TIMEOUT_S = 60
SPLIT_FOLDERS = ("train", "val", "test")


class DownloadError(RuntimeError):
    """Download, verification or unpacking failed; the output folder was not created."""


def _write_failed(error: OSError, path: str, written: int) -> DownloadError:
    """One message for a write that failed: a full disk says so (and where), anything else names the file."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return DownloadError(f"no space left on the disk of {path} after writing {written / 1e6:,.1f} MB; free "
                             "some space or choose an --output on another disk (nothing was kept)")
    return DownloadError(f"cannot write {path}: {error}")


def _expected_length(url: str, response) -> Optional[int]:
    """The Content-Length the server announced, or None; a header that is not one byte count is refused."""
    values = response.headers.get_all("Content-Length") or []
    if not values:
        return None
    if len(set(values)) > 1 or not values[0].strip().isdigit():
        raise DownloadError(f"{url}: the server sent a bad Content-Length header ({', '.join(values)!r}; "
                            "expected one byte count); not downloaded")
    return int(values[0])


def _check_free_space(url: str, destination: str, total: Optional[int]) -> None:
    if not total:
        return
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(destination))).free
    if total > free:
        raise DownloadError(f"{url}: the archive is {total / 1e6:,.1f} MB but the disk of {destination} has only "
                            f"{free / 1e6:,.1f} MB free; free some space or choose an --output on another disk")


def dataset_url(name: str, base_url: str = BASE_URL) -> str:
    if name not in DATASETS:
        raise DownloadError(f"unknown dataset {name!r}; available: {list(DATASETS)}")
    return f"{base_url.rstrip('/')}/{name}.tar.gz"


def download(url: str, destination: str, progress=None) -> str:
    """Streams ``url`` into ``destination``; returns the SHA-256 of what was written."""
    progress = progress or sys.stderr
    digest = hashlib.sha256()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            total = _expected_length(url, response)
            _check_free_space(url, destination, total)
            out = open(destination, "wb")
            try:
                last_report = 0.0
                while True:
                    chunk = response.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    try:
                        out.write(chunk)
                    except OSError as error:
                        raise _write_failed(error, destination, done) from None
                    digest.update(chunk)
                    done += len(chunk)
                    if time.monotonic() - last_report >= PROGRESS_EVERY_S:
                        last_report = time.monotonic()
                        _report_progress(progress, done, total)
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as error:
                    raise _write_failed(error, destination, done) from None
            finally:
                with contextlib.suppress(OSError):  # what is still buffered fails again; already reported
                    out.close()
            _report_progress(progress, done, total, final=True)
    except http.client.HTTPException as error:  # IncompleteRead: a chunked response cut short, a bad chunk size
        raise DownloadError(f"{url}: the response was cut off after {done:,} bytes "
                            f"({type(error).__name__}); try again") from None
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: download failed: {error}") from None
    if total is not None and done != total:
        raise DownloadError(f"{url}: got {done:,} bytes, the server announced {total:,} (connection cut?); "
                            "try again")
    return digest.hexdigest()


def _report_progress(stream, done: int, total: int, final: bool = False) -> None:
    size = f"{done / 1e6:,.1f} MB" + (f" of {total / 1e6:,.1f} MB ({done / total:.0%})" if total else "")
    print(f"\r  downloaded {size}", end="\n" if final else "", file=stream, flush=True)


def safe_members(archive: tarfile.TarFile) -> Dict[str, tarfile.TarInfo]:
    """relative output path -> member, for regular files only; refuses anything that could escape."""
    members = archive.getmembers()  # reads the whole stream: a truncated archive fails here
    files: Dict[str, tarfile.TarInfo] = {}
    for member in members:
        name = member.name
        normalized = posixpath.normpath(name)
        if name.startswith("/") or normalized == ".." or normalized.startswith("../") or "\\" in name:
            raise DownloadError(f"unsafe archive: member {name!r} would be written outside the output folder")
        if member.issym() or member.islnk():
            raise DownloadError(f"unsafe archive: member {name!r} is a link to {member.linkname!r}")
        if member.isdir():
            continue
        if not member.isfile():
            raise DownloadError(f"unsafe archive: member {name!r} is not a regular file or folder")
        files[normalized] = member
    if not files:
        raise DownloadError("the archive holds no files")
    return _without_common_top_folder(files)


def _without_common_top_folder(files: Dict[str, tarfile.TarInfo]) -> Dict[str, tarfile.TarInfo]:
    """``facades/train/1.jpg`` -> ``train/1.jpg``: the archive's own folder is the output folder."""
    tops = {path.split("/", 1)[0] for path in files}
    if len(tops) == 1 and all("/" in path for path in files):
        return {path.split("/", 1)[1]: member for path, member in files.items()}
    return files


def unpack(archive_path: str, output_dir: str) -> List[str]:
    """Verifies and unpacks the archive into ``output_dir`` (appears at the end); returns the files.

    The output folder appears only with a train/ folder of images in it.
    """
    staging = f"{os.path.abspath(output_dir).rstrip(os.sep)}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    written = 0
    try:
        with tarfile.open(archive_path, mode="r:gz") as archive:
            files = safe_members(archive)
            for relative, member in sorted(files.items()):
                target = os.path.join(staging, *relative.split("/"))
                try:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with archive.extractfile(member) as source, open(target, "wb") as out:
                        _copy(source, out)
                except _WriteFailed as failed:
                    raise _write_failed(failed.error, target, written + failed.written) from None
                except OSError as error:  # creating the folder or the file
                    if error.errno is None:
                        raise  # gzip.BadGzipFile: the archive's stream, reported below
                    raise _write_failed(error, target, written) from None
                written += member.size
        counts = count_images_by_split(staging)
        if not counts.get("train"):
            raise DownloadError(f"{archive_path}: the archive has no train/ folder of images; found {counts}")
        if os.path.isdir(output_dir):
            os.rmdir(output_dir)  # empty: checked before downloading
        os.replace(staging, output_dir)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise DownloadError(f"{archive_path}: not a valid tar.gz archive ({error}); a cut download or a damaged "
                            "file") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sorted(files)


class _WriteFailed(Exception):
    def __init__(self, error: OSError, written: int):
        super().__init__(str(error))
        self.error, self.written = error, written


def _copy(source, out) -> None:
    """shutil.copyfileobj, telling a failed write (disk full) from a failed read of the archive."""
    written = 0
    while True:
        chunk = source.read(CHUNK_BYTES)
        if not chunk:
            return
        try:
            out.write(chunk)
        except OSError as error:
            raise _WriteFailed(error, written) from None
        written += len(chunk)


def count_images_by_split(output_dir: str) -> Dict[str, int]:
    counts = {}
    for split in SPLIT_FOLDERS:
        folder = os.path.join(output_dir, split)
        if os.path.isdir(folder):
            counts[split] = sum(1 for name in os.listdir(folder)
                                if os.path.splitext(name)[1].lower() in SUPPORTED_EXTENSIONS)
    return counts


def fetch_dataset(name: str, output_dir: str, base_url: str = BASE_URL, sha256: Optional[str] = None,
                  progress=None) -> Dict[str, int]:
    """Download, verify, unpack; returns image counts per split folder. Progress goes to stderr by default."""
    progress = progress or sys.stderr
    url = dataset_url(name, base_url)
    if os.path.exists(output_dir) and (not os.path.isdir(output_dir) or os.listdir(output_dir)):
        raise DownloadError(f"{output_dir}: exists and is not an empty folder; choose a new output folder")
    parent = os.path.dirname(os.path.abspath(output_dir))
    os.makedirs(parent, exist_ok=True)
    handle, archive_path = tempfile.mkstemp(prefix=f".{name}-", suffix=".tar.gz", dir=parent)
    os.close(handle)
    try:
        print(f"downloading {url}", file=progress)
        digest = download(url, archive_path, progress)
        if sha256 and digest.lower() != sha256.lower():
            raise DownloadError(f"{url}: SHA-256 {digest} does not match the expected {sha256}")
        unpack(archive_path, output_dir)
    finally:
        if os.path.exists(archive_path):
            os.remove(archive_path)
    return count_images_by_split(output_dir)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data.download", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help=f"one of {', '.join(DATASETS)}")
    parser.add_argument("--output", required=True, help="folder to create (must not exist or be empty)")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the archive (optional)")
    parser.add_argument("--base-url", default=BASE_URL, help="where <name>.tar.gz is (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        counts = fetch_dataset(args.name, args.output, args.base_url, args.sha256)
    except DownloadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    splits = ", ".join(f"{split}/ {count}" for split, count in counts.items())
    print(f"{args.name}: {splits} images in {args.output} (aligned layout). Train on it with:\n"
          f"  make run ARGS=\"--set data.layout=aligned --set data.dataset_dir={os.path.abspath(args.output)}\"")
    return 0


if __name__ == "__main__":
    sys.exit(main())
