"""YOLO (Ultralytics / Roboflow): images listed by data.yaml's split entries, one label .txt per image.

Layouts::

    split entries: data.yaml with train:/val:/test: (see ``yolo_config``), e.g. a Roboflow export
                   {train,valid,test}/{images,labels} with ``train: ../train/images``
    flat:          ROOT/images/**/<stem>.<ext> + ROOT/labels/**/<stem>.txt (+ data.yaml with only names:)

An image's label file is its path with the LAST ``images`` folder replaced by ``labels`` and the
suffix by ``.txt`` (Ultralytics' ``img2label_paths``). An image without a label file is an image
without heads (counted, not an error). Each label line is ``class cx cy w h``, normalised to [0, 1].
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from data.errors import DataError
from data.preprocessing import PreprocessSpec

from .checks import (
    check_dataset_root, check_root, finite_float, image_files, oversized_annotation, read_image_size, resolved_within,
    within,
)
from .classes import unknown_class_reason
from .records import (
    BOX_OUTSIDE,
    BOX_TOLERANCE_PX,
    DEGENERATE_BOX,
    IMAGE_MISSING,
    MALFORMED_ANNOTATION,
    MALFORMED_LINE,
    MAX_LABEL_LINE_CHARS,
    MAX_OBJECTS_PER_IMAGE,
    NO_LABEL_FILE,
    PATH_ESCAPES,
    SHARED_LABEL_FILE,
    TOO_MANY_OBJECTS,
    ImageRecord,
    ObjectAnnotation,
    ParseResult,
    Problem,
    finish,
)
from .yolo_config import SplitEntry, class_names, read_data_yaml, split_entries


def label_path_for(image: Path) -> Path:
    """``.../images/.../a.jpg`` -> ``.../labels/.../a.txt`` (only the last ``images`` folder is replaced)."""
    parts = list(image.parts)
    folders = [i for i, part in enumerate(parts[:-1]) if part == "images"]
    if folders:
        parts[folders[-1]] = "labels"
    return Path(*parts).with_suffix(".txt")


def listed_images(image_list: Path) -> list[Path]:
    """The images a .txt list names; relative lines (``./a.jpg`` or ``a.jpg``) are relative to its folder."""
    try:
        lines = image_list.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeError) as e:
        raise DataError(f"cannot read image list {image_list}: {e}") from e
    return [Path(os.path.normpath(image_list.parent / line.strip())) for line in lines if line.strip()]


def parse_label_line(line: str, lineno: int, index: int, names: list[str], size: tuple[int, int],
                     tolerance: float) -> ObjectAnnotation | Problem:
    if len(line) > MAX_LABEL_LINE_CHARS:  # not split: a 10 MB line would become millions of strings
        return Problem(MALFORMED_LINE, f"line {lineno}: {len(line)} characters, far too long for 'class cx cy w h'",
                       index)
    parts = line.split()
    if len(parts) != 5:
        return Problem(MALFORMED_LINE, f"line {lineno}: expected 'class cx cy w h', got {len(parts)} fields", index)
    cls = finite_float(parts[0])
    vals = [finite_float(p) for p in parts[1:]]
    if cls is None or cls != int(cls) or any(v is None for v in vals):
        return Problem(MALFORMED_LINE, f"line {lineno}: non-numeric field in {line.strip()!r}", index)
    cid = int(cls)
    if not 0 <= cid < len(names):
        return Problem(unknown_class_reason(str(cid)),
                       f"line {lineno}: class id {cid} has no name ({len(names)} names)", index)
    w, h = size
    tol_x, tol_y = tolerance / w, tolerance / h
    cx, cy, bw, bh = vals
    x0, y0, x1, y1 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
    why = None
    if bw <= 0 or bh <= 0:
        why = DEGENERATE_BOX
    elif x0 < -tol_x or y0 < -tol_y or x1 > 1 + tol_x or y1 > 1 + tol_y:
        why = BOX_OUTSIDE
    if why:
        return Problem(why, f"line {lineno}: normalised box cx={cx:g} cy={cy:g} w={bw:g} h={bh:g}", index)
    # centre and size in pixels first: a box written as 8 px wide stays 8.0, not 7.99999999999994
    pcx, pcy, half_w, half_h = cx * w, cy * h, bw * w / 2, bh * h / 2
    box = (max(pcx - half_w, 0.0), max(pcy - half_h, 0.0), min(pcx + half_w, w), min(pcy + half_h, h))
    return ObjectAnnotation(index=index, name=names[cid], box=box, declared_box=(cx, cy, bw, bh))


def read_label_lines(record: ImageRecord) -> list[tuple[int, str]] | None:
    """(line number, line) of the non-blank lines of ``record.annotation``; None with a problem added when
    the file is unreadable, oversized, or names more objects than one image may have."""
    problem = oversized_annotation(record.annotation)
    if problem is None:
        try:
            text = record.annotation.read_text(encoding="utf-8")
        except (OSError, UnicodeError) as e:
            problem = Problem(MALFORMED_ANNOTATION, f"{type(e).__name__}: {e}")
    if problem is not None:
        record.problems.append(problem)
        return None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    record.n_declared_objects = len(lines)
    if len(lines) > MAX_OBJECTS_PER_IMAGE:
        record.problems.append(Problem(TOO_MANY_OBJECTS, f"{len(lines)} label lines, more than the "
                                                         f"{MAX_OBJECTS_PER_IMAGE} one image may have"))
        return None
    return lines


def parse_label_file(label: Path, image: Path, names: list[str], spec: PreprocessSpec | None = None,
                     tolerance: float = BOX_TOLERANCE_PX) -> ImageRecord:
    """The record of ``image`` (resolved, inside the root) annotated by ``label``."""
    spec = spec or PreprocessSpec()
    record = ImageRecord(annotation=label, image=image)
    lines = read_label_lines(record)
    if lines is None:
        return record
    read_image_size(record, spec)
    if record.size is None:
        return record
    for i, (lineno, line) in enumerate(lines):
        parsed = parse_label_line(line, lineno, i, names, record.size, tolerance)
        (record.objects if isinstance(parsed, ObjectAnnotation) else record.problems).append(parsed)
    return record


class _Reader:
    """Reads images once each, every label file for at most one image, and finds labels without images."""

    def __init__(self, root: Path, names: list[str], spec: PreprocessSpec | None, tolerance: float):
        self.root, self.names, self.spec, self.tolerance = root, names, spec, tolerance
        self.records: list[ImageRecord] = []
        self.images_seen: set[Path] = set()
        self.label_owner: dict[Path, Path] = {}     # resolved label file -> the image it was read for

    def read(self, image: Path) -> None:
        key = Path(os.path.realpath(image))
        if key in self.images_seen:
            return  # listed under two entries (or twice in one): read once
        self.images_seen.add(key)
        self.records.append(self._record(image))

    def _record(self, image: Path) -> ImageRecord:
        label = label_path_for(image)
        annotation = label if label.is_file() else None
        owner = self.label_owner.setdefault(Path(os.path.realpath(label)), image) if annotation is not None else image
        resolved = resolved_within(image, self.root)
        if resolved is None:
            return ImageRecord(annotation=annotation, image=None, problems=[
                Problem(PATH_ESCAPES, f"image {image} resolves outside the root")])
        if owner != image:
            return ImageRecord(annotation=label, image=resolved, problems=[
                Problem(SHARED_LABEL_FILE, f"{label} is read for {owner} already")])
        if not resolved.is_file():
            return ImageRecord(annotation=annotation, image=resolved, problems=[
                Problem(IMAGE_MISSING, f"{image} not found")])
        if annotation is None:
            return ImageRecord(annotation=None, image=resolved, problems=[Problem(NO_LABEL_FILE, f"no {label}")])
        if resolved_within(label, self.root) is None:
            return ImageRecord(annotation=label, image=resolved, problems=[
                Problem(PATH_ESCAPES, f"label file {label} resolves outside the root")])
        return parse_label_file(label, resolved, self.names, self.spec, self.tolerance)

    def labels_without_images(self, labels_dir: Path, images_dir: Path) -> None:
        """Label files under ``labels_dir`` that no image claimed become IMAGE_MISSING records."""
        for label in sorted(p for p in labels_dir.rglob("*.txt") if p.is_file() and not p.name.startswith(".")):
            key = Path(os.path.realpath(label))
            if key in self.label_owner:
                continue
            self.label_owner[key] = label
            folder = images_dir / label.parent.relative_to(labels_dir)
            self.records.append(ImageRecord(annotation=label, image=None, problems=[
                Problem(IMAGE_MISSING, f"no image named {label.stem}.* for {label.relative_to(labels_dir)} "
                                       f"in {folder}")]))


def _labels_dir_of(images_dir: Path, root: Path) -> Path | None:
    """The labels folder that mirrors ``images_dir``, when it has an ``images`` part and exists in the root."""
    labels_dir = label_path_for(images_dir / "x.jpg").parent
    if labels_dir == images_dir or not labels_dir.is_dir() or not within(labels_dir.resolve(), root.resolve()):
        return None
    return labels_dir


def _read_entry(reader: _Reader, entry: SplitEntry, yaml_path: Path) -> None:
    images = listed_images(entry.path) if entry.is_list else image_files(entry.path, recursive=True)
    if not images:
        raise DataError(f"{yaml_path}: {entry.describe()} has no images")
    labels = [label_path_for(im) for im in images]
    if not any(label.is_file() for label in labels):
        folders = sorted({label.parent for label in labels})
        shown = ", ".join(map(str, folders[:3])) + (f" and {len(folders) - 3} more" if len(folders) > 3 else "")
        raise DataError(f"{yaml_path}: {entry.describe()}: none of its {len(images)} images has a label file "
                        f"(looked in {shown})")
    for image in images:
        reader.read(image)


def _read_split_entries(reader: _Reader, entries: list[SplitEntry], yaml_path: Path) -> None:
    for entry in entries:
        _read_entry(reader, entry, yaml_path)
    folders = {e.path: _labels_dir_of(e.path, reader.root) for e in entries if not e.is_list}
    for images_dir, labels_dir in folders.items():
        if labels_dir is not None:
            reader.labels_without_images(labels_dir, images_dir)


def _read_flat(reader: _Reader, images_dir: Path, labels_dir: Path) -> None:
    if not any(p.is_file() and not p.name.startswith(".") for p in labels_dir.rglob("*.txt")):
        raise DataError(f"no .txt label files in {labels_dir}")
    for image in image_files(images_dir, recursive=True):
        reader.read(image)
    reader.labels_without_images(labels_dir, images_dir)


def parse_yolo(root: str | Path, names: Iterable[str] | None = None, spec: PreprocessSpec | None = None,
               tolerance: float = BOX_TOLERANCE_PX) -> ParseResult:
    root = Path(root)
    check_dataset_root(root)
    config = read_data_yaml(root)
    entries, where = split_entries(config, root) if config is not None else ([], None)
    if not entries:
        images_dir, labels_dir = check_root(root, "yolo")
    names_by_id = class_names(names, config, root)
    reader = _Reader(root, names_by_id, spec, tolerance)
    if entries:
        _read_split_entries(reader, entries, config[0])
    else:
        _read_flat(reader, images_dir, labels_dir)
    for record in reader.records:
        finish(record)
    return ParseResult(records=reader.records, root=root, fmt="yolo", class_names=names_by_id,
                       declared_names=list(names_by_id), dataset_dir=where.record() if where else None)
