"""The manifest of a prepared dataset (``data.prepare``): one CSV row per head crop.

Columns (geometry in the source photo's pixels unless said otherwise):

- ``crop``: the crop's path relative to the prepared root, ``{split}/{class}/{dataset}__{stem}_{k}.png``;
- ``dataset``: the name of the dataset (source) it was cut from; ``image``: the photo, relative to that
  dataset's root; ``annotation``: its annotation file; ``object``: the box's index in it;
- ``class`` (project label), ``source_class`` (as annotated), ``split``;
- ``box_*``: the annotated head box; ``crop_*``: the crop window (x1/y1 exclusive); ``head_*``: the head
  box in crop pixels; ``image_width``/``image_height``: the decoded photo's size;
- ``photo_group``: the photo's near-duplicate group (``dataset:image`` of its first photo), which the
  split keeps together; ``training_only``: 1 when its dataset only ever trains.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MANIFEST_NAME = "manifest.csv"
SKIPPED_NAME = "skipped.csv"
REPORT_NAME = "prepare_report.json"
MANIFEST_COLUMNS = (
    "crop", "dataset", "image", "class", "split",
    "box_x0", "box_y0", "box_x1", "box_y1",
    "crop_x0", "crop_y0", "crop_x1", "crop_y1",
    "head_x0", "head_y0", "head_x1", "head_y1",
    "object", "source_class", "image_width", "image_height", "annotation", "photo_group", "training_only",
)
SKIPPED_COLUMNS = ("dataset", "image", "object", "reason", "detail", "annotation")


@dataclass(frozen=True)
class CropInfo:
    dataset: str
    photo_group: str
    head: tuple[float, float, float, float]    # head box in crop pixels
    crop_size: tuple[float, float]             # (width, height) of the crop in source pixels

    def head_box(self, input_size: int) -> tuple[float, float, float, float] | None:
        """The head box in model-input pixels (the crop is resized to a square ``input_size``)."""
        w, h = self.crop_size
        if w <= 0 or h <= 0:
            return None
        sx, sy = input_size / w, input_size / h
        return (self.head[0] * sx, self.head[1] * sy, self.head[2] * sx, self.head[3] * sy)


def read_manifest(path: str | Path) -> dict[str, dict]:
    """crop path (relative to the prepared root) -> its manifest row."""
    return dict(_rows(Path(path).resolve()))


@lru_cache(maxsize=32)
def _rows(manifest: Path) -> tuple[tuple[str, dict], ...]:
    with manifest.open(newline="", encoding="utf-8") as f:
        return tuple((row["crop"], row) for row in csv.DictReader(f) if row.get("crop"))


def find_manifest(path: str | Path) -> Path | None:
    """The manifest of the prepared dataset that ``path`` lies in, if any."""
    for parent in Path(path).resolve().parents:
        candidate = parent / MANIFEST_NAME
        if candidate.is_file():
            return candidate
    return None


def crop_info(path: str | Path) -> CropInfo | None:
    """What the manifest says about one crop file, or None when no manifest knows it (or it is unreadable)."""
    manifest = find_manifest(path)
    if manifest is None:
        return None
    try:
        row = dict(_rows(manifest.resolve())).get(Path(path).resolve().relative_to(manifest.parent.resolve()).as_posix())
        if row is None:
            return None
        crop = [float(row[f"crop_{k}"]) for k in ("x0", "y0", "x1", "y1")]
        head = tuple(float(row[f"head_{k}"]) for k in ("x0", "y0", "x1", "y1"))
    except (KeyError, ValueError, OSError, csv.Error, UnicodeError):
        return None
    return CropInfo(row.get("dataset", ""), row.get("photo_group", ""), head, (crop[2] - crop[0], crop[3] - crop[1]))
