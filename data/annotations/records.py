"""The records every parser produces, the problem reasons they are counted by, and the
bookkeeping shared by all formats (duplicates, empty annotations, unannotated images)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Problem reasons (the keys skip counts are grouped by). "unknown class '<name>'" is built per name.
MALFORMED_ANNOTATION = "malformed annotation"
MISSING_FIELD = "missing field"
INVALID_SIZE = "invalid size"
NON_NUMERIC = "non-numeric coordinate"
MALFORMED_LINE = "malformed line"
PATH_ESCAPES = "path escapes dataset root"
IMAGE_MISSING = "image missing"
CORRUPT_IMAGE = "corrupt image"
IMAGE_TOO_LARGE = "image too large (possible decompression bomb)"
EXIF_ROTATED_FRAME = "annotation in the EXIF-rotated frame"  # declared size is the rotated image's, not the pixels'
ANNOTATION_TOO_LARGE = "annotation file too large"
TOO_MANY_OBJECTS = "too many objects"
NO_ANNOTATION = "no annotation file"
DUPLICATE_ANNOTATION = "duplicate annotation"
NO_OBJECTS = "no objects"
BOX_OUTSIDE = "box outside image"
DEGENERATE_BOX = "degenerate box"
NO_LABEL_FILE = "no label file (background image)"     # YOLO: an image without heads, by convention
SHARED_LABEL_FILE = "label file shared with another image"  # YOLO: a.jpg and a.png both map to a.txt
UNKNOWN_CATEGORY = "unknown category id"                # COCO
UNKNOWN_IMAGE = "unknown image id"                      # COCO
CROWD_ANNOTATION = "crowd annotation (iscrowd)"         # COCO

BOX_TOLERANCE_PX = 1.0  # how far (in declared pixels) a box may poke out of its image before it is rejected
# Caps that keep a hostile annotation from taking unbounded time or memory (docs/bad_inputs.md). Real
# label files are kilobytes and name tens of heads; crowd photos may name hundreds.
MAX_ANNOTATION_BYTES = 4 * 1024 * 1024     # one VOC .xml or YOLO .txt (a COCO json covers a whole dataset)
MAX_OBJECTS_PER_IMAGE = 1000
MAX_LABEL_LINE_CHARS = 1024                # a YOLO line 'class cx cy w h' is well under 100 characters


@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str = ""
    object_index: int | None = None  # None: the whole record is affected


@dataclass
class ObjectAnnotation:
    index: int                                  # position in its annotation (VOC object, YOLO line, COCO box)
    name: str                                   # class name as annotated
    box: tuple[float, float, float, float]      # x0, y0, x1, y1 in REAL image pixels
    declared_box: tuple[float, float, float, float]  # as written (VOC corners / YOLO cx,cy,w,h / COCO x,y,w,h)
    label: str | None = None                    # project label after ``apply_class_map``


@dataclass
class ImageRecord:
    annotation: Path | None                     # the XML/TXT/JSON file (None: image without annotation file)
    image: Path | None                          # resolved image path inside the root (None: unknown/rejected)
    size: tuple[int, int] | None = None         # real decoded (width, height)
    orientation: int = 1                        # EXIF orientation tag of the image (never applied: see preprocessing)
    declared_size: tuple[int, int] | None = None
    objects: list[ObjectAnnotation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    n_declared_objects: int = 0                 # objects/lines in the file, including rejected ones
    names_in_file: list[str] = field(default_factory=list)  # class names written, rejected objects included

    @property
    def usable(self) -> bool:
        """True unless a record-level problem rules out the whole image."""
        return self.image is not None and self.size is not None and not any(
            p.object_index is None for p in self.problems
        )


@dataclass
class ParseResult:
    records: list[ImageRecord]
    root: Path
    fmt: str
    class_names: list[str] | None = None        # YOLO: names by class id
    declared_names: list[str] = field(default_factory=list)  # the classes the source says it has
    dataset_dir: dict | None = None             # YOLO data.yaml: where its path: led, and how (yolo_path)

    def problems(self) -> list[tuple[ImageRecord, Problem]]:
        return [(r, p) for r in self.records for p in r.problems]


def names_seen(records: list[ImageRecord]) -> list[str]:
    """Every class name written in the records' annotations, in first-seen order."""
    return list(dict.fromkeys(name for r in records for name in r.names_in_file))


def add_unannotated(records: list[ImageRecord], images: list[Path], reason: str = NO_ANNOTATION,
                    detail: str = "image has no annotation file") -> None:
    """Images that no annotation references become records with a record-level ``reason``.

    An image whose stem matches an annotation file that could not be read is not reported again:
    that annotation's own problem already covers it.
    """
    referenced = {r.image for r in records if r.image is not None}
    unread_stems = {r.annotation.stem for r in records if r.image is None and r.annotation is not None}
    for img in images:
        if img.resolve() not in referenced and img.stem not in unread_stems:
            records.append(ImageRecord(annotation=None, image=img.resolve(), problems=[Problem(reason, detail)]))


def dedupe(records: list[ImageRecord]) -> None:
    """A second annotation pointing at an already-annotated image is skipped as a whole."""
    first: dict[Path, ImageRecord] = {}
    for r in records:
        if r.image is None or not r.usable:
            continue
        if r.image in first:
            other = first[r.image].annotation
            r.problems.append(Problem(DUPLICATE_ANNOTATION, f"image already annotated by {other}"))
        else:
            first[r.image] = r


def finish(record: ImageRecord) -> None:
    if record.usable and record.n_declared_objects == 0:
        record.problems.append(Problem(NO_OBJECTS, "annotation lists no objects"))
