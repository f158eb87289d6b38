"""Fetching the course's datasets, checked file by file against their sha256.

The registry (``datasets.tsv`` beside this file: dataset, file, bytes, sha256, url) lists every
file of every dataset. A file comes from, in this order: the data folder (already cached), a
mirror folder laid out like the registry (``MIRROR/Set5/baby.png``), or its public address.
Whatever its origin it is checked against its size and sha256 and written atomically (a temporary
``.part`` file renamed into place), so a failed, interrupted or tampered fetch leaves nothing behind;
``.part`` files of an earlier run that was killed are removed by the next fetch.

The command line is ``python data_scripts/download.py [--list] [--mirror DIR] [--data-dir DIR] NAME...``.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import hashlib
import os
import signal
import socket
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DownloadError", "ChecksumError", "FileEntry", "registry", "sha256sum", "fetch_file",
           "fetch", "locate", "status", "socket_timeout", "vgg19_weights", "main"]

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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _remove_stale_parts(target: Path) -> None:
    """Delete ``.NAME.PID.xxxx.part`` files left beside ``target`` by a fetch that was killed
    (its process is gone). A fetch still running in another process keeps its file."""
    for part in target.parent.glob(f".{glob.escape(target.name)}.*.part"):
        pid = part.name[len(target.name) + 2:].split(".")[0]
        if not (pid.isdigit() and _pid_alive(int(pid))):
            part.unlink(missing_ok=True)


def _data_dir_error(data_dir: Path, e: OSError) -> DownloadError:
    return DownloadError(
        f"cannot write to the data folder {data_dir} ({e.strerror or e}). If the course folder is "
        "read-only or the folder is not yours, set COURSE_DATA_DIR to a writable folder (for "
        "example COURSE_DATA_DIR=~/.cache/pixels-from-nothing) or pass --data-dir DIR.")


def _mirror_error(mirror: Path, e: OSError) -> DownloadError:
    return DownloadError(
        f"cannot read the mirror {mirror} ({e.strerror or e}). Point COURSE_DATA_MIRROR (or "
        "--mirror) at a readable folder laid out like MIRROR/Set5/baby.png, or unset it.")


def fetch_file(entry: FileEntry, data_dir: Path, mirror: Path | None = None,
               network: bool = True) -> tuple[Path, str]:
    """Make ``data_dir/entry.file`` a verified copy; return (path, where it came from).

    Raises:
        ChecksumError: the bytes from the mirror or the network are not the registry's (a file
            of the wrong size is refused before it is copied; nothing is written).
        DownloadError: no source could provide the file, the data folder cannot be written or
            the mirror cannot be read (the message says what to do).
    """
    data_dir = Path(data_dir)
    target = data_dir / entry.file
    try:
        _remove_stale_parts(target)
        if _is_good(target, entry):
            return target, "cached"
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".part",
                                        dir=target.parent)
    except OSError as e:
        _remove_empty_folders(target.parent, data_dir)
        raise _data_dir_error(data_dir, e) from None
    tmp = Path(tmp_name)
    try:  # KeyboardInterrupt (and SIGTERM in the command line, see main) end here too
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
    except OSError as e:  # disk full, folder removed meanwhile, ...
        raise _data_dir_error(data_dir, e) from None
    finally:
        tmp.unlink(missing_ok=True)
        _remove_empty_folders(target.parent, data_dir)  # none left behind after a failure


def _remove_empty_folders(folder: Path, top: Path) -> None:
    """Remove ``folder`` and its parents below ``top`` while they are empty."""
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _copy_at_most(src, out, limit: int, what: str) -> None:
    """Copy ``src`` to ``out`` in blocks; refuse (ChecksumError) once more than ``limit`` bytes came."""
    n = 0
    while block := src.read(1 << 20):
        n += len(block)
        if n > limit:
            raise ChecksumError(f"{what} is larger than the registry's {limit} bytes; it is not "
                                "the right file and was not kept. Fetch it again, or repair the mirror.")
        out.write(block)


def _copy_from_source(entry: FileEntry, out, mirror: Path | None, network: bool) -> str:
    if mirror is not None:
        src = Path(mirror) / entry.file
        try:
            found = src.is_file()
            if found:
                size = src.stat().st_size
                if size != entry.size:  # refused by its size: never copied or hashed in full
                    raise ChecksumError(
                        f"{entry.file}: the mirror's copy {src} has {size} bytes, the registry says "
                        f"{entry.size}; it was not copied. Repair the mirror (or fetch from the "
                        "network without --mirror).")
                with open(src, "rb") as f:
                    _copy_at_most(f, out, entry.size, f"{entry.file} from the mirror {src}")
                return f"mirror {src}"
        except ChecksumError:
            raise
        except OSError as e:
            raise _mirror_error(Path(mirror), e) from None
        if not network:
            raise DownloadError(f"{entry.file}: not in the mirror {mirror}")
    if not network:
        raise DownloadError(f"{entry.file}: not cached and downloads are off. Use a mirror: "
                            "--mirror DIR or COURSE_DATA_MIRROR=DIR (a folder laid out like "
                            f"DIR/{entry.file}).")
    try:
        with urllib.request.urlopen(entry.url, timeout=TIMEOUT_S) as r:
            _copy_at_most(r, out, entry.size, f"{entry.file} from {entry.url}")
    except (urllib.error.URLError, socket.timeout, TimeoutError, OSError) as e:
        raise DownloadError(
            f"{entry.file}: download failed ({e}).\n  address: {entry.url}\n"
            "Offline? Copy the course's data mirror to this machine and use "
            "--mirror DIR (or set COURSE_DATA_MIRROR=DIR); DIR holds one folder per dataset "
            f"(e.g. DIR/{entry.file}).") from None
    return entry.url


def _fetch(name: str, data_dir: Path, mirror: Path | None, network: bool
           ) -> tuple[Path, dict[str, int]]:
    reg = registry()
    if name not in reg:
        raise DownloadError(f"unknown dataset {name!r}; known: {', '.join(sorted(reg))}")
    if mirror is not None and Path(mirror).exists() and not Path(mirror).is_dir():
        raise DownloadError(f"the mirror {mirror} is a file, not a folder. Point "
                            "COURSE_DATA_MIRROR (or --mirror) at the folder holding Set5/, T91/, ...")
    counts: dict[str, int] = {}
    for entry in reg[name]:
        _, source = fetch_file(entry, data_dir, mirror, network)
        kind = source.split()[0] if source != entry.url else "network"
        counts[kind] = counts.get(kind, 0) + 1
    # the dataset's folder: its files' top folder (``mnist-train`` lives in ``mnist/``)
    return Path(data_dir) / Path(reg[name][0].file).parts[0], counts


def fetch(name: str, data_dir: Path, mirror: Path | None = None, network: bool = True,
          verbose: bool = True) -> Path:
    """Fetch every file of dataset ``name`` into ``data_dir``; return the dataset's folder."""
    folder, counts = _fetch(name, data_dir, mirror, network)
    if verbose:
        how = ", ".join(f"{n} {k}" for k, n in counts.items())
        print(f"{name}: {sum(counts.values())} files verified ({how}) in {folder}")
    return folder


