"""COCO detection JSON (``images``, ``annotations``, ``categories``), as COCO and Roboflow write it.

Layouts::

    ROOT/annotations/instances*.json       images in ROOT/images/, or in the folder the json names:
                                           instances_train2017.json -> ROOT/train2017/ or ROOT/images/train2017/
    ROOT/<split>/_annotations.coco.json    Roboflow: the split's images beside the json (also ROOT/ itself)

Boxes are ``[x, y, width, height]`` in the pixels of the image entry's declared ``width``/``height``;
they are checked and clipped there, then scaled to the real decoded size (as VOC boxes are).
Roboflow declares a category 0 (e.g. "helmets", supercategory "none") that the real classes name as
their supercategory and no annotation uses: such a group is not a class. ``iscrowd: 1`` boxes are
skipped and counted. A bad entry is a counted problem; a file that is not a COCO json is a DataError.
"""

from __future__ import annotations

import json
from pathlib import Path

from data.errors import DataError
from data.preprocessing import PreprocessSpec

from .checks import (
    check_box, check_dataset_root, clip_and_scale, finite_number, image_files, read_image_size, resolve_inside,
    resolved_within,
)
from .records import (
    BOX_TOLERANCE_PX, CROWD_ANNOTATION, DUPLICATE_ANNOTATION, IMAGE_MISSING, INVALID_SIZE, MALFORMED_ANNOTATION,
    MAX_OBJECTS_PER_IMAGE, MISSING_FIELD, NON_NUMERIC, PATH_ESCAPES, TOO_MANY_OBJECTS, UNKNOWN_CATEGORY, UNKNOWN_IMAGE,
    ImageRecord, ObjectAnnotation, ParseResult, Problem, add_unannotated, dedupe, finish,
)

ROBOFLOW_JSON = "_annotations.coco.json"


def find_coco_files(root: Path) -> list[tuple[Path, list[Path]]]:
    """Every COCO json under ``root`` with the folders its ``file_name``s are looked up in, in order."""
    found: list[tuple[Path, list[Path]]] = []
    for js in sorted((root / "annotations").glob("instances*.json")):
        named = js.stem[len("instances"):].lstrip("_-")
        folders = [root / "images"] + ([root / named, root / "images" / named] if named else [])
        found.append((js, [f for f in folders if f.is_dir()]))
    for js in sorted([root / ROBOFLOW_JSON, *root.glob(f"*/{ROBOFLOW_JSON}")]):
        if js.is_file():
            found.append((js, [js.parent]))
    if not found:
        raise DataError(f"no COCO annotation file in {root}: looked for annotations/instances*.json "
                        f"and */{ROBOFLOW_JSON}")
    for js, folders in found:
        for path in (js, *folders):
            if resolved_within(path, root) is None:
                raise DataError(f"{path} resolves to {path.resolve()}, outside the dataset root {root} "
                                "(path escapes dataset root): not read")
    return found


def load_coco_json(path: Path) -> dict:
    """The json's content, checked for the three lists; DataError naming ``path`` otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError, RecursionError) as e:
        raise DataError(f"cannot read {path}: {e}") from e
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a COCO detection file: expected a JSON object, got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path} is not a COCO detection file: '{key}' must be a list")
    return data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value: object) -> bool:
    """Image ids are integers in COCO; some tools write strings. Either matches ``image_id`` exactly."""
    return _is_int(value) or isinstance(value, str)


def class_categories(path: Path, data: dict) -> dict[int, str]:
    """Category id -> class name, without the groups that only serve as other categories' supercategory."""
    table: dict[int, dict] = {}
    for cat in data["categories"]:
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or not isinstance(cat.get("name"), str) \
                or not cat["name"].strip():
            raise DataError(f"{path}: category {cat!r} needs an integer 'id' and a 'name'")
        if cat["id"] in table:
            raise DataError(f"{path}: category id {cat['id']} is listed twice")
        table[cat["id"]] = cat
    used = {a.get("category_id") for a in data["annotations"] if isinstance(a, dict) and _is_int(a.get("category_id"))}

    def is_group(cid: int) -> bool:
        name = table[cid]["name"]
        return cid not in used and any(c.get("supercategory") == name for k, c in table.items() if k != cid)

    return {cid: cat["name"].strip() for cid, cat in table.items() if not is_group(cid)}


def _locate(record: ImageRecord, file_name: str, folders: list[Path], root: Path) -> Path | None:
    """The image file in the first folder that has it; a record-level problem when escaping or absent."""
    if not folders:
        record.problems.append(Problem(IMAGE_MISSING, f"{file_name!r}: no image folder for {record.annotation}"))
        return None
    candidates = [resolve_inside(root, folder, file_name) for folder in folders]
    if any(c is None for c in candidates):
        record.problems.append(Problem(PATH_ESCAPES, f"file_name {file_name!r}"))
        return None
    image = next((c for c in candidates if c.is_file()), None)
    if image is None:
        record.problems.append(Problem(IMAGE_MISSING, f"{file_name!r} not found in "
                                                      f"{', '.join(map(str, folders))}"))
        return candidates[0]
    return image


def image_record(path: Path, entry: object, folders: list[Path], root: Path, spec: PreprocessSpec) -> ImageRecord:
    """The record of one ``images`` entry: its file found, declared size read, image decoded."""
    record = ImageRecord(annotation=path, image=None)
    if not isinstance(entry, dict):
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"image entry {entry!r} is not an object"))
        return record
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name.strip():
        record.problems.append(Problem(MISSING_FIELD, f"file_name of image id {entry.get('id')!r}"))
        return record
    record.image = _locate(record, file_name.strip(), folders, root)
    if record.problems:
        return record
    if "width" not in entry or "height" not in entry:
        record.problems.append(Problem(MISSING_FIELD, f"width or height of {file_name!r}"))
        return record
    dw, dh = finite_number(entry["width"]), finite_number(entry["height"])
    if dw is None or dh is None or dw <= 0 or dh <= 0:
        record.problems.append(Problem(INVALID_SIZE, f"declared size {entry['width']!r} x {entry['height']!r}"))
        return record
    record.declared_size = (int(round(dw)), int(round(dh)))
    read_image_size(record, spec)
    return record


