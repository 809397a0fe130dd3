"""Where dataset files come from: data folders, the download cache, and the internet.

Search order for a dataset's files:

1. the ``data_dir`` argument (``learnres train --data-dir DIR``), else the folder in the
   environment variable ``LEARNRES_DATA_DIR``. Data folders are only read, never written:
   they may be read-only (``../shared/datasets``) and may hold the archives or the
   extracted folders.
2. the download cache: the ``cache_dir`` argument, else ``LEARNRES_CACHE_DIR``, else
   ``pooch.os_cache("learnres")`` (``~/.cache/learnres`` on Linux).

When neither has the files, they are downloaded into the cache with ``pooch``, which
streams each file to a temporary name in the cache folder, checks its MD5 and only then
moves it into place: a failed or corrupted download leaves nothing behind. Files found in a
data folder are not checksummed (copies re-compressed by another tool have other digests),
but their readers check their structure.

The download base URL is the official one per dataset, or ``LEARNRES_DATA_URL`` (or the
``base_url`` argument) for a mirror that serves all files flat under one URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pooch

__all__ = [
    "Remote",
    "REMOTES",
    "ChecksumError",
    "DatasetNotFoundError",
    "cache_dir",
    "data_dir_from_env",
    "search_dirs",
    "download",
    "not_found_message",
]

ENV_DATA_DIR = "LEARNRES_DATA_DIR"
ENV_CACHE_DIR = "LEARNRES_CACHE_DIR"
ENV_DATA_URL = "LEARNRES_DATA_URL"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is in none of the searched folders and could not be downloaded."""


class ChecksumError(ValueError):
    """A downloaded file's digest differs from the known one; the file was deleted.

    Attributes: ``url``, ``expected`` and ``actual`` ("md5:<hex>").
    """

    def __init__(self, message: str, url: str, expected: str, actual: str | None):
        super().__init__(message)
        self.url, self.expected, self.actual = url, expected, actual


@dataclass(frozen=True)
class Remote:
    """The official download of a dataset.

    Attributes:
        title: the dataset's name for people ("CIFAR-10").
        base_url: URL of the folder holding ``files``, ending in "/".
        files: file name -> known hash ("md5:<hex>", as pooch writes it).
        cache_subdir: folder inside the cache the files go to ("" for the cache itself).
        unpacked: what the files unpack to, for messages ("the folder cifar-10-batches-py/").
    """

    title: str
    base_url: str
    files: Mapping[str, str]
    cache_subdir: str = ""
    unpacked: str = ""
    homepage: str = field(default="", compare=False)

    def url(self, name: str, base_url: str | None = None) -> str:
        """The URL of file ``name``: ``base_url`` (or LEARNRES_DATA_URL) + name."""
        base = base_url or os.environ.get(ENV_DATA_URL) or self.base_url
        return base.rstrip("/") + "/" + name


