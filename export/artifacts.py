"""Writing artifacts safely: atomic files and directories, sizes, hashes, and per-stage timing logs."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger("export")


class OutputExistsError(FileExistsError):
    pass


def path_bytes(path: Path) -> int:
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def sha256(path: Path) -> str:
    """SHA-256 of a file, or of a directory's files (relative names and contents, in sorted order)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            digest.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def write_json(path: Path, obj) -> Path:
    """Write JSON atomically (temporary file in the same directory, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def staged_directory(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory beside ``out``; on success it replaces ``out`` in one rename,
    on any failure it is removed, so a crashed export never leaves a half-written ``out``."""
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f"output directory {out} already exists (use --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        yield staging
        if out.exists():
            trash = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, trash / out.name)
            os.replace(staging, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def stage(name: str) -> Callable:
    """Decorator for one export stage returning the path it wrote: logs its time and size (as YOLOv5 does)."""

    def decorate(fn: Callable[..., Path]) -> Callable[..., Path]:
        @functools.wraps(fn)
        def run(*args, **kwargs) -> Path:
            start = time.perf_counter()
            path = fn(*args, **kwargs)
            seconds = time.perf_counter() - start
            log.info("%-18s %6.1f s  %10s  %s", name, seconds, human_bytes(path_bytes(path)), Path(path).name)
            STAGE_SECONDS[name] = seconds
            return path

        return run

    return decorate


STAGE_SECONDS: dict[str, float] = {}
