"""Detection annotations (Pascal VOC or YOLO) -> ImageFolder head crops with a leak-free split.

    python -m data.prepare --format voc --root SRC --out DST [--margin 0.2] [--offset 0] [--min-side 8]
        [--class-map "With Helmet=helmet" ...] [--names a,b] [--split 0.7,0.1,0.2] [--seed 0] [--force]
        [--folds 5 --fold 0]     cross-validation: the test split is fold 0 of 5 (by photo)

Output (built in a temporary sibling directory and renamed into place only when complete)::

    DST/{train,val,test}/{helmet,no_helmet}/{source_stem}_{k}.png   k = object index in its annotation
    DST/manifest.csv          one row per crop: geometry in source pixels and the head box in crop pixels
    DST/skipped.csv           one row per skipped image/object with the reason
    DST/prepare_report.json   settings, counts, skip counts by reason, warnings

Every split/class directory is created even when empty, so ImageFolder's alphabetical class order
(helmet = 0, no_helmet = 1) always matches ``LABELS``. All crops of one source image share a split.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from data.annotations import (
    BOX_TOLERANCE_PX,
    CORRUPT_IMAGE,
    ClassMap,
    ImageRecord,
    ObjectAnnotation,
    Problem,
    apply_class_map,
    parse_dataset,
)
from data.duplicates import DEFAULT_MAX_DISTANCE, duplicate_groups, photo_hash
from data.errors import DataError, ImageDecodeError
from data.preprocessing import LABELS, PreprocessSpec
from data.splitting import grouped_kfold_split, grouped_stratified_split

SPLITS: tuple[str, ...] = ("train", "val", "test")
DEFAULT_MARGIN = 0.2
# Heads narrower/shorter than this (real image pixels, before the margin) are dropped. On
# helmet-kaggle-voc (224x224 images) the short side has median ~20 px, 1st percentile ~6.7 px;
# 8 px drops ~3% of boxes: crops under ~11 px (8 px + 2x20% margin) upscaled 10x+ to the model input
# are blurs in which a helmet cannot be told from hair.
DEFAULT_MIN_SIDE = 8.0
TOO_SMALL = "too small"
REPORT_NAME = "prepare_report.json"
MANIFEST_NAME = "manifest.csv"
SKIPPED_NAME = "skipped.csv"
MANIFEST_COLUMNS = (
    "crop", "source", "class", "split",
    "box_x0", "box_y0", "box_x1", "box_y1",
    "crop_x0", "crop_y0", "crop_x1", "crop_y1",
    "head_x0", "head_y0", "head_x1", "head_y1",
    "object", "source_class", "image_width", "image_height", "annotation", "photo_group",
)
SKIPPED_COLUMNS = ("source", "object", "reason", "detail", "annotation")


@dataclass
class PrepareReport:
    root: str
    out: str
    format: str
    settings: dict
    counts: dict[str, dict[str, int]]           # split -> class -> crops
    images: dict[str, int]                      # split -> source images
    skipped: dict[str, int]                     # reason -> rows of skipped.csv
    annotations_read: int = 0
    objects_seen: int = 0
    crops: int = 0
    warnings: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # near-duplicate photo groups kept in one split

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"prepared {self.crops} crops from {sum(self.images.values())} images "
                 f"({self.objects_seen} annotated objects in {self.annotations_read} annotation files) -> {self.out}"]
        head = f"  {'split':<6} {'images':>7} " + " ".join(f"{c:>10}" for c in LABELS) + f" {'total':>7}"
        lines.append(head)
        for s in self.counts:
            row = self.counts[s]
            lines.append(f"  {s:<6} {self.images.get(s, 0):>7} " + " ".join(f"{row.get(c, 0):>10}" for c in LABELS)
                         + f" {sum(row.values()):>7}")
        if self.duplicates.get("groups"):
            lines.append(f"near-duplicate photos: {self.duplicates['photos']} in {self.duplicates['groups']} groups, "
                         f"each kept in one split; {self.duplicates['conflicting_heads']} heads labelled differently "
                         "in a copy than in the group's first photo")
        if self.skipped:
            lines.append(f"skipped ({sum(self.skipped.values())} rows in {SKIPPED_NAME}; "
                         "image-level rows count once per image):")
            width = max(len(r) for r in self.skipped)
            for reason, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {reason:<{width}} {n:>5}")
        else:
            lines.append("skipped: nothing")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


@dataclass(frozen=True)
class CropPlan:
    record: ImageRecord
    obj: ObjectAnnotation
    crop: tuple[int, int, int, int]             # x0, y0, x1, y1 in source pixels (x1/y1 exclusive)
    head: tuple[float, float, float, float]     # the box in crop pixels


def crop_geometry(box: Sequence[float], size: tuple[int, int], margin: float, shift: tuple[float, float] = (0.0, 0.0),
                  ) -> tuple[tuple[int, int, int, int], tuple[float, float, float, float]]:
    """Expand ``box`` by ``margin`` x its width/height on each side, move the window by ``shift`` x the
    box width/height (|shift| <= margin keeps the whole head inside), clip to the image, snap outwards
    to whole pixels. Returns (crop box in source pixels, head box in crop pixels)."""
    x0, y0, x1, y1 = box
    w, h = size
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    dx, dy = shift[0] * (x1 - x0), shift[1] * (y1 - y0)
    cx0 = max(0, math.floor(x0 - mx + dx + 1e-9))
    cy0 = max(0, math.floor(y0 - my + dy + 1e-9))
    cx1 = min(w, math.ceil(x1 + mx + dx - 1e-9))
    cy1 = min(h, math.ceil(y1 + my + dy - 1e-9))
    # a box of zero area after clipping cannot happen for validated boxes, but never emit an empty crop
    cx1, cy1 = max(cx1, cx0 + 1), max(cy1, cy0 + 1)
    head = (x0 - cx0, y0 - cy0, x1 - cx0, y1 - cy0)
    return (cx0, cy0, cx1, cy1), head


def _split_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != len(SPLITS):
        raise DataError(f"--split needs {len(SPLITS)} fractions ({','.join(SPLITS)}), got {len(fr)}")
    if any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise DataError(f"--split fractions must be >= 0 and sum to 1, got {fr}")
    if fr[0] <= 0:
        raise DataError("the train fraction must be > 0")
    return fr  # type: ignore[return-value]


def _check_out(root: Path, out: Path, force: bool) -> None:
    r, o = root.resolve(), out.resolve()
    if o == r or r.is_relative_to(o) or o.is_relative_to(r):
        raise DataError(f"output {out} must be outside the dataset root {root} (and not contain it)")
    if o.exists():
        if not o.is_dir():
            raise DataError(f"output {out} exists and is not a directory")
        if any(o.iterdir()):
            if not force:
                raise DataError(f"output {out} exists and is not empty (use --force to replace it)")
            if not (o / REPORT_NAME).is_file():
                raise DataError(f"refusing to replace {out}: it has no {REPORT_NAME}, so it was not written "
                                   "by data.prepare (remove it yourself if you really mean it)")


def _rel(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    for base in (root.resolve(), root):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            pass
    return str(path)


def _unique_stems(images: Iterable[Path], root: Path) -> dict[Path, str]:
    """Crop-name stem per source image: its file stem, disambiguated when two images share one."""
    images = list(dict.fromkeys(images))
    by_stem = Counter(p.stem for p in images)
    out: dict[Path, str] = {}
    used: set[str] = set()
    for p in images:
        stem = p.stem
        if by_stem[stem] > 1:
            rel = Path(_rel(p, root))
            stem = "__".join(rel.with_suffix("").parts[1:] or rel.with_suffix("").parts) + "-" + p.suffix.lstrip(".")
        base, n = stem, 1
        while stem in used:
            n += 1
            stem = f"{base}-{n}"
        used.add(stem)
        out[p] = stem
    return out


def _fmt(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _photo_groups(records: Sequence, root: Path, spec: PreprocessSpec, max_distance: int | None) -> dict[Path, str]:
    """Source image -> its near-duplicate group, named by the group's first photo (itself when alone).

    An image that cannot be decoded here stays alone; cropping skips and counts it later.
    """
    images = list(dict.fromkeys(r.image for r in records))
    if max_distance is None:
        return {im: _rel(im, root) for im in images}
    hashes, hashed = [], []
    for im in images:
        try:
            hashes.append(photo_hash(spec.load_rgb(im)))
            hashed.append(im)
        except ImageDecodeError:
            pass
    first: dict[int, str] = {}
    group_of = {im: _rel(im, root) for im in images}
    for im, g in zip(hashed, duplicate_groups(hashes, max_distance)):
        group_of[im] = first.setdefault(g, _rel(im, root))
    return group_of


def _leak_warnings(plans: Sequence[CropPlan], assignment: Sequence[int], copies: Mapping[Path, str]) -> list[str]:
    """With duplicate grouping off: how many val/test photos have a near-duplicate in train."""
    train = {copies[p.record.image] for p, s in zip(plans, assignment) if SPLITS[s] == "train"}
    warnings = []
    for name in SPLITS[1:]:
        photos = {p.record.image for p, s in zip(plans, assignment) if SPLITS[s] == name}
        leaked = sum(1 for im in photos if copies[im] in train)
        if leaked:
            warnings.append(f"{leaked} of {len(photos)} {name} photos have a near-duplicate in train "
                            f"(--duplicate-distance off)")
    return warnings


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _duplicate_counts(plans: Sequence[CropPlan], group_of: Mapping[Path, str]) -> dict[str, int]:
    """Near-duplicate groups, their photos, and heads that two copies label differently.

    A head of one copy matches a head of the group's first photo when their boxes, in fractions of
    the image size (copies may be resized), overlap with IoU >= 0.5.
    """
    heads: dict[Path, list[tuple[str, tuple[float, ...]]]] = {}
    for plan in plans:
        w, h = plan.record.size
        x0, y0, x1, y1 = plan.obj.box
        heads.setdefault(plan.record.image, []).append((plan.obj.label, (x0 / w, y0 / h, x1 / w, y1 / h)))
    members: dict[str, list[Path]] = {}
    for image, group in group_of.items():
        members.setdefault(group, []).append(image)
    shared = [m for m in members.values() if len(m) > 1]
    conflicts = 0
    for first, *copies in shared:
        for copy in copies:
            for label, box in heads.get(copy, []):
                conflicts += any(_iou(box, b) >= 0.5 and lab != label for lab, b in heads.get(first, []))
    return {"groups": len(shared), "photos": sum(map(len, shared)), "conflicting_heads": conflicts}


def _publish(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` dir to ``out``, replacing an existing (empty or --force) ``out``."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / out.name)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)


def prepare_dataset(root: str | Path, out: str | Path, fmt: str = "voc", margin: float = DEFAULT_MARGIN,
                    min_side: float = DEFAULT_MIN_SIDE, class_map: Mapping[str, str] | ClassMap | None = None,
                    fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0, force: bool = False,
                    names: Sequence[str] | None = None, offset: float = 0.0, folds: int | None = None,
                    fold: int = 0, duplicate_distance: int | None = DEFAULT_MAX_DISTANCE) -> PrepareReport:
    """Crop every annotated head into ``out/{split}/{class}/`` and write manifest/skips/report.

    ``offset`` > 0 moves each crop window by a seeded random shift, uniform in [-offset, offset] x the
    box width and height, so heads are not centred (for testing whether explanations follow the head;
    a centred head lets a map that ignores the image win the pointing game). It must not exceed ``margin``.

    ``folds`` (with ``fold``) makes the split fold ``fold`` of a ``folds``-fold cross-validation by source
    photo: that fold's photos are the test split, and ``fractions``' train:val ratio divides the rest
    (``data.splitting.grouped_kfold_split``). The folds depend on ``seed``, not on ``fold``.

    Near-duplicate photos (perceptual hashes within ``duplicate_distance`` bits; ``data.duplicates``)
    form one group that the split keeps together, so a copy of a test photo cannot sit in train; the
    manifest's ``photo_group`` column names each crop's group (its first photo). ``None`` turns this off.

    ``class_map`` entries override the default spellings (see ``data.annotations.DEFAULT_CLASS_MAP``).
    ``names`` are the YOLO class names by id (default: ``root/data.yaml``). Raises DataError for
    anything the user must fix; bad individual annotations are skipped and counted instead.
    """
    root, out = Path(root), Path(out)
    if fmt not in ("voc", "yolo"):
        raise DataError(f"unknown format {fmt!r} (expected 'voc' or 'yolo')")
    if not (math.isfinite(margin) and margin >= 0):
        raise DataError(f"--margin must be a finite number >= 0, got {margin}")
    if not (math.isfinite(min_side) and min_side >= 0):
        raise DataError(f"--min-side must be a finite number >= 0, got {min_side}")
    if not (math.isfinite(offset) and 0 <= offset <= margin):
        raise DataError(f"--offset must be between 0 and --margin ({margin:g}) so the head stays in the crop, "
                           f"got {offset}")
    fr = _split_fractions(fractions)
    if duplicate_distance is not None and (isinstance(duplicate_distance, bool) or not isinstance(duplicate_distance, int)
                                           or not 0 <= duplicate_distance < 64):
        raise DataError(f"--duplicate-distance must be an integer between 0 and 63 bits (or 'off'), "
                           f"got {duplicate_distance!r}")
    if folds is not None:
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
            raise DataError(f"--folds must be an integer >= 2, got {folds!r}")
        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
            raise DataError(f"--fold must be between 0 and {folds - 1} for --folds {folds}, got {fold!r}")
        if fr[0] <= 0:
            raise DataError(f"--split needs a train fraction > 0, got {fr}")
    try:
        cmap = class_map if isinstance(class_map, ClassMap) else ClassMap(class_map)
    except ValueError as e:
        raise DataError(str(e)) from e
    _check_out(root, out, force)

    spec = PreprocessSpec()
    try:
        parsed = parse_dataset(root, fmt, names=names, spec=spec)
    except DataError as e:
        raise DataError(str(e)) from e
    apply_class_map(parsed, cmap)

    plans: list[CropPlan] = []
    shifts = np.random.default_rng(seed)
    for rec in parsed.records:
        if not rec.usable:
            continue
        for obj in rec.objects:
            x0, y0, x1, y1 = obj.box
            short = min(x1 - x0, y1 - y0)
            if short < min_side:
                rec.problems.append(Problem(TOO_SMALL, f"short side {short:.1f} px < --min-side {min_side:g}",
                                            obj.index))
                continue
            shift = tuple(shifts.uniform(-offset, offset, 2)) if offset else (0.0, 0.0)
            crop, head = crop_geometry(obj.box, rec.size, margin, shift)
            plans.append(CropPlan(rec, obj, crop, head))

    def skip_counts() -> Counter:
        return Counter(p.reason for rec in parsed.records for p in rec.problems)

    if not plans:
        top = ", ".join(f"{r}: {n}" for r, n in skip_counts().most_common(5)) or "no objects at all"
        raise DataError(f"no usable crops in {root} ({top})")

    group_of = _photo_groups([p.record for p in plans], root, spec, duplicate_distance)
    groups, labels = [group_of[p.record.image] for p in plans], [p.obj.label for p in plans]
    if folds is None:
        split = grouped_stratified_split(groups, labels, fr, seed=seed, split_names=SPLITS, unit="source image")
    else:
        split = grouped_kfold_split(groups, labels, folds, fold, val_share=fr[1] / (fr[0] + fr[1]), seed=seed,
                                    unit="source image")
        fr = split.fractions
    stems = _unique_stems((p.record.image for p in plans), root)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for s in SPLITS:
            for c in LABELS:
                (tmp / s / c).mkdir(parents=True)
        rows: list[dict] = []
        counts = {s: {c: 0 for c in LABELS} for s in SPLITS}
        images_per_split = {s: set() for s in SPLITS}
        by_record: dict[int, list[tuple[CropPlan, int]]] = {}
        for plan, s in zip(plans, split.assignment):
            by_record.setdefault(id(plan.record), []).append((plan, s))
        for items in by_record.values():
            rec = items[0][0].record
            try:
                image = spec.load_rgb(rec.image)
            except ImageDecodeError as e:  # changed on disk since it was checked
                rec.problems.append(Problem(CORRUPT_IMAGE, str(e)))
                continue
            if image.size != rec.size:
                rec.problems.append(Problem(CORRUPT_IMAGE, f"size changed on disk: {image.size} != {rec.size}"))
                continue
            for plan, s in items:
                split_name, label = SPLITS[s], plan.obj.label
                rel = Path(split_name) / label / f"{stems[rec.image]}_{plan.obj.index}.png"
                image.crop(plan.crop).save(tmp / rel, format="PNG")
                counts[split_name][label] += 1
                images_per_split[split_name].add(rec.image)
                rows.append({
                    "crop": rel.as_posix(), "source": _rel(rec.image, root), "class": label, "split": split_name,
                    **{f"box_{k}": _fmt(v) for k, v in zip(("x0", "y0", "x1", "y1"), plan.obj.box)},
                    **{f"crop_{k}": v for k, v in zip(("x0", "y0", "x1", "y1"), plan.crop)},
                    **{f"head_{k}": _fmt(v) for k, v in zip(("x0", "y0", "x1", "y1"), plan.head)},
                    "object": plan.obj.index, "source_class": plan.obj.name,
                    "image_width": rec.size[0], "image_height": rec.size[1],
                    "annotation": _rel(rec.annotation, root), "photo_group": group_of[rec.image],
                })
        with open(tmp / MANIFEST_NAME, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            w.writeheader()
            w.writerows(rows)
        with open(tmp / SKIPPED_NAME, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=SKIPPED_COLUMNS)
            w.writeheader()
            for rec in parsed.records:
                for p in sorted(rec.problems, key=lambda p: (-1 if p.object_index is None else p.object_index)):
                    w.writerow({"source": _rel(rec.image, root) or _rel(rec.annotation, root),
                                "object": "" if p.object_index is None else p.object_index,
                                "reason": p.reason, "detail": p.detail, "annotation": _rel(rec.annotation, root)})

        warnings = list(split.warnings)
        if duplicate_distance is None:
            warnings += _leak_warnings(plans, split.assignment, _photo_groups([p.record for p in plans], root, spec,
                                                                               DEFAULT_MAX_DISTANCE))
        for s in SPLITS:
            if fr[SPLITS.index(s)] > 0 and images_per_split[s]:
                for c in LABELS:
                    if counts[s][c] == 0 and f"{s} has no items of class {c}" not in warnings:
                        warnings.append(f"{s} has no items of class {c}")
        report = PrepareReport(
            root=str(root.resolve()), out=str(out.resolve()), format=fmt,
            settings={"format": fmt, "margin": margin, "offset": offset, "min_side": min_side, "fractions": dict(zip(SPLITS, fr)),
                      "seed": seed, "duplicate_distance": duplicate_distance, "folds": folds, "fold": fold if folds is not None else None,
                      "box_tolerance_px": BOX_TOLERANCE_PX, "class_map": cmap.to_dict(),
                      "class_index": {c: i for i, c in enumerate(LABELS)},
                      "yolo_names": parsed.class_names},
            counts=counts, images={s: len(v) for s, v in images_per_split.items()},
            skipped=dict(sorted(skip_counts().items())),
            annotations_read=sum(1 for r in parsed.records if r.annotation is not None),
            objects_seen=sum(r.n_declared_objects for r in parsed.records),
            crops=len(rows), warnings=warnings, duplicates=_duplicate_counts(plans, group_of),
            paths={"manifest": str(out.resolve() / MANIFEST_NAME), "skipped": str(out.resolve() / SKIPPED_NAME),
                   "report": str(out.resolve() / REPORT_NAME),
                   **{s: str(out.resolve() / s) for s in SPLITS}},
        )
        (tmp / REPORT_NAME).write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
        _publish(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return report


# --- CLI ---------------------------------------------------------------------------------------

def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def parse_duplicate_distance(text: str) -> int | None:
    if text == "off":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bits or 'off', got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data.prepare", description=__doc__.split("\n\n")[0])
    p.add_argument("--format", required=True, choices=("voc", "yolo"), help="annotation format")
    p.add_argument("--root", required=True, type=Path, help="dataset root (images/ + annotations/ or labels/)")
    p.add_argument("--out", required=True, type=Path, help="output directory (must not exist or be empty)")
    p.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                   help="crop margin as a fraction of the box width/height on each side (default %(default)s)")
    p.add_argument("--offset", type=float, default=0.0,
                   help="move each crop window by a seeded random shift of up to this fraction of the box "
                        "width/height, so heads are off-centre; at most --margin (default 0: centred)")
    p.add_argument("--min-side", type=float, default=DEFAULT_MIN_SIDE,
                   help="drop boxes whose short side is under this many image pixels (default %(default)s)")
    p.add_argument("--class-map", action="append", default=[], metavar="NAME=LABEL",
                   help=f"map an annotation class to one of {', '.join(LABELS)}; repeatable; overrides defaults")
    p.add_argument("--names", help="YOLO class names by id, comma-separated (default: ROOT/data.yaml)")
    p.add_argument("--split", type=_floats, default=[0.7, 0.1, 0.2], help="train,val,test fractions (default 0.7,0.1,0.2)")
    p.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    p.add_argument("--duplicate-distance", type=parse_duplicate_distance, default=DEFAULT_MAX_DISTANCE,
                   help="photos whose perceptual hashes differ in at most this many of 64 bits are copies and "
                        "share a split; 'off' splits every photo on its own (default %(default)s)")
    p.add_argument("--folds", type=int, help="cross-validation: split the photos into this many test folds; "
                                             "--split's train:val ratio divides the other folds")
    p.add_argument("--fold", type=int, default=0, help="with --folds: which fold is the test split (default 0)")
    p.add_argument("--force", action="store_true", help="replace an existing output written by an earlier run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        try:
            cmap = ClassMap.from_entries(args.class_map)
        except ValueError as e:
            raise DataError(str(e)) from e
        names = [n.strip() for n in args.names.split(",")] if args.names is not None else None
        if args.folds is None and args.fold != 0:
            raise DataError("--fold needs --folds")
        if names is not None and args.format != "yolo":
            raise DataError("--names only applies to --format yolo")
        report = prepare_dataset(args.root, args.out, args.format, margin=args.margin, min_side=args.min_side,
                                 class_map=cmap, fractions=args.split, seed=args.seed, force=args.force,
                                 names=names, offset=args.offset, folds=args.folds, fold=args.fold,
                                 duplicate_distance=args.duplicate_distance)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
