"""Detection datasets (Pascal VOC, YOLO or COCO, one or several) -> ImageFolder head crops with a
leak-free split.

    python -m data.prepare --format voc --root SRC --out DST [--margin 0.2] [--offset 0] [--min-side 8]
        [--class-map "With Helmet=helmet" ...] [--names a,b] [--split 0.7,0.1,0.2] [--seed 0] [--force]
        [--folds 5 --fold 0]     cross-validation: the test split is fold 0 of 5 (by photo)
    python -m data.prepare --source riders=voc:SRC1 --source yolo:SRC2 --training-only SRC2_NAME --out DST ...
    python -m data.prepare --sources sources.yaml --out DST ...          (data/prepare/datasets.py)

Output (built in a temporary sibling directory and renamed into place only when complete)::

    DST/{train,val,test}/{helmet,no_helmet}/{dataset}__{stem}_{k}.png   k = object index in its annotation
    DST/manifest.csv          one row per crop (data/manifest.py)
    DST/skipped.csv           one row per skipped image/object with the reason
    DST/prepare_report.json   datasets, settings, counts (also per dataset), skip counts by reason, warnings,
                              and for YOLO where data.yaml's path: led (by_dataset.NAME.dataset_dir)

Every split/class directory is created even when empty, so ImageFolder's alphabetical class order
(helmet = 0, no_helmet = 1) always matches ``LABELS``. All crops of one photo, and of its near-duplicates
in any dataset, share a split; training-only datasets only ever train.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from data.annotations import BOX_TOLERANCE_PX, ClassMap, apply_class_map, parse_dataset
from data.duplicates import DEFAULT_MAX_DISTANCE
from data.errors import DataError
from data.manifest import MANIFEST_NAME, REPORT_NAME, SKIPPED_NAME
from data.preprocessing import LABELS, PreprocessSpec

from .assign import SPLITS, assign, check_folds, split_fractions
from .datasets import Dataset, check_class_maps, check_datasets
from .groups import duplicate_counts, leak_warnings, photo_groups
from .plan import (
    DEFAULT_MARGIN, DEFAULT_MIN_SIDE, CropPlan, check_yield, crop_geometry, orientation_warnings, plan_crops,
    skip_counts,
)
from .report import PrepareReport
from .write import check_out, publish, staging_directory, write_crops, write_skipped


def prepare(datasets: Sequence[Dataset], out: str | Path, margin: float = DEFAULT_MARGIN,
            min_side: float = DEFAULT_MIN_SIDE, fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0,
            force: bool = False, offset: float = 0.0, folds: int | None = None, fold: int = 0,
            duplicate_distance: int | None = DEFAULT_MAX_DISTANCE) -> PrepareReport:
    """Crop every annotated head of ``datasets`` into ``out/{split}/{class}/`` and write manifest/skips/report.

    ``offset`` > 0 moves each crop window by a seeded random shift, uniform in [-offset, offset] x the
    box width and height, so heads are not centred (for testing whether explanations follow the head).
    ``folds`` (with ``fold``) makes the test split fold ``fold`` of a ``folds``-fold cross-validation by
    photo; ``fractions``' train:val ratio divides the rest. The folds depend on ``seed``, not on ``fold``,
    and only on the datasets that are not training-only. Near-duplicate photos (perceptual hashes within
    ``duplicate_distance`` bits, also across datasets) share a split; ``None`` turns this off.
    Raises DataError for anything the user must fix; bad annotations are skipped and counted instead.
    """
    out = Path(out)
    fr = _check_settings(margin, min_side, offset, fractions, folds, fold, duplicate_distance)
    check_datasets(datasets)
    check_out([d.root for d in datasets], out, force)
    spec = PreprocessSpec()
    roots = {d.name: d.root for d in datasets}
    parsed = {d.name: parse_dataset(d.root, d.format, names=d.names, spec=spec) for d in datasets}
    check_class_maps({name: p.declared_names for name, p in parsed.items()}, datasets)
    plans: list[CropPlan] = []
    shifts = np.random.default_rng(seed)
    for d in datasets:
        apply_class_map(parsed[d.name], d.classes())
        mine = plan_crops(d, parsed[d.name], margin, min_side, offset, shifts)
        check_yield(d, parsed[d.name], mine)
        plans += mine
    group_of = photo_groups(plans, roots, spec, duplicate_distance)
    assignment = assign(plans, group_of, fr, seed, folds, fold)
    tmp = staging_directory(out)
    try:
        rows = write_crops(tmp, plans, assignment.splits, roots, group_of, spec)
        write_skipped(tmp, parsed, roots)
        warnings = assignment.warnings + _empty_class_warnings(rows, assignment.fractions, assignment.warnings)
        warnings += orientation_warnings(parsed)
        if duplicate_distance is None:
            warnings += leak_warnings(plans, assignment.splits, photo_groups(plans, roots, spec, DEFAULT_MAX_DISTANCE))
        report = _report(datasets, parsed, out, rows, warnings, duplicate_counts(plans, group_of), {
            "margin": margin, "offset": offset, "min_side": min_side,
            "fractions": dict(zip(SPLITS, assignment.fractions)), "seed": seed,
            "duplicate_distance": duplicate_distance, "folds": folds, "fold": fold if folds is not None else None,
            "box_tolerance_px": BOX_TOLERANCE_PX, "class_index": {c: i for i, c in enumerate(LABELS)}})
        (tmp / REPORT_NAME).write_text(report.to_json(), encoding="utf-8")
        publish(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return report


def prepare_dataset(root: str | Path, out: str | Path, fmt: str = "voc",
                    class_map: Mapping[str, str] | ClassMap | None = None, names: Sequence[str] | None = None,
                    **settings) -> PrepareReport:
    """``prepare`` for one dataset at ``root`` in format ``fmt``."""
    mapping = class_map.to_dict() if isinstance(class_map, ClassMap) else dict(class_map or {})
    dataset = Dataset(fmt, Path(root), class_map=mapping, names=tuple(names) if names is not None else None)
    return prepare([dataset], out, **settings)


def _check_settings(margin, min_side, offset, fractions, folds, fold, duplicate_distance) -> tuple[float, float, float]:
    if not (math.isfinite(margin) and margin >= 0):
        raise DataError(f"--margin must be a finite number >= 0, got {margin}")
    if not (math.isfinite(min_side) and min_side >= 0):
        raise DataError(f"--min-side must be a finite number >= 0, got {min_side}")
    if not (math.isfinite(offset) and 0 <= offset <= margin):
        raise DataError(f"--offset must be between 0 and --margin ({margin:g}) so the head stays in the crop, "
                        f"got {offset}")
    if duplicate_distance is not None and (isinstance(duplicate_distance, bool) or not isinstance(duplicate_distance, int)
                                           or not 0 <= duplicate_distance < 64):
        raise DataError(f"--duplicate-distance must be an integer between 0 and 63 bits (or 'off'), "
                        f"got {duplicate_distance!r}")
    check_folds(folds, fold)
    return split_fractions(fractions)


def _empty_class_warnings(rows: Sequence[dict], fractions: Sequence[float], already: Sequence[str]) -> list[str]:
    found = {(r["split"], r["class"]) for r in rows}
    warnings = []
    for s, share in zip(SPLITS, fractions):
        if share > 0 and any(r["split"] == s for r in rows):
            warnings += [f"{s} has no items of class {c}" for c in LABELS
                         if (s, c) not in found and f"{s} has no items of class {c}" not in already]
    return warnings


def _report(datasets, parsed, out: Path, rows, warnings, duplicates, settings) -> PrepareReport:
    counts = {s: {c: 0 for c in LABELS} for s in SPLITS}
    photos = {s: set() for s in SPLITS}
    by_dataset = {d.name: {"crops": {s: {c: 0 for c in LABELS} for s in SPLITS}, "training_only": d.training_only,
                           "skipped": dict(sorted(skip_counts(parsed[d.name]).items())),
                           "declared_classes": parsed[d.name].declared_names} for d in datasets}
    for d in datasets:
        if parsed[d.name].dataset_dir is not None:
            by_dataset[d.name]["dataset_dir"] = parsed[d.name].dataset_dir
    for r in rows:
        counts[r["split"]][r["class"]] += 1
        photos[r["split"]].add((r["dataset"], r["image"]))
        by_dataset[r["dataset"]]["crops"][r["split"]][r["class"]] += 1
    skipped: dict[str, int] = {}
    for p in parsed.values():
        for reason, n in skip_counts(p).items():
            skipped[reason] = skipped.get(reason, 0) + n
    resolved = out.resolve()
    return PrepareReport(
        out=str(resolved), datasets=[d.describe() for d in datasets], settings=settings, counts=counts,
        images={s: len(v) for s, v in photos.items()}, skipped=dict(sorted(skipped.items())), by_dataset=by_dataset,
        annotations_read=sum(1 for p in parsed.values() for r in p.records if r.annotation is not None),
        objects_seen=sum(r.n_declared_objects for p in parsed.values() for r in p.records),
        crops=len(rows), warnings=warnings, duplicates=duplicates,
        paths={"manifest": str(resolved / MANIFEST_NAME), "skipped": str(resolved / SKIPPED_NAME),
               "report": str(resolved / REPORT_NAME), **{s: str(resolved / s) for s in SPLITS}})


__all__ = ["DEFAULT_MARGIN", "DEFAULT_MIN_SIDE", "SPLITS", "CropPlan", "Dataset", "PrepareReport", "crop_geometry",
           "prepare", "prepare_dataset"]
