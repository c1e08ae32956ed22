"""Which split every crop goes to: grouped and stratified over the datasets that are split, and
training-only datasets into train, except copies of a val or test photo."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from data.annotations import Problem
from data.errors import DataError
from data.splitting import grouped_kfold_split, grouped_stratified_split

from .groups import Photo, photo_of
from .plan import CropPlan

SPLITS: tuple[str, ...] = ("train", "val", "test")
COPY_OF_HELD_OUT = "near-duplicate of a val/test photo"


@dataclass
class Assignment:
    splits: list[str | None]                    # per plan; None: dropped (a training-only copy of a held-out photo)
    fractions: tuple[float, float, float]
    warnings: list[str] = field(default_factory=list)


def split_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fr = tuple(float(f) for f in fractions)
    if len(fr) != len(SPLITS):
        raise DataError(f"--split needs {len(SPLITS)} fractions ({','.join(SPLITS)}), got {len(fr)}")
    if any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise DataError(f"--split fractions must be >= 0 and sum to 1, got {fr}")
    if fr[0] <= 0:
        raise DataError("the train fraction must be > 0")
    return fr  # type: ignore[return-value]


def check_folds(folds: int | None, fold: int) -> None:
    if folds is None:
        return
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise DataError(f"--folds must be an integer >= 2, got {folds!r}")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise DataError(f"--fold must be between 0 and {folds - 1} for --folds {folds}, got {fold!r}")


def assign(plans: Sequence[CropPlan], group_of: Mapping[Photo, str], fractions: tuple[float, float, float],
           seed: int, folds: int | None, fold: int) -> Assignment:
    """Split the plans of the datasets that are not training-only (all crops of a near-duplicate group
    together; with ``folds``, fold ``fold`` of a grouped k-fold is the test split), then put the
    training-only crops into train unless their photo's group was held out (val/test): those are
    dropped and recorded as a problem of their record."""
    held = [i for i, p in enumerate(plans) if not p.dataset.training_only]
    groups = [group_of[photo_of(plans[i])] for i in held]
    labels = [plans[i].obj.label for i in held]
    if folds is None:
        split = grouped_stratified_split(groups, labels, fractions, seed=seed, split_names=SPLITS, unit="source image")
    else:
        split = grouped_kfold_split(groups, labels, folds, fold, val_share=fractions[1] / (fractions[0] + fractions[1]),
                                    seed=seed, unit="source image")
        fractions = split.fractions
    splits: list[str | None] = ["train"] * len(plans)
    group_split: dict[str, str] = {}
    for i, group, s in zip(held, groups, split.assignment):
        splits[i] = group_split[group] = SPLITS[s]
    for i, plan in enumerate(plans):
        if plan.dataset.training_only:
            where = group_split.get(group_of[photo_of(plan)], "train")
            if where != "train":
                splits[i] = None
                plan.record.problems.append(Problem(COPY_OF_HELD_OUT, f"its photo duplicates a {where} photo "
                                                    f"({group_of[photo_of(plan)]})", plan.obj.index))
    return Assignment(splits, fractions, list(split.warnings))
