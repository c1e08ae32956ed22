"""Read detection annotations (Pascal VOC or YOLO) into plain records, never trusting the files.

A record is one annotated source image: where the image is, its real decoded size, the objects
(class name and box in REAL image pixels, i.e. after scaling declared size -> real size) and the
problems found on the way. Nothing here raises on bad data: malformed files, bad fields, boxes
outside the image, paths escaping the dataset root, missing or corrupt images all become
``Problem`` entries with a short ``reason`` (the counting key) and a free-text ``detail``.

Layouts::

    VOC:   ROOT/images/<file>      ROOT/annotations/<name>.xml   (<filename> relative to images/)
    YOLO:  ROOT/images/**/<stem>.<ext>  ROOT/labels/**/<stem>.txt  (+ ROOT/data.yaml with names:)

Box convention: VOC corners and YOLO boxes are read as continuous pixel coordinates
(x0, y0, x1, y1) with x1 > x0; no +-1 "inclusive pixel" correction is applied.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import defusedxml
import defusedxml.ElementTree as SafeET
import yaml
from PIL import Image

from data.errors import DataError, ImageDecodeError
from data.preprocessing import IMAGE_SUFFIXES, LABELS, PreprocessSpec

# Problem reasons (the keys skip counts are grouped by). "unknown class '<name>'" is built per name.
MALFORMED_ANNOTATION = "malformed annotation"
MISSING_FIELD = "missing field"
INVALID_SIZE = "invalid size"
NON_NUMERIC = "non-numeric coordinate"
MALFORMED_LINE = "malformed line"
PATH_ESCAPES = "path escapes dataset root"
IMAGE_MISSING = "image missing"
CORRUPT_IMAGE = "corrupt image"
NO_ANNOTATION = "no annotation file"
DUPLICATE_ANNOTATION = "duplicate annotation"
NO_OBJECTS = "no objects"
BOX_OUTSIDE = "box outside image"
DEGENERATE_BOX = "degenerate box"

BOX_TOLERANCE_PX = 1.0  # how far (in declared pixels) a box may poke out of its image before it is rejected

DEFAULT_CLASS_MAP: dict[str, str] = {
    "With Helmet": "helmet",
    "helmet": "helmet",
    "with_helmet": "helmet",
    "with-helmet": "helmet",
    "Without Helmet": "no_helmet",
    "no_helmet": "no_helmet",
    "no-helmet": "no_helmet",
    "no helmet": "no_helmet",
    "without_helmet": "no_helmet",
    "without-helmet": "no_helmet",
    "head": "no_helmet",
}


def unknown_class_reason(name: str) -> str:
    return f"unknown class {name!r}"


def _norm_name(name: str) -> str:
    """Class-name matching key: case-insensitive, surrounding/duplicate whitespace ignored."""
    return " ".join(str(name).split()).casefold()


class ClassMap:
    """Annotation class name -> project label (one of ``LABELS``), matched case-insensitively."""

    def __init__(self, mapping: Mapping[str, str] | None = None, *, defaults: bool = True):
        self._map: dict[str, str] = {}
        self._shown: dict[str, str] = {}
        for source in ((DEFAULT_CLASS_MAP if defaults else {}), (mapping or {})):
            for name, label in source.items():
                if label not in LABELS:
                    raise ValueError(f"class map entry {name!r} -> {label!r}: label must be one of {LABELS}")
                if not _norm_name(name):
                    raise ValueError(f"class map entry with an empty class name -> {label!r}")
                self._map[_norm_name(name)] = label
                self._shown[_norm_name(name)] = name

    @classmethod
    def from_entries(cls, entries: Iterable[str] | None, *, defaults: bool = True) -> "ClassMap":
        """Build from CLI entries like ``"With Helmet=helmet"``; user entries override the defaults."""
        mapping: dict[str, str] = {}
        for entry in entries or ():
            if "=" not in entry:
                raise ValueError(f"class map entry {entry!r} must look like 'NAME=LABEL'")
            name, label = entry.rsplit("=", 1)
            mapping[name.strip()] = label.strip()
        return cls(mapping, defaults=defaults)

    def get(self, name: str) -> str | None:
        return self._map.get(_norm_name(name))

    def to_dict(self) -> dict[str, str]:
        return {self._shown[k]: v for k, v in self._map.items()}


@dataclass(frozen=True)
class Problem:
    reason: str
    detail: str = ""
    object_index: int | None = None  # None: the whole record is affected


@dataclass
class ObjectAnnotation:
    index: int                                  # position in its annotation file (VOC object / YOLO box line)
    name: str                                   # class name as annotated
    box: tuple[float, float, float, float]      # x0, y0, x1, y1 in REAL image pixels
    declared_box: tuple[float, float, float, float]  # as written (VOC declared pixels / YOLO normalised cx,cy,w,h)
    label: str | None = None                    # project label after ``apply_class_map``


@dataclass
class ImageRecord:
    annotation: Path | None                     # the XML/TXT file (None: image without annotation file)
    image: Path | None                          # resolved image path inside the root (None: unknown/rejected)
    size: tuple[int, int] | None = None         # real decoded (width, height)
    declared_size: tuple[int, int] | None = None
    objects: list[ObjectAnnotation] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    n_declared_objects: int = 0                 # objects/lines in the file, including rejected ones

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

    def problems(self) -> list[tuple[ImageRecord, Problem]]:
        return [(r, p) for r in self.records for p in r.problems]


# --- helpers -----------------------------------------------------------------------------------

def _within(path: Path, root: Path) -> bool:
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
    return candidate if _within(candidate, root.resolve()) else None


def _image_size(record: ImageRecord, spec: PreprocessSpec) -> None:
    """Decode the image to check it and record its real size; adds a record-level problem on failure."""
    try:
        record.size = spec.load_rgb(record.image).size
    except ImageDecodeError as e:
        reason = IMAGE_MISSING if not record.image.exists() else CORRUPT_IMAGE
        record.problems.append(Problem(reason, str(e)))
    except Image.DecompressionBombError as e:
        record.problems.append(Problem(CORRUPT_IMAGE, f"{record.image}: {e}"))


def _finite_float(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        v = float(text.strip())
    except (ValueError, AttributeError):
        return None
    return v if math.isfinite(v) else None


def _check_box(x0: float, y0: float, x1: float, y1: float, w: float, h: float, tol: float) -> str | None:
    if x1 <= x0 or y1 <= y0:
        return DEGENERATE_BOX
    if x0 < -tol or y0 < -tol or x1 > w + tol or y1 > h + tol:
        return BOX_OUTSIDE
    return None


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise DataError(f"{what} directory not found: {path}")


def check_root(root: Path, fmt: str) -> tuple[Path, Path]:
    """Validate the layout; returns (images_dir, annotations_dir). Raises DataError."""
    if not root.exists():
        raise DataError(f"dataset root does not exist: {root}")
    if not root.is_dir():
        raise DataError(f"dataset root is not a directory: {root}")
    if not any(root.iterdir()):
        raise DataError(f"dataset root is empty: {root}")
    images = root / "images"
    ann = root / ("annotations" if fmt == "voc" else "labels")
    _require_dir(images, "images")
    _require_dir(ann, "annotations" if fmt == "voc" else "labels")
    return images, ann


def _image_files(images_dir: Path, recursive: bool) -> list[Path]:
    it = images_dir.rglob("*") if recursive else images_dir.iterdir()
    return sorted(
        p for p in it
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _add_unannotated(records: list[ImageRecord], images: list[Path]) -> None:
    """Images that no annotation references become records with a NO_ANNOTATION problem.

    An image whose stem matches an annotation file that could not be read is not reported again:
    that annotation's own problem already covers it.
    """
    referenced = {r.image for r in records if r.image is not None}
    unread_stems = {r.annotation.stem for r in records if r.image is None and r.annotation is not None}
    for img in images:
        if img.resolve() not in referenced and img.stem not in unread_stems:
            records.append(ImageRecord(annotation=None, image=img.resolve(),
                                       problems=[Problem(NO_ANNOTATION, "image has no annotation file")]))


def _dedupe(records: list[ImageRecord]) -> None:
    """A second annotation file pointing at an already-annotated image is skipped as a whole."""
    first: dict[Path, ImageRecord] = {}
    for r in records:
        if r.image is None or not r.usable:
            continue
        if r.image in first:
            other = first[r.image].annotation
            r.problems.append(Problem(DUPLICATE_ANNOTATION, f"image already annotated by {other}"))
        else:
            first[r.image] = r


def _finish(record: ImageRecord) -> None:
    if record.usable and record.n_declared_objects == 0:
        record.problems.append(Problem(NO_OBJECTS, "annotation lists no objects"))


# --- Pascal VOC --------------------------------------------------------------------------------

def parse_voc_file(xml_path: Path, root: Path, images_dir: Path, spec: PreprocessSpec | None = None,
                   tolerance: float = BOX_TOLERANCE_PX) -> ImageRecord:
    spec = spec or PreprocessSpec()
    record = ImageRecord(annotation=xml_path, image=None)
    try:
        tree = SafeET.parse(str(xml_path))
    except (SafeET.ParseError, defusedxml.DefusedXmlException, OSError, UnicodeError, ValueError) as e:
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"{type(e).__name__}: {e}"))
        return record
    ann = tree.getroot()
    if ann.tag != "annotation":
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"root element <{ann.tag}>, expected <annotation>"))
        return record
    objects = ann.findall("object")
    record.n_declared_objects = len(objects)

    filename = (ann.findtext("filename") or "").strip()
    if not filename:
        record.problems.append(Problem(MISSING_FIELD, "filename"))
        return record
    image = resolve_inside(root, images_dir, filename)
    if image is None:
        record.problems.append(Problem(PATH_ESCAPES, f"filename {filename!r}"))
        return record
    record.image = image
    if not image.is_file():
        record.problems.append(Problem(IMAGE_MISSING, f"{filename!r} not found in {images_dir}"))
        return record

    size_el = ann.find("size")
    if size_el is None or size_el.find("width") is None or size_el.find("height") is None:
        record.problems.append(Problem(MISSING_FIELD, "size/width or size/height"))
        return record
    dw, dh = _finite_float(size_el.findtext("width")), _finite_float(size_el.findtext("height"))
    if dw is None or dh is None or dw <= 0 or dh <= 0:
        record.problems.append(Problem(INVALID_SIZE, f"declared size {size_el.findtext('width')!r} x "
                                                     f"{size_el.findtext('height')!r}"))
        return record
    record.declared_size = (int(round(dw)), int(round(dh)))

    _image_size(record, spec)
    if record.size is None:
        return record
    sx, sy = record.size[0] / dw, record.size[1] / dh

    for i, obj in enumerate(objects):
        name = (obj.findtext("name") or "").strip()
        bnd = obj.find("bndbox")
        if not name:
            record.problems.append(Problem(MISSING_FIELD, "object name", i))
            continue
        if bnd is None:
            record.problems.append(Problem(MISSING_FIELD, "object bndbox", i))
            continue
        raw = {k: bnd.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")}
        missing = [k for k, v in raw.items() if v is None]
        if missing:
            record.problems.append(Problem(MISSING_FIELD, "bndbox/" + ",".join(missing), i))
            continue
        vals = {k: _finite_float(v) for k, v in raw.items()}
        bad = [f"{k}={raw[k]!r}" for k, v in vals.items() if v is None]
        if bad:
            record.problems.append(Problem(NON_NUMERIC, ", ".join(bad), i))
            continue
        x0, y0, x1, y1 = vals["xmin"], vals["ymin"], vals["xmax"], vals["ymax"]
        why = _check_box(x0, y0, x1, y1, dw, dh, tolerance)
        if why:
            record.problems.append(Problem(why, f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) in declared "
                                                f"image {dw:g}x{dh:g}", i))
            continue
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, dw), min(y1, dh)
        record.objects.append(ObjectAnnotation(
            index=i, name=name, box=(cx0 * sx, cy0 * sy, cx1 * sx, cy1 * sy), declared_box=(x0, y0, x1, y1)))
    return record


def parse_voc(root: str | Path, spec: PreprocessSpec | None = None,
              tolerance: float = BOX_TOLERANCE_PX) -> ParseResult:
    root = Path(root)
    images_dir, ann_dir = check_root(root, "voc")
    xmls = sorted(p for p in ann_dir.iterdir() if p.is_file() and p.suffix.lower() == ".xml"
                  and not p.name.startswith("."))
    if not xmls:
        raise DataError(f"no .xml annotation files in {ann_dir}")
    records = [parse_voc_file(x, root, images_dir, spec, tolerance) for x in xmls]
    _dedupe(records)
    for r in records:
        _finish(r)
    _add_unannotated(records, _image_files(images_dir, recursive=False))
    return ParseResult(records=records, root=root, fmt="voc")


# --- YOLO --------------------------------------------------------------------------------------

def load_yolo_names(root: str | Path, names: Iterable[str] | None = None) -> list[str]:
    """Class names by id: ``names`` if given, else ``ROOT/data.yaml`` (``names:`` list or {id: name})."""
    if names is not None:
        names = [str(n).strip() for n in names]
        if not names or not all(names):
            raise DataError(f"--names must be a non-empty comma-separated list, got {names}")
        return names
    path = Path(root) / "data.yaml"
    if not path.is_file():
        raise DataError(f"no class names: give --names or provide {path} with a 'names:' entry")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, OSError, UnicodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    raw = data.get("names") if isinstance(data, dict) else None
    if isinstance(raw, list) and raw:
        return [str(n) for n in raw]
    if isinstance(raw, dict) and raw:
        try:
            by_id = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError) as e:
            raise DataError(f"{path}: names keys must be integer class ids: {e}") from e
        if sorted(by_id) != list(range(len(by_id))):
            raise DataError(f"{path}: names ids must be 0..N-1, got {sorted(by_id)}")
        return [by_id[i] for i in range(len(by_id))]
    raise DataError(f"{path} has no usable 'names:' list or mapping")


def _yolo_image_for(label: Path, labels_dir: Path, images_dir: Path) -> list[Path]:
    rel = label.relative_to(labels_dir).with_suffix("")
    folder = images_dir / rel.parent
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.stem == rel.name and p.suffix.lower() in IMAGE_SUFFIXES)


def parse_yolo_file(txt_path: Path, root: Path, images_dir: Path, labels_dir: Path, names: list[str],
                    spec: PreprocessSpec | None = None, tolerance: float = BOX_TOLERANCE_PX) -> ImageRecord:
    spec = spec or PreprocessSpec()
    record = ImageRecord(annotation=txt_path, image=None)
    candidates = _yolo_image_for(txt_path, labels_dir, images_dir)
    if not candidates:
        record.problems.append(Problem(IMAGE_MISSING, f"no image named {txt_path.stem}.* next to "
                                                      f"{txt_path.relative_to(labels_dir)} in {images_dir}"))
        return record
    image = resolve_inside(root, candidates[0].parent, candidates[0].name)
    if image is None:
        record.problems.append(Problem(PATH_ESCAPES, f"{candidates[0]} resolves outside the root"))
        return record
    record.image = image
    try:
        text = txt_path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as e:
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"{type(e).__name__}: {e}"))
        return record
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    record.n_declared_objects = len(lines)
    _image_size(record, spec)
    if record.size is None:
        return record
    w, h = record.size
    tol_x, tol_y = tolerance / w, tolerance / h
    for i, (lineno, line) in enumerate(lines):
        parts = line.split()
        if len(parts) != 5:
            record.problems.append(Problem(MALFORMED_LINE, f"line {lineno}: expected 'class cx cy w h', "
                                                           f"got {len(parts)} fields", i))
            continue
        cls = _finite_float(parts[0])
        vals = [_finite_float(p) for p in parts[1:]]
        if cls is None or cls != int(cls) or any(v is None for v in vals):
            record.problems.append(Problem(MALFORMED_LINE, f"line {lineno}: non-numeric field in {line.strip()!r}", i))
            continue
        cid = int(cls)
        if not 0 <= cid < len(names):
            record.problems.append(Problem(unknown_class_reason(str(cid)),
                                           f"line {lineno}: class id {cid} has no name ({len(names)} names)", i))
            continue
        cx, cy, bw, bh = vals
        x0, y0, x1, y1 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        why = None
        if bw <= 0 or bh <= 0:
            why = DEGENERATE_BOX
        elif x0 < -tol_x or y0 < -tol_y or x1 > 1 + tol_x or y1 > 1 + tol_y:
            why = BOX_OUTSIDE
        if why:
            record.problems.append(Problem(why, f"line {lineno}: normalised box cx={cx:g} cy={cy:g} "
                                                f"w={bw:g} h={bh:g}", i))
            continue
        box = (max(x0, 0.0) * w, max(y0, 0.0) * h, min(x1, 1.0) * w, min(y1, 1.0) * h)
        record.objects.append(ObjectAnnotation(index=i, name=names[cid], box=box, declared_box=(cx, cy, bw, bh)))
    return record


def parse_yolo(root: str | Path, names: Iterable[str] | None = None, spec: PreprocessSpec | None = None,
               tolerance: float = BOX_TOLERANCE_PX) -> ParseResult:
    root = Path(root)
    images_dir, labels_dir = check_root(root, "yolo")
    class_names = load_yolo_names(root, names)
    txts = sorted(p for p in labels_dir.rglob("*.txt") if p.is_file() and not p.name.startswith("."))
    if not txts:
        raise DataError(f"no .txt label files in {labels_dir}")
    records = [parse_yolo_file(t, root, images_dir, labels_dir, class_names, spec, tolerance) for t in txts]
    _dedupe(records)
    for r in records:
        _finish(r)
    _add_unannotated(records, _image_files(images_dir, recursive=True))
    return ParseResult(records=records, root=root, fmt="yolo", class_names=class_names)


def apply_class_map(result: ParseResult, class_map: ClassMap) -> None:
    """Set ``label`` on every object; objects whose class is not in the map become problems."""
    for record in result.records:
        kept = []
        for obj in record.objects:
            obj.label = class_map.get(obj.name)
            if obj.label is None:
                record.problems.append(Problem(unknown_class_reason(obj.name),
                                               f"not in the class map (use --class-map '{obj.name}=LABEL')",
                                               obj.index))
            else:
                kept.append(obj)
        record.objects = kept


def parse_dataset(root: str | Path, fmt: str, names: Iterable[str] | None = None,
                  spec: PreprocessSpec | None = None) -> ParseResult:
    if fmt == "voc":
        if names is not None:
            raise DataError("--names only applies to --format yolo")
        return parse_voc(root, spec)
    if fmt == "yolo":
        return parse_yolo(root, names, spec)
    raise DataError(f"unknown annotation format {fmt!r} (expected 'voc' or 'yolo')")
