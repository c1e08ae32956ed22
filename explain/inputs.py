"""Image files for the CLI: expand paths, decode through the shared preprocessing, find head boxes.

Head boxes come from a prepared dataset's ``manifest.csv`` (``data/prepare.py``) in an ancestor
directory of the image: its ``head_*`` columns are in native crop pixels and are rescaled to the
model input size with the crop's own size.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from data.manifest import MANIFEST_NAME
from data.preprocessing import IMAGE_SUFFIXES, ImageDecodeError, PreprocessSpec


@dataclass
class LoadedImages:
    pixels: np.ndarray  # uint8 (N, S, S, 3)
    paths: list[Path]
    boxes: list[tuple[float, float, float, float] | None]
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files as given (any suffix: a bad one is reported when decoded), directories -> their image
    files (recursively, sorted, hidden files and folders ignored). Missing paths are kept so that they
    are reported as skips."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES
                          and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            out.append(p)
    return out


@lru_cache(maxsize=32)
def _manifest_rows(manifest: Path) -> dict[str, dict]:
    with manifest.open(newline="") as f:
        return {row["crop"]: row for row in csv.DictReader(f) if row.get("crop")}


def _find_manifest(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        candidate = parent / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    return None


def head_box(path: Path, input_size: int) -> tuple[float, float, float, float] | None:
    """The head box of a prepared crop in model-input pixels, or None when no manifest knows it."""
    manifest = _find_manifest(path)
    if manifest is None:
        return None
    try:
        row = _manifest_rows(manifest).get(path.resolve().relative_to(manifest.parent.resolve()).as_posix())
        if row is None:
            return None
        cw = float(row["crop_x1"]) - float(row["crop_x0"])
        ch = float(row["crop_y1"]) - float(row["crop_y0"])
        head = [float(row[f"head_{k}"]) for k in ("x0", "y0", "x1", "y1")]
    except (KeyError, ValueError, OSError, csv.Error):
        return None
    if cw <= 0 or ch <= 0:
        return None
    sx, sy = input_size / cw, input_size / ch
    return (head[0] * sx, head[1] * sy, head[2] * sx, head[3] * sy)


def load_images(paths: list[str | Path], spec: PreprocessSpec) -> LoadedImages:
    """Decode every path through ``spec.load_uint8``; undecodable ones become counted skips."""
    pixels, kept, boxes, skipped = [], [], [], []
    for path in expand_paths(paths):
        try:
            pixels.append(spec.load_uint8(path))
        except ImageDecodeError as e:
            skipped.append({"path": str(path), "reason": str(e)})
            continue
        kept.append(path)
        boxes.append(head_box(path, spec.input_size))
    size = spec.input_size
    array = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
    return LoadedImages(array, kept, boxes, skipped)
