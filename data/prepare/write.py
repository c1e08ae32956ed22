"""Cutting the crops and writing the prepared set: crops, manifest.csv and skipped.csv in a staging
directory that replaces the output in one rename only when everything is written.

Every text written is UTF-8: a source file name that is not (``b"img\\xff.png"`` on Linux) is kept, written
``img\\xff.png`` in the CSVs and report, and its crops are named ``..img%FF_0.png`` (``data.images.safe_text``).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from data.annotations import CORRUPT_IMAGE, ImageRecord, ParseResult, Problem
from data.errors import DataError, ImageDecodeError
from data.images import safe_text
from data.manifest import MANIFEST_COLUMNS, MANIFEST_NAME, REPORT_NAME, SKIPPED_COLUMNS, SKIPPED_NAME
from data.preprocessing import LABELS, PreprocessSpec

from .assign import SPLITS
from .groups import Photo, photo_of, relative
from .plan import CropPlan


CROP_NAME_BYTE = "%{:02X}"  # a byte of a source name that is not UTF-8, in a crop's file name


def utf8_row(row: Mapping[str, object]) -> dict:
    """The row with every text value made writable as UTF-8."""
    return {k: safe_text(v) if isinstance(v, str) else v for k, v in row.items()}


def check_out(roots: Iterable[Path], out: Path, force: bool) -> None:
    o = out.resolve()
    for root in roots:
        r = root.resolve()
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


def crop_names(plans: Sequence[CropPlan], roots: Mapping[str, Path]) -> dict[Photo, str]:
    """Crop-name stem per photo: ``{dataset}__{file stem}``, disambiguated when two photos share a stem."""
    photos = list(dict.fromkeys(photo_of(p) for p in plans))
    by_stem = Counter((ph.dataset, ph.image.stem) for ph in photos)
    names: dict[Photo, str] = {}
    used: set[str] = set()
    for ph in photos:
        stem = ph.image.stem
        if by_stem[(ph.dataset, stem)] > 1:
            rel = Path(relative(ph.image, roots[ph.dataset])).with_suffix("")
            stem = "__".join(rel.parts[1:] or rel.parts) + "-" + ph.image.suffix.lstrip(".")
        base, n = f"{ph.dataset}__{safe_text(stem, CROP_NAME_BYTE)}", 1
        name = base
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        names[ph] = name
    return names


def _fmt(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _row(plan: CropPlan, rel: Path, split: str, roots: Mapping[str, Path], group: str) -> dict:
    rec, root = plan.record, roots[plan.dataset.name]
    corners = ("x0", "y0", "x1", "y1")
    return {
        "crop": rel.as_posix(), "dataset": plan.dataset.name, "image": relative(rec.image, root),
        "class": plan.obj.label, "split": split,
        **{f"box_{k}": _fmt(v) for k, v in zip(corners, plan.obj.box)},
        **{f"crop_{k}": v for k, v in zip(corners, plan.crop)},
        **{f"head_{k}": _fmt(v) for k, v in zip(corners, plan.head)},
        "object": plan.obj.index, "source_class": plan.obj.name,
        "image_width": rec.size[0], "image_height": rec.size[1],
        "annotation": relative(rec.annotation, root), "photo_group": group,
        "training_only": int(plan.dataset.training_only),
    }


def write_crops(tmp: Path, plans: Sequence[CropPlan], splits: Sequence[str | None], roots: Mapping[str, Path],
                group_of: Mapping[Photo, str], spec: PreprocessSpec) -> list[dict]:
    """Cut and save every planned crop into ``tmp/{split}/{class}/``; returns the manifest rows. A photo
    that no longer decodes (changed on disk since it was checked) becomes a problem of its record."""
    for s in SPLITS:
        for c in LABELS:
            (tmp / s / c).mkdir(parents=True)
    names = crop_names(plans, roots)
    by_photo: dict[Photo, list[tuple[CropPlan, str]]] = {}
    for plan, split in zip(plans, splits):
        if split is not None:
            by_photo.setdefault(photo_of(plan), []).append((plan, split))
    rows = []
    for photo, items in by_photo.items():
        rec = items[0][0].record
        try:
            image = spec.load_rgb(rec.image)
        except ImageDecodeError as e:
            rec.problems.append(Problem(CORRUPT_IMAGE, str(e)))
            continue
        if image.size != rec.size:
            rec.problems.append(Problem(CORRUPT_IMAGE, f"size changed on disk: {image.size} != {rec.size}"))
            continue
        for plan, split in items:
            rel = Path(split) / plan.obj.label / f"{names[photo]}_{plan.obj.index}.png"
            image.crop(plan.crop).save(tmp / rel, format="PNG")
            rows.append(_row(plan, rel, split, roots, group_of[photo]))
    with open(tmp / MANIFEST_NAME, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(map(utf8_row, rows))
    return rows


def _skip_row(dataset: str, rec: ImageRecord, problem: Problem, root: Path) -> dict:
    return utf8_row({"dataset": dataset, "image": relative(rec.image, root) or relative(rec.annotation, root),
                     "object": "" if problem.object_index is None else problem.object_index,
                     "reason": problem.reason, "detail": problem.detail, "annotation": relative(rec.annotation, root)})


def write_skipped(tmp: Path, parsed: Mapping[str, ParseResult], roots: Mapping[str, Path]) -> None:
    with open(tmp / SKIPPED_NAME, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SKIPPED_COLUMNS)
        writer.writeheader()
        for name, result in parsed.items():
            for rec in result.records:
                for p in sorted(rec.problems, key=lambda p: (-1 if p.object_index is None else p.object_index)):
                    writer.writerow(_skip_row(name, rec, p, roots[name]))


def staging_directory(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))


def publish(tmp: Path, out: Path) -> None:
    """Move the finished ``tmp`` dir to ``out``, replacing an existing (empty or --force) ``out``."""
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.rename(out, old / out.name)
        os.rename(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, out)