REMOTES: dict[str, Remote] = {
    "cifar10": Remote(
        title="CIFAR-10",
        base_url="https://www.cs.toronto.edu/~kriz/",
        files={"cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a"},
        unpacked="cifar-10-batches-py/",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "cifar100": Remote(
        title="CIFAR-100",
        base_url="https://www.cs.toronto.edu/~kriz/",
        files={"cifar-100-python.tar.gz": "md5:eb9058c3a382ffc7106e4002c42a8d85"},
        unpacked="cifar-100-python/",
        homepage="https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    # MD5s of the official files, as published with torchvision's FashionMNIST
    "fashion-mnist": Remote(
        title="Fashion-MNIST",
        base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        files={
            "train-images-idx3-ubyte.gz": "md5:8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "md5:25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "md5:bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "md5:bb300cfdad3c16e7a12a480ee83cd310",
        },
        cache_subdir="fashion-mnist",
        homepage="https://github.com/zalandoresearch/fashion-mnist",
    ),
}


def cache_dir(path: str | Path | None = None) -> Path:
    """The download cache: ``path``, else $LEARNRES_CACHE_DIR, else pooch.os_cache("learnres")."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env).expanduser() if env else Path(pooch.os_cache("learnres"))


def data_dir_from_env(path: str | Path | None = None) -> Path | None:
    """The data folder: ``path``, else $LEARNRES_DATA_DIR, else None."""
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else None


def search_dirs(data_dir: str | Path | None = None, cache: str | Path | None = None) -> list[Path]:
    """Folders searched, in order: the data folder (argument or env), then the cache."""
    dirs = [d for d in (data_dir_from_env(data_dir), cache_dir(cache)) if d is not None]
    return list(dict.fromkeys(dirs))  # drop a repeat, keep the order


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    text = text if len(text) < 300 else text[:300] + "..."
    return f"{type(error).__name__}: {text}"


def not_found_message(
    remote: Remote,
    names: Sequence[str],
    dirs: Sequence[Path],
    reason: str,
    base_url: str | None = None,
) -> str:
    """The message of a ``DatasetNotFoundError``: where we looked and how to fix it by hand.

    ``dirs`` are the searched folders, the cache last (as ``search_dirs`` gives them).
    """
    lines = []
    for n in names:
        url, official = remote.url(n, base_url), remote.base_url + n
        also = "" if url == official else f"\n      (official: {official})"
        lines.append(f"    {url}  ({remote.files[n].replace(':', ' ')}){also}")
    cache = dirs[-1] if dirs else cache_dir()
    data_dirs = [d for d in dirs if d != cache]
    what = ", ".join(names)
    if remote.unpacked:
        what += f", or the folder {remote.unpacked} it unpacks to,"
    target = (
        f"    {data_dirs[0]}  (the data folder given)\n  or into the download cache {cache}"
        if data_dirs
        else f"    a folder DIR and pass --data-dir DIR (learnres train), data_dir=DIR, or set "
        f"{ENV_DATA_DIR}=DIR,\n  or into the download cache {cache}"
    )
    return (
        f"{remote.title} not found, and {reason}.\n"
        "  Looked in:\n" + "\n".join(f"    {d}" for d in dirs) + "\n"
        "  To get it by hand, download\n" + "\n".join(lines) + "\n"
        f"  and put {what} into\n{target}, which is always searched.\n"
        f"  (Data folders: --data-dir DIR or {ENV_DATA_DIR}=DIR. {ENV_CACHE_DIR} moves the "
        f"cache; {ENV_DATA_URL} downloads from a mirror.)"
    )


def download(
    remote: Remote,
    names: Sequence[str],
    dirs: Sequence[Path],
    *,
    cache: str | Path | None = None,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    progressbar: bool = True,
) -> Path:
    """Download ``names`` of ``remote`` into the cache with pooch; the folder holding them.

    Arguments:
        remote: the dataset's ``Remote``.
        names: the files needed (a subset of ``remote.files``).
        dirs: the folders searched (for the message when the download fails).
        cache: the cache folder (default: see ``cache_dir``).
        base_url: download from here instead of the official URL (a mirror, a test server).
        checksums: file name -> "md5:<hex>" replacing the known hashes (tests, mirrors).
        progressbar: show tqdm bars while downloading.

    Raises:
        ChecksumError: a file arrived with another digest; pooch deleted it.
        DatasetNotFoundError: the download failed (no network, 404, ...); the message says
            which URLs to fetch by hand and where to put the files.
    """
    folder = cache_dir(cache) / remote.cache_subdir
    hashes = {**remote.files, **(checksums or {})}
    for name in names:
        url = remote.url(name, base_url)
        try:
            pooch.retrieve(
                url,
                known_hash=hashes[name],
                fname=name,
                path=folder,
                progressbar=progressbar,
            )
        except ValueError as e:  # pooch: "... expected md5:<hex> but got <hex>. Deleted ..."
            if "hash" not in str(e):
                raise
            got = re.search(r"but got ([0-9a-fA-F]+)", str(e))
            algorithm = hashes[name].split(":")[0] if ":" in hashes[name] else "sha256"
            actual = f"{algorithm}:{got.group(1)}" if got else None
            raise ChecksumError(
                f"checksum mismatch for {url}: expected {hashes[name]}, got {actual or str(e)}. "
                f"The download was deleted and not used. If you trust this file (a mirror that "
                f"serves another version), pass checksums={{{name!r}: {actual!r}}}; otherwise "
                f"try again or download it by hand from {remote.homepage or remote.base_url}.",
                url,
                hashes[name],
                actual,
            ) from e
        except Exception as e:  # requests' ConnectionError, HTTPError, timeouts, OSError
            reason = f"downloading {url} failed ({_short(e)})"
            raise DatasetNotFoundError(
                not_found_message(remote, names, dirs, reason, base_url)
            ) from e
    return folder
