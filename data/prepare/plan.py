"""Which crops to cut: every usable head box, expanded by the margin, with tiny heads dropped."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from data.annotations import ImageRecord, ObjectAnnotation, ParseResult, Problem
from data.errors import DataError
from data.preprocessing import LABELS

from .datasets import Dataset

TOO_SMALL = "too small"
# Heads narrower/shorter than this (real image pixels, before the margin) are dropped. On
# helmet-kaggle-voc (224x224 images) the short side has median ~20 px, 1st percentile ~6.7 px;
# 8 px drops ~3% of boxes: crops under ~11 px (8 px + 2x20% margin) upscaled 10x+ to the model input
# are blurs in which a helmet cannot be told from hair.
DEFAULT_MIN_SIDE = 8.0
DEFAULT_MARGIN = 0.2
_EPS = 1e-9  # box sides are computed in floats: 8 px written as 0.0125 x 640 must not count as 7.99999


@dataclass(frozen=True)
class CropPlan:
    dataset: Dataset
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


def plan_crops(dataset: Dataset, parsed: ParseResult, margin: float, min_side: float, offset: float,
               shifts: np.random.Generator) -> list[CropPlan]:
    """One plan per usable box; boxes under ``min_side`` become counted problems of their record.
    ``offset`` > 0 moves each window by a random shift from ``shifts`` (uniform in +-offset x the box)."""
    plans = []
    for rec in parsed.records:
        if not rec.usable:
            continue
        for obj in rec.objects:
            x0, y0, x1, y1 = obj.box
            short = min(x1 - x0, y1 - y0)
            if short + _EPS < min_side:
                rec.problems.append(Problem(TOO_SMALL, f"short side {short:.1f} px < --min-side {min_side:g}",
                                            obj.index))
                continue
            shift = tuple(shifts.uniform(-offset, offset, 2)) if offset else (0.0, 0.0)
            crop, head = crop_geometry(obj.box, rec.size, margin, shift)
            plans.append(CropPlan(dataset, rec, obj, crop, head))
    return plans


def skip_counts(parsed: ParseResult) -> Counter:
    return Counter(p.reason for rec in parsed.records for p in rec.problems)


def orientation_warnings(parsed: Mapping[str, ParseResult]) -> list[str]:
    """One warning per dataset whose usable photos carry an EXIF orientation tag, which crops ignore."""
    warnings = []
    for name, result in parsed.items():
        tagged = [r for r in result.records if r.usable and r.orientation != 1]
        if tagged:
            warnings.append(f"{len(tagged)} photo(s) of dataset {name} have an EXIF orientation tag that rotates or "
                            "flips them: their boxes were read, and their crops cut, in the stored pixel frame "
                            "(the tag is ignored; see docs/bad_inputs.md)")
    return warnings


def check_yield(dataset: Dataset, parsed: ParseResult, plans: Sequence[CropPlan]) -> None:
    """A dataset must yield crops, and a crop of every label that one of its declared classes maps to."""
    skips = skip_counts(parsed)
    top = ", ".join(f"{r}: {n}" for r, n in skips.most_common(5))
    if not plans:
        raise DataError(f"no usable crops in dataset {dataset.name} ({dataset.root}): {top or 'no objects at all'}")
    cropped = {plan.obj.label for plan in plans}
    classes = dataset.classes()
    for label in LABELS:
        declared = [name for name in parsed.declared_names if classes.get(name) == label]
        if declared and label not in cropped:
            raise DataError(f"no crop of class {label!r} from dataset {dataset.name} ({dataset.root}), although it "
                            f"declares {', '.join(map(repr, declared))} (top skip reasons: {top or 'none'})")