def locate(name: str, data_dir: Path, mirror: Path | None = None) -> tuple[Path | None, str]:
    """Dataset ``name`` without the network: ``(folder, "data folder" or "mirror")``, or
    ``(None, why)`` when it cannot be had (absent, unreadable mirror, unwritable data folder...).

    Copies from ``mirror`` into ``data_dir`` (verified) when needed. Never raises DownloadError.
    """
    try:
        folder, counts = _fetch(name, data_dir, mirror, network=False)
    except DownloadError as e:
        return None, str(e).splitlines()[0]
    return folder, "mirror" if counts.get("mirror") else "data folder"



def status(name: str, data_dir: Path, mirror: Path | None = None) -> str:
    """Where dataset ``name`` would come from, without copying or hashing anything:
    ``"data folder"``, ``"mirror"`` or ``"absent"`` (also when a folder cannot be read)."""
    entries = registry()[name]
    try:
        if all((Path(data_dir) / e.file).is_file() for e in entries):
            return "data folder"
    except OSError:
        pass
    try:
        if mirror is not None and all((Path(mirror) / e.file).is_file() for e in entries):
            return "mirror"
    except OSError:
        pass
    return "absent"


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


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Inside the block SIGTERM raises KeyboardInterrupt, so ``finally`` clauses run and no
    ``.part`` file is left behind by ``kill``."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def main(argv: list[str] | None = None) -> int:
    from .profiles import default_data_dir

    p = argparse.ArgumentParser(prog="python data_scripts/download.py",
                                description="Fetch the course's datasets (sha256-checked).")
    p.add_argument("names", nargs="*", help="datasets to fetch (see --list), or 'all', or 'vgg19'/'vgg16'")
    p.add_argument("--list", action="store_true", help="list the datasets and exit")
    p.add_argument("--mirror", type=Path, default=os.environ.get("COURSE_DATA_MIRROR"),
                   help="a local folder laid out like the course's mirror (default: $COURSE_DATA_MIRROR)")
    p.add_argument("--data-dir", type=Path,
                   default=default_data_dir(),
                   help="where the data goes (default: $COURSE_DATA_DIR, else data/ in the course "
                        "folder, or ~/.cache/pixels-from-nothing/data for an installed package)")
    p.add_argument("--offline", action="store_true", help="never use the network")
    args = p.parse_args(argv)
    reg = registry()
    if args.list or not args.names:
        print(f"{'dataset':10} {'files':>5} {'MB':>7}  state in {args.data_dir}")
        for name, entries in sorted(reg.items()):
            mb = sum(e.size for e in entries) / 1e6
            try:
                have = sum((Path(args.data_dir) / e.file).is_file() for e in entries)
            except OSError as e:
                print(f"error: cannot read the data folder {args.data_dir} ({e.strerror}); set "
                      "COURSE_DATA_DIR or --data-dir to a folder of yours.", file=sys.stderr)
                return 1
            state = "complete" if have == len(entries) else f"{have}/{len(entries)} files"
            print(f"{name:10} {len(entries):5d} {mb:7.1f}  {state}")
        print(f"{'vgg19':10} {1:5d} {548.1:7.1f}  ImageNet weights via torchvision's cache")
        print(f"{'vgg16':10} {1:5d} {527.8:7.1f}  ImageNet weights via torchvision's cache")
        return 0
    names = sorted(reg) if args.names == ["all"] else args.names
    status = 0
    with _sigterm_as_interrupt():
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
            except KeyboardInterrupt:
                print(f"interrupted while fetching {name}: no partial file was left; run the same "
                      "command again to finish.", file=sys.stderr)
                return 130
    return status
