"""Never trusting the files: paths kept inside the dataset root, numbers that must be finite,
boxes that must fit their image, images that must decode."""

from __future__ import annotations

import math
from pathlib import Path

from data.errors import DataError, ImageDecodeError
from data.errors import ImageTooLargeError
from data.preprocessing import IMAGE_SUFFIXES, PreprocessSpec, exif_orientation

from .records import (
    ANNOTATION_TOO_LARGE, BOX_OUTSIDE, CORRUPT_IMAGE, DEGENERATE_BOX, EXIF_ROTATED_FRAME, IMAGE_MISSING,
    IMAGE_TOO_LARGE, MALFORMED_ANNOTATION, MAX_ANNOTATION_BYTES, ImageRecord, Problem,
)

QUARTER_TURNS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def resolve_inside(root: Path, base: Path, name: str) -> Path | None:
    """``base / name`` resolved (symlinks followed); None if absolute or not inside ``root``."""
    if not name or Path(name).is_absolute() or name.startswith(("/", "\\")) or (
            len(name) > 2 and name[0].isalpha() and name[1] == ":" and name[2] in "/\\"):
        return None  # POSIX absolute, UNC/backslash-rooted or Windows drive path
    try:
        candidate = (base / name).resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    return candidate if within(candidate, root.resolve()) else None


def resolved_within(path: Path, root: Path) -> Path | None:
    """``path`` with symlinks followed, or None when that lands outside ``root``."""
    try:
        resolved = path.resolve()
    except (OSError, ValueError, RuntimeError):
        return None
    return resolved if within(resolved, root.resolve()) else None


def read_image_size(record: ImageRecord, spec: PreprocessSpec) -> None:
    """Decode the image to check it and record its real size and EXIF orientation; adds a record-level
    problem when it does not decode or when the declared size is that of the EXIF-rotated image."""
    try:
        image = spec.load_rgb(record.image)
    except ImageTooLargeError as e:
        record.problems.append(Problem(IMAGE_TOO_LARGE, str(e)))
        return
    except ImageDecodeError as e:
        reason = IMAGE_MISSING if not record.image.exists() else CORRUPT_IMAGE
        record.problems.append(Problem(reason, str(e)))
        return
    record.size, record.orientation = image.size, exif_orientation(image)
    problem = rotated_frame_problem(record)
    if problem is not None:
        record.problems.append(problem)


def _same_aspect(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] * b[1] - a[1] * b[0]) <= 0.01 * a[0] * b[1]


def rotated_frame_problem(record: ImageRecord) -> Problem | None:
    """Boxes are read in the stored pixel frame. An annotation whose declared size has the shape of the
    EXIF-rotated image (and not of the stored pixels) was drawn on the rotated picture: scaling its boxes
    to the stored frame would cut the wrong region, so it is refused. A square image cannot tell."""
    if record.declared_size is None or record.size is None or record.orientation not in QUARTER_TURNS:
        return None
    width, height = record.size
    if _same_aspect(record.declared_size, (height, width)) and not _same_aspect(record.declared_size, (width, height)):
        dw, dh = record.declared_size
        return Problem(EXIF_ROTATED_FRAME, f"declared size {dw}x{dh} is the EXIF-rotated frame (orientation "
                                           f"{record.orientation}) of the stored {width}x{height} pixels the boxes "
                                           "must refer to")
    return None


def oversized_annotation(path: Path) -> Problem | None:
    """A problem when the annotation file is larger than any real one (checked before reading it)."""
    try:
        size = path.stat().st_size
    except OSError as e:
        return Problem(MALFORMED_ANNOTATION, f"{type(e).__name__}: {e}")
    if size > MAX_ANNOTATION_BYTES:
        return Problem(ANNOTATION_TOO_LARGE, f"{path.name} is {size} bytes, more than the {MAX_ANNOTATION_BYTES} "
                                             "an annotation of one image may have; not read")
    return None


def finite_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        v = float(text.strip())
    except (ValueError, AttributeError):
        return None
    return v if math.isfinite(v) else None


def finite_number(value: object) -> float | None:
    """A JSON number (not a bool, not a string) that is finite, as float; else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def check_box(x0: float, y0: float, x1: float, y1: float, w: float, h: float, tol: float) -> str | None:
    if x1 <= x0 or y1 <= y0:
        return DEGENERATE_BOX
    if x0 < -tol or y0 < -tol or x1 > w + tol or y1 > h + tol:
        return BOX_OUTSIDE
    return None


def clip_and_scale(box: tuple[float, float, float, float], declared: tuple[float, float],
                   real: tuple[int, int]) -> tuple[float, float, float, float]:
    """A validated box in declared pixels, clipped to the declared image, in real pixels."""
    x0, y0, x1, y1 = box
    dw, dh = declared
    sx, sy = real[0] / dw, real[1] / dh
    return max(x0, 0.0) * sx, max(y0, 0.0) * sy, min(x1, dw) * sx, min(y1, dh) * sy


def require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise DataError(f"{what} directory not found: {path}")


def check_dataset_root(root: Path) -> None:
    if not root.exists():
        raise DataError(f"dataset root does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"dataset root is not a directory: {root}")
    if not any(root.iterdir()):
        raise DataError(f"dataset root is empty: {root}")


def require_inside(folder: Path, root: Path, what: str) -> None:
    """A folder of the dataset that is a symlink (or under one) leading outside the root is refused as a whole."""
    if resolved_within(folder, root) is None:
        raise DataError(f"{what} directory {folder} resolves to {folder.resolve()}, outside the dataset root "
                        f"{root} (path escapes dataset root): its files are not read")


def check_root(root: Path, fmt: str) -> tuple[Path, Path]:
    """Validate the flat layout; returns (images_dir, annotations_dir). Raises DataError."""
    check_dataset_root(root)
    images = root / "images"
    ann = root / ("annotations" if fmt == "voc" else "labels")
    for folder, what in ((images, "images"), (ann, "annotations" if fmt == "voc" else "labels")):
        require_dir(folder, what)
        require_inside(folder, root, what)
    return images, ann


def is_image_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES


def image_files(images_dir: Path, recursive: bool) -> list[Path]:
    it = images_dir.rglob("*") if recursive else images_dir.iterdir()
    return sorted(p for p in it if is_image_file(p))
