"""Writing artifacts safely: atomic files and directories, sizes, hashes, and per-stage timing logs."""

from __future__ import annotations

import contextlib
import errno
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

from data.errors import OutputExistsError, ToolchainError

__all__ = ["OutputExistsError", "OutputWriteError", "STAGE_SECONDS", "human_bytes", "path_bytes", "sha256", "stage",
           "staged_directory", "write_bytes", "write_json", "write_text"]

log = logging.getLogger("export")
# The errors of a file system that has no room left (or a file-size limit): the user frees space and re-runs.
NO_ROOM = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
STAGE_SECONDS: dict[str, float] = {}


class OutputWriteError(ToolchainError):
    """An output that could not be written: the disk is full, a file-size limit was hit."""


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


def write_bytes(path: Path, data: bytes | str) -> Path:
    """Write a file atomically (a temporary file in the same directory, then a rename), readable by all.

    A failed write raises OSError naming ``path`` (a bare ``write()`` failure names no file)."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are files to hand on
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text)


def write_json(path: Path, obj) -> Path:
    """Write JSON atomically (temporary file in the same directory, then rename)."""
    return write_bytes(path, json.dumps(obj, indent=2) + "\n")


def _unwritten(error: BaseException, out: Path, existed: bool) -> OutputWriteError | None:
    """The error to raise for a write that failed for lack of room, or None for any other failure."""
    if isinstance(error, OutputWriteError):
        reason = str(error)
    elif isinstance(error, OSError) and error.errno in NO_ROOM:
        reason = f"{error.strerror}" + (f" ({error.filename})" if error.filename else "")
    else:
        return None
    kept = f"the previous {out} is unchanged" if existed else f"nothing was written to {out}"
    return OutputWriteError(f"could not write the export to {out}: {reason}; {kept}")


@contextlib.contextmanager
def staged_directory(out: Path, force: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory beside ``out``; on success it replaces ``out`` in one rename,
    on any failure it is removed, so a crashed export never leaves a half-written ``out``.

    A full disk (or a file-size limit) becomes one OutputWriteError that says ``out`` was left as it was."""
    out = Path(out)
    existed = out.exists()
    if existed and not force:
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
    except BaseException as e:
        shutil.rmtree(staging, ignore_errors=True)
        unwritten = _unwritten(e, out, existed)
        if unwritten is not None:
            raise unwritten from e
        raise


def _written_paths(result) -> list[Path]:
    if isinstance(result, (str, os.PathLike)):
        return [Path(result)]
    if isinstance(result, (tuple, list)):
        return [Path(p) for p in result if isinstance(p, (str, os.PathLike))]
    return []


def stage(name: str) -> Callable:
    """Decorator for one export stage: logs its time and the size of the path(s) it returns (as YOLOv5 does).

    A stage returns the path it wrote, a tuple of paths, or a result that is not a file (logged without size)."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            seconds = time.perf_counter() - start
            paths = _written_paths(result)
            size = human_bytes(sum(path_bytes(p) for p in paths)) if paths else "-"
            log.info("%-18s %6.1f s  %10s  %s", name, seconds, size, ", ".join(p.name for p in paths))
            STAGE_SECONDS[name] = seconds
            return result

        return run

    return decorate
