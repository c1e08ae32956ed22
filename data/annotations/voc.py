"""Pascal VOC: ``ROOT/images/<file>`` + ``ROOT/annotations/<name>.xml`` (``<filename>`` relative to images/).

Corners are read as continuous pixel coordinates (x0, y0, x1, y1) with x1 > x0, in the declared
``<size>``, and scaled to the real decoded size; no +-1 "inclusive pixel" correction is applied.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml

import defusedxml
import defusedxml.ElementTree as SafeET

from data.errors import DataError
from data.preprocessing import PreprocessSpec

from .checks import (
    check_box, check_root, clip_and_scale, finite_float, image_files, oversized_annotation, read_image_size,
    resolve_inside, resolved_within,
)
from .records import (
    BOX_TOLERANCE_PX,
    IMAGE_MISSING,
    INVALID_SIZE,
    MALFORMED_ANNOTATION,
    MAX_OBJECTS_PER_IMAGE,
    MISSING_FIELD,
    NON_NUMERIC,
    PATH_ESCAPES,
    TOO_MANY_OBJECTS,
    ImageRecord,
    ObjectAnnotation,
    ParseResult,
    Problem,
    add_unannotated,
    dedupe,
    finish,
    names_seen,
)


def read_xml(record: ImageRecord, root: Path) -> Element | None:
    """The parsed ``<annotation>`` element of ``record.annotation``, or None with a problem added. The file is
    not read when it leads outside the root or is oversized. defusedxml refuses every entity declaration
    (billion laughs, XXE) before anything is expanded or fetched; an external DTD is never fetched."""
    xml_path = record.annotation
    if resolved_within(xml_path, root) is None:
        record.problems.append(Problem(PATH_ESCAPES, f"annotation {xml_path.name} resolves outside the root"))
        return None
    problem = oversized_annotation(xml_path)
    if problem is not None:
        record.problems.append(problem)
        return None
    try:
        tree = SafeET.parse(str(xml_path))
    except (SafeET.ParseError, defusedxml.DefusedXmlException, OSError, UnicodeError, ValueError) as e:
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"{type(e).__name__}: {e}"))
        return None
    return tree.getroot()


def parse_voc_file(xml_path: Path, root: Path, images_dir: Path, spec: PreprocessSpec | None = None,
                   tolerance: float = BOX_TOLERANCE_PX) -> ImageRecord:
    spec = spec or PreprocessSpec()
    record = ImageRecord(annotation=xml_path, image=None)
    ann = read_xml(record, root)
    if ann is None:
        return record
    if ann.tag != "annotation":
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"root element <{ann.tag}>, expected <annotation>"))
        return record
    objects = ann.findall("object")
    record.n_declared_objects = len(objects)
    if len(objects) > MAX_OBJECTS_PER_IMAGE:
        record.problems.append(Problem(TOO_MANY_OBJECTS, f"{len(objects)} objects, more than the "
                                                         f"{MAX_OBJECTS_PER_IMAGE} one image may have"))
        return record
    record.names_in_file = [n for n in ((o.findtext("name") or "").strip() for o in objects) if n]

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
    dw, dh = finite_float(size_el.findtext("width")), finite_float(size_el.findtext("height"))
    if dw is None or dh is None or dw <= 0 or dh <= 0:
        record.problems.append(Problem(INVALID_SIZE, f"declared size {size_el.findtext('width')!r} x "
                                                     f"{size_el.findtext('height')!r}"))
        return record
    record.declared_size = (int(round(dw)), int(round(dh)))

    read_image_size(record, spec)
    if record.size is None:
        return record
    for i, obj in enumerate(objects):
        _read_object(record, i, obj, (dw, dh), tolerance)
    return record


def _read_object(record: ImageRecord, i: int, obj, declared: tuple[float, float], tolerance: float) -> None:
    """One ``<object>``: appended to ``record.objects``, or a problem with its index."""
    name = (obj.findtext("name") or "").strip()
    bnd = obj.find("bndbox")
    if not name:
        record.problems.append(Problem(MISSING_FIELD, "object name", i))
        return
    if bnd is None:
        record.problems.append(Problem(MISSING_FIELD, "object bndbox", i))
        return
    raw = {k: bnd.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")}
    missing = [k for k, v in raw.items() if v is None]
    if missing:
        record.problems.append(Problem(MISSING_FIELD, "bndbox/" + ",".join(missing), i))
        return
    vals = {k: finite_float(v) for k, v in raw.items()}
    bad = [f"{k}={raw[k]!r}" for k, v in vals.items() if v is None]
    if bad:
        record.problems.append(Problem(NON_NUMERIC, ", ".join(bad), i))
        return
    x0, y0, x1, y1 = vals["xmin"], vals["ymin"], vals["xmax"], vals["ymax"]
    dw, dh = declared
    why = check_box(x0, y0, x1, y1, dw, dh, tolerance)
    if why:
        record.problems.append(Problem(why, f"box ({x0:g}, {y0:g}, {x1:g}, {y1:g}) in declared "
                                            f"image {dw:g}x{dh:g}", i))
        return
    box = clip_and_scale((x0, y0, x1, y1), declared, record.size)
    record.objects.append(ObjectAnnotation(index=i, name=name, box=box, declared_box=(x0, y0, x1, y1)))


def parse_voc(root: str | Path, spec: PreprocessSpec | None = None,
              tolerance: float = BOX_TOLERANCE_PX) -> ParseResult:
    root = Path(root)
    images_dir, ann_dir = check_root(root, "voc")
    xmls = sorted(p for p in ann_dir.iterdir() if p.is_file() and p.suffix.lower() == ".xml"
                  and not p.name.startswith("."))
    if not xmls:
        raise DataError(f"no .xml annotation files in {ann_dir}")
    records = [parse_voc_file(x, root, images_dir, spec, tolerance) for x in xmls]
    dedupe(records)
    for r in records:
        finish(r)
    add_unannotated(records, image_files(images_dir, recursive=False))
    return ParseResult(records=records, root=root, fmt="voc", declared_names=names_seen(records))
