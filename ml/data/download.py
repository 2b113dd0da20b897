"""Fetch an official MovieLens zip from GroupLens: checksum, progress bar, nothing left half-done.

``python -m ml.data download ml-32m --to DIR`` (or ml-25m, ml-1m, ml-100k, ml-latest-small).
"""

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Final

from tqdm import tqdm

DEFAULT_MIRROR: Final = "https://files.grouplens.org/datasets/movielens"
#: Points downloads at another server (a local mirror, or a fake one in tests).
MIRROR_ENV: Final = "CINEMATCH_DATA_MIRROR"
#: Seconds to wait for a connection, and for each read once connected. Short so that a machine
#: without network fails at once instead of hanging.
DOWNLOAD_TIMEOUT: Final = 5.0
DOWNLOADABLE: Final = ("ml-100k", "ml-1m", "ml-latest-small", "ml-25m", "ml-32m")
#: md5 of the official zips as GroupLens publishes them in ``<name>.zip.md5``. ml-latest-small
#: is left out on purpose: GroupLens regenerates it now and then, so its published ``.md5`` file
#: is fetched and trusted instead of a pin that would go stale.
KNOWN_MD5: Final[dict[str, str]] = {
    "ml-100k": "0e33842e24a9c977be4e0107933c0723",
    "ml-1m": "c4d9eecfca2ab87c1945afe126590906",
    "ml-25m": "6b51fb2759a8657d3bfcbfc42b592ada",
    "ml-32m": "d472be332d4daa821edc399621853b57",
}
_CHUNK_BYTES: Final = 1 << 20


class DownloadError(RuntimeError):
    """A release could not be fetched, verified or unpacked."""


def _open_url(url: str, timeout: float) -> http.client.HTTPResponse:
    """Open an http(s) URL, turning every way it can fail into one readable DownloadError."""
    if not url.startswith(("http://", "https://")):
        raise DownloadError(f"cannot download {url}: only http and https are supported")
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"download of {url} failed (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise DownloadError(f"download of {url} failed ({reason}); no network? pass a local "
                            "--data DIR instead") from None


def _published_md5(url: str, timeout: float) -> str:
    """Read GroupLens' ``<zip>.md5``, written either as "MD5 (x.zip) = hex" or "hex  x.zip"."""
    with _open_url(url, timeout) as response:
        text = response.read(4096).decode("ascii", errors="replace")
    match = re.search(r"\b[0-9a-fA-F]{32}\b", text)
    if match is None:
        raise DownloadError(f"{url} holds no md5 checksum")
    return match.group(0).lower()


def _fetch(url: str, target: Path, timeout: float, label: str) -> str:
    """Stream ``url`` into ``target`` with a progress bar; return the md5 of what was written."""
    digest = hashlib.md5(usedforsecurity=False)
    with _open_url(url, timeout) as response, target.open("wb") as out:
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                  disable=None) as bar:
            try:
                while chunk := response.read(_CHUNK_BYTES):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            except OSError as exc:
                raise DownloadError(f"download of {url} broke off ({exc}); run it again") from None
    return digest.hexdigest()


def download(name: str, to: str | Path, *, base_url: str | None = None,
             timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Fetch GroupLens' ``<name>.zip`` into ``to``, verify its md5, unpack it, return the folder.

    The md5 is pinned in ``KNOWN_MD5``, else fetched from GroupLens' ``<name>.zip.md5``. On a
    mismatch or any failure the download is deleted; the zip is removed after unpacking.
    ``base_url`` (or ``$CINEMATCH_DATA_MIRROR``) replaces the GroupLens address.
    """
    if name not in DOWNLOADABLE:
        raise DownloadError(f"unknown release {name!r}; choose one of {', '.join(DOWNLOADABLE)}")
    base = (base_url or os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).rstrip("/")
    url = f"{base}/{name}.zip"
    expected = KNOWN_MD5.get(name) or _published_md5(f"{url}.md5", timeout)
    folder = Path(to)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{name}.zip"
    partial = folder / f"{name}.zip.part"
    try:
        actual = _fetch(url, partial, timeout, name)
        if actual != expected:
            raise DownloadError(f"checksum mismatch for {url}: expected md5 {expected}, got "
                                f"{actual}; the download was deleted")
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(folder)  # refuses absolute and ".." member paths
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive} is not a valid zip ({exc})") from None
    finally:
        archive.unlink(missing_ok=True)
    release = folder / name
    if not release.is_dir():
        raise DownloadError(f"{name}.zip did not contain a {name}/ folder")
    return release
