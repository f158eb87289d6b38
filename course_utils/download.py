"""Fetching the course's datasets, checked file by file against their sha256.

The registry (``datasets.tsv`` beside this file: dataset, file, bytes, sha256, url) lists every
file of every dataset. A file comes from, in this order: the data folder (already cached), a
mirror folder laid out like the registry (``MIRROR/Set5/baby.png``), or its public address.
Whatever its origin it is checked against its sha256 and written atomically (a temporary file
renamed into place), so a failed or tampered fetch leaves nothing behind.

The command line is ``python data_scripts/download.py [--list] [--mirror DIR] [--data-dir DIR] NAME...``.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DownloadError", "ChecksumError", "FileEntry", "registry", "sha256sum", "fetch_file",
           "fetch", "find_dataset", "status", "safe_extract", "socket_timeout", "vgg19_weights",
           "main"]

_REGISTRY_FILE = Path(__file__).with_name("datasets.tsv")
TIMEOUT_S = 20


class DownloadError(RuntimeError):
    """A dataset file could not be fetched; the message says what to do."""


class ChecksumError(DownloadError):
    """A file's sha256 is not the registry's."""


@dataclass(frozen=True)
class FileEntry:
    dataset: str
    file: str  # path relative to the data folder, e.g. "Set5/baby.png"
    size: int
    sha256: str
    url: str


def registry() -> dict[str, list[FileEntry]]:
    """Dataset name -> its files, from ``datasets.tsv``."""
    out: dict[str, list[FileEntry]] = {}
    lines = _REGISTRY_FILE.read_text().splitlines()
    for line in lines[1:]:
        if not line.strip():
            continue
        ds, file, size, sha, url = line.split("\t")
        out.setdefault(ds, []).append(FileEntry(ds, file, int(size), sha, url))
    return out


def sha256sum(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _is_good(path: Path, entry: FileEntry) -> bool:
    return path.is_file() and path.stat().st_size == entry.size and sha256sum(path) == entry.sha256


def fetch_file(entry: FileEntry, data_dir: Path, mirror: Path | None = None,
               network: bool = True) -> tuple[Path, str]:
    """Make ``data_dir/entry.file`` a verified copy; return (path, where it came from).

    Raises:
        ChecksumError: the bytes from the mirror or the network are not the registry's
            (nothing is written).
        DownloadError: no source could provide the file.
    """
    target = Path(data_dir) / entry.file
    if _is_good(target, entry):
        return target, "cached"
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            source = _copy_from_source(entry, out, mirror, network)
        actual = sha256sum(tmp)
        if actual != entry.sha256:
            raise ChecksumError(f"{entry.file}: sha256 mismatch (from {source}).\n"
                                f"  expected {entry.sha256}\n  actual   {actual}\n"
                                "The copy is corrupt or was changed; nothing was written. Fetch it "
                                "again, or repair the mirror.")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files
        os.replace(tmp, target)
        return target, source
    finally:
        if tmp.exists():
            tmp.unlink()
        try:  # leave no empty folder behind after a failure
            target.parent.rmdir()
        except OSError:
            pass


def _copy_from_source(entry: FileEntry, out, mirror: Path | None, network: bool) -> str:
    if mirror is not None:
        src = Path(mirror) / entry.file
        if src.is_file():
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out)
            return f"mirror {src}"
        if not network:
            raise DownloadError(f"{entry.file}: not in the mirror {mirror}")
    if not network:
        raise DownloadError(f"{entry.file}: not cached and downloads are off. Use a mirror: "
                            "--mirror DIR or COURSE_DATA_MIRROR=DIR (a folder laid out like "
                            f"DIR/{entry.file}).")
    try:
        with urllib.request.urlopen(entry.url, timeout=TIMEOUT_S) as r:
            shutil.copyfileobj(r, out)
    except (urllib.error.URLError, socket.timeout, TimeoutError, OSError) as e:
        raise DownloadError(
            f"{entry.file}: download failed ({e}).\n  address: {entry.url}\n"
            "Offline? Copy the course's data mirror to this machine and use "
            "--mirror DIR (or set COURSE_DATA_MIRROR=DIR); DIR holds one folder per dataset "
            f"(e.g. DIR/{entry.file}).") from None
    return entry.url


def fetch(name: str, data_dir: Path, mirror: Path | None = None, network: bool = True,
          verbose: bool = True) -> Path:
    """Fetch every file of dataset ``name`` into ``data_dir``; return ``data_dir/name``."""
    reg = registry()
    if name not in reg:
        raise DownloadError(f"unknown dataset {name!r}; known: {', '.join(sorted(reg))}")
    counts: dict[str, int] = {}
    for entry in reg[name]:
        _, source = fetch_file(entry, data_dir, mirror, network)
        kind = source.split()[0] if source != entry.url else "network"
        counts[kind] = counts.get(kind, 0) + 1
    if verbose:
        how = ", ".join(f"{n} {k}" for k, n in counts.items())
        print(f"{name}: {len(reg[name])} files verified ({how}) in {Path(data_dir) / name}")
    return Path(data_dir) / name


def find_dataset(name: str, data_dir: Path, mirror: Path | None = None) -> Path | None:
    """The folder of dataset ``name`` if it can be had without the network, else None.

    Uses the cached copy in ``data_dir`` or copies it from ``mirror`` (verified). Notebooks use
    this, and fall back to built-in images when it returns None.
    """
    try:
        return fetch(name, data_dir, mirror, network=False, verbose=False)
    except DownloadError:
        return None


def status(name: str, data_dir: Path, mirror: Path | None = None) -> str:
    """Where dataset ``name`` would come from, without copying or hashing anything:
    ``"data folder"``, ``"mirror"`` or ``"absent"``."""
    entries = registry()[name]
    if all((Path(data_dir) / e.file).is_file() for e in entries):
        return "data folder"
    if mirror is not None and all((Path(mirror) / e.file).is_file() for e in entries):
        return "mirror"
    return "absent"


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a .zip or .tar(.gz) archive into ``dest``, refusing any member that would land
    outside it (absolute paths, ``..``, links pointing out)."""
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                p = (dest / name).resolve()
                if not p.is_relative_to(dest):
                    raise DownloadError(f"{archive}: member {name!r} would be written outside "
                                        f"{dest}; the archive is unsafe and was not extracted.")
            z.extractall(dest)
        return
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            try:
                t.extractall(dest, filter="data")
            except tarfile.FilterError as e:
                raise DownloadError(f"{archive}: {e}; the archive is unsafe and was not "
                                    "fully extracted.") from None
        return
    raise DownloadError(f"{archive}: not a zip or tar archive")


