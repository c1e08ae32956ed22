"""Read detection annotations (Pascal VOC, YOLO or COCO) into plain records, never trusting the files.

A record is one annotated source image: where the image is, its real decoded size, the objects
(class name and box in REAL image pixels, i.e. after scaling declared size -> real size) and the
problems found on the way. Nothing here raises on bad data: malformed files, bad fields, boxes
outside the image, paths escaping the dataset root, missing, corrupt or oversized images, oversized
annotations, annotations drawn on the EXIF-rotated picture (boxes are in the stored pixel frame) all become
``Problem`` entries with a short ``reason`` (the counting key) and a free-text ``detail``. Only a
dataset that is unusable as a whole (no such folder, no annotation files, an unreadable data.yaml
or COCO json, a folder that is a symlink out of the root) raises ``DataError``.

Modules: ``records`` (the records and reasons), ``checks`` (paths, numbers, boxes, images),
``classes`` (class names -> project labels), ``voc``, ``yolo_config`` + ``yolo``, ``coco``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from data.errors import DataError
from data.preprocessing import PreprocessSpec

from .checks import check_root, resolve_inside
from .classes import DEFAULT_CLASS_MAP, ClassMap, apply_class_map, normalise_class_name, unknown_class_reason
from .coco import parse_coco
from .records import (
    ANNOTATION_TOO_LARGE,
    BOX_OUTSIDE,
    BOX_TOLERANCE_PX,
    CORRUPT_IMAGE,
    CROWD_ANNOTATION,
    DEGENERATE_BOX,
    DUPLICATE_ANNOTATION,
    EXIF_ROTATED_FRAME,
    IMAGE_MISSING,
    IMAGE_TOO_LARGE,
    INVALID_SIZE,
    MALFORMED_ANNOTATION,
    MALFORMED_LINE,
    MAX_ANNOTATION_BYTES,
    MAX_LABEL_LINE_CHARS,
    MAX_OBJECTS_PER_IMAGE,
    MISSING_FIELD,
    NO_ANNOTATION,
    NO_LABEL_FILE,
    NO_OBJECTS,
    NON_NUMERIC,
    PATH_ESCAPES,
    SHARED_LABEL_FILE,
    TOO_MANY_OBJECTS,
    UNKNOWN_CATEGORY,
    UNKNOWN_IMAGE,
    ImageRecord,
    ObjectAnnotation,
    ParseResult,
    Problem,
)
from .voc import parse_voc, parse_voc_file
from .yolo import label_path_for, parse_yolo

FORMATS: tuple[str, ...] = ("voc", "yolo", "coco")


def parse_dataset(root: str | Path, fmt: str, names: Iterable[str] | None = None,
                  spec: PreprocessSpec | None = None) -> ParseResult:
    if names is not None and fmt in FORMATS and fmt != "yolo":
        raise DataError("--names only applies to --format yolo")
    if fmt == "voc":
        return parse_voc(root, spec)
    if fmt == "yolo":
        return parse_yolo(root, names, spec)
    if fmt == "coco":
        return parse_coco(root, spec)
    raise DataError(f"unknown annotation format {fmt!r} (expected one of {', '.join(FORMATS)})")


__all__ = [
    "ANNOTATION_TOO_LARGE", "BOX_OUTSIDE", "BOX_TOLERANCE_PX", "CORRUPT_IMAGE", "CROWD_ANNOTATION",
    "DEFAULT_CLASS_MAP", "DEGENERATE_BOX", "DUPLICATE_ANNOTATION", "EXIF_ROTATED_FRAME", "FORMATS", "IMAGE_MISSING",
    "IMAGE_TOO_LARGE", "INVALID_SIZE", "MALFORMED_ANNOTATION", "MALFORMED_LINE", "MAX_ANNOTATION_BYTES",
    "MAX_LABEL_LINE_CHARS", "MAX_OBJECTS_PER_IMAGE", "MISSING_FIELD", "NO_ANNOTATION", "NO_LABEL_FILE", "NO_OBJECTS",
    "NON_NUMERIC", "PATH_ESCAPES", "SHARED_LABEL_FILE", "TOO_MANY_OBJECTS", "UNKNOWN_CATEGORY", "UNKNOWN_IMAGE",
    "ClassMap", "DataError", "ImageRecord",
    "ObjectAnnotation", "ParseResult", "Problem", "apply_class_map", "check_root", "label_path_for",
    "normalise_class_name", "parse_coco", "parse_dataset", "parse_voc", "parse_voc_file",
    "parse_yolo", "resolve_inside", "unknown_class_reason",
]