def read_box(record: ImageRecord, index: int, ann: dict, categories: dict[int, str], tolerance: float) -> None:
    """One annotation of a decoded image: appended to ``record.objects``, or a problem with ``index``."""
    ann_id = ann.get("id")
    if ann.get("iscrowd") not in (None, 0):
        record.problems.append(Problem(CROWD_ANNOTATION, f"annotation {ann_id!r}: iscrowd {ann['iscrowd']!r}", index))
        return
    if "category_id" not in ann:
        record.problems.append(Problem(MISSING_FIELD, f"category_id of annotation {ann_id!r}", index))
        return
    category = ann["category_id"]
    if not _is_int(category) or category not in categories:
        record.problems.append(Problem(UNKNOWN_CATEGORY, f"annotation {ann_id!r}: category id {category!r} is not "
                                                         f"a class (classes: {categories})", index))
        return
    bbox = ann.get("bbox")
    if bbox is None:
        record.problems.append(Problem(MISSING_FIELD, f"bbox of annotation {ann_id!r}", index))
        return
    if not isinstance(bbox, list) or len(bbox) != 4:
        record.problems.append(Problem(MALFORMED_ANNOTATION, f"annotation {ann_id!r}: bbox {bbox!r} is not "
                                                             "[x, y, width, height]", index))
        return
    x, y, w, h = (finite_number(v) for v in bbox)
    if None in (x, y, w, h):
        record.problems.append(Problem(NON_NUMERIC, f"annotation {ann_id!r}: bbox {bbox!r}", index))
        return
    dw, dh = record.declared_size
    why = check_box(x, y, x + w, y + h, dw, dh, tolerance)
    if why:
        record.problems.append(Problem(why, f"annotation {ann_id!r}: bbox [{x:g}, {y:g}, {w:g}, {h:g}] in "
                                            f"declared image {dw}x{dh}", index))
        return
    box = clip_and_scale((x, y, x + w, y + h), (dw, dh), record.size)
    record.objects.append(ObjectAnnotation(index=index, name=categories[category], box=box,
                                           declared_box=(x, y, w, h)))


def _add_box(record: ImageRecord, ann: dict, categories: dict[int, str], tolerance: float) -> None:
    """Count one more annotation of ``record`` and read it while the image is usable and under the cap."""
    index = record.n_declared_objects
    record.n_declared_objects += 1
    if index == MAX_OBJECTS_PER_IMAGE and record.usable:
        record.problems.append(Problem(TOO_MANY_OBJECTS, f"more than the {MAX_OBJECTS_PER_IMAGE} annotations "
                                                         "one image may have"))
    if record.usable:
        read_box(record, index, ann, categories, tolerance)


def parse_coco_file(path: Path, folders: list[Path], root: Path, spec: PreprocessSpec | None = None,
                    tolerance: float = BOX_TOLERANCE_PX) -> tuple[list[ImageRecord], list[str]]:
    """The records of one json (one per image entry, plus one for boxes of unknown images) and its classes."""
    spec = spec or PreprocessSpec()
    data = load_coco_json(path)
    categories = class_categories(path, data)
    records: list[ImageRecord] = []
    by_id: dict[int, ImageRecord] = {}
    for entry in data["images"]:
        record = image_record(path, entry, folders, root, spec)
        image_id = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(entry, dict) and not _is_id(image_id):
            record.problems.insert(0, Problem(MISSING_FIELD, f"id of image entry {entry.get('file_name')!r}"))
        elif image_id in by_id:
            record.problems.insert(0, Problem(DUPLICATE_ANNOTATION, f"image id {image_id!r} is listed twice"))
        elif _is_id(image_id):
            by_id[image_id] = record
        records.append(record)
    orphans = ImageRecord(annotation=path, image=None)
    for position, ann in enumerate(data["annotations"]):
        record = by_id.get(ann.get("image_id")) if isinstance(ann, dict) and _is_id(ann.get("image_id")) else None
        if record is None:
            orphans.n_declared_objects += 1
            reason = UNKNOWN_IMAGE if isinstance(ann, dict) else MALFORMED_ANNOTATION
            what = f"image id {ann.get('image_id')!r}" if isinstance(ann, dict) else "not an object"
            orphans.problems.append(Problem(reason, f"annotation {position}: {what}", position))
            continue
        _add_box(record, ann, categories, tolerance)
    if orphans.problems:
        records.append(orphans)
    return records, [categories[cid] for cid in sorted(categories)]


def parse_coco(root: str | Path, spec: PreprocessSpec | None = None,
               tolerance: float = BOX_TOLERANCE_PX) -> ParseResult:
    root = Path(root)
    check_dataset_root(root)
    records: list[ImageRecord] = []
    declared: dict[str, None] = {}
    folders_used: dict[Path, None] = {}
    for path, folders in find_coco_files(root):
        file_records, names = parse_coco_file(path, folders, root, spec, tolerance)
        records += file_records
        declared.update(dict.fromkeys(names))
        folders_used.update(dict.fromkeys(folders))
    dedupe(records)
    for record in records:
        finish(record)
    add_unannotated(records, [im for folder in folders_used for im in image_files(folder, recursive=False)])
    return ParseResult(records=records, root=root, fmt="coco", declared_names=list(declared))