@contextlib.contextmanager
def socket_timeout(seconds: float):
    """Network calls inside the block give up after ``seconds`` (offline: fail fast, never hang)."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def vgg19_weights(download: bool = True, arch: str = "vgg19"):
    """ImageNet VGG-19 (or ``arch="vgg16"``: VGG-16) weights through torchvision's own API and
    cache (``torch.hub`` folder).

    Returns the state_dict, or raises DownloadError with what to do when the weights are not
    cached and cannot be downloaded (offline: no hang, the failure comes within seconds).
    """
    import torch
    from torchvision.models import VGG16_Weights, VGG19_Weights

    weights = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights}[arch].IMAGENET1K_V1
    label = {"vgg19": "VGG-19", "vgg16": "VGG-16"}[arch]
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not cached.is_file() and not download:
        raise DownloadError(f"{label} ImageNet weights are not in {cached.parent}. Run "
                            f"`python data_scripts/download.py {arch}` once while online.")
    try:
        with socket_timeout(TIMEOUT_S):
            return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as e:  # urllib errors, hash mismatch, ...
        if cached.is_file() and "hash" in str(e).lower():
            cached.unlink()
        raise DownloadError(f"{label} ImageNet weights could not be fetched ({e}). They are "
                            f"cached in {cached.parent}; copy {cached.name} there from a machine "
                            "that is online.") from None


def main(argv: list[str] | None = None) -> int:
    from .profiles import repo_root

    p = argparse.ArgumentParser(prog="python data_scripts/download.py",
                                description="Fetch the course's datasets (sha256-checked).")
    p.add_argument("names", nargs="*", help="datasets to fetch (see --list), or 'all', or 'vgg19'/'vgg16'")
    p.add_argument("--list", action="store_true", help="list the datasets and exit")
    p.add_argument("--mirror", type=Path, default=os.environ.get("COURSE_DATA_MIRROR"),
                   help="a local folder laid out like the course's mirror (default: $COURSE_DATA_MIRROR)")
    p.add_argument("--data-dir", type=Path,
                   default=os.environ.get("COURSE_DATA_DIR") or repo_root() / "data",
                   help="where the data goes (default: $COURSE_DATA_DIR or data/)")
    p.add_argument("--offline", action="store_true", help="never use the network")
    args = p.parse_args(argv)
    reg = registry()
    if args.list or not args.names:
        print(f"{'dataset':10} {'files':>5} {'MB':>7}  state in {args.data_dir}")
        for name, entries in sorted(reg.items()):
            mb = sum(e.size for e in entries) / 1e6
            have = sum((Path(args.data_dir) / e.file).is_file() for e in entries)
            state = "complete" if have == len(entries) else f"{have}/{len(entries)} files"
            print(f"{name:10} {len(entries):5d} {mb:7.1f}  {state}")
        print(f"{'vgg19':10} {1:5d} {548.1:7.1f}  ImageNet weights via torchvision's cache")
        print(f"{'vgg16':10} {1:5d} {527.8:7.1f}  ImageNet weights via torchvision's cache")
        return 0
    names = sorted(reg) if args.names == ["all"] else args.names
    status = 0
    for name in names:
        try:
            if name in ("vgg19", "vgg16"):
                vgg19_weights(download=not args.offline, arch=name)
                print(f"{name}: ImageNet weights ready in torchvision's cache")
            else:
                fetch(name, args.data_dir, args.mirror, network=not args.offline)
        except DownloadError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
    return status
