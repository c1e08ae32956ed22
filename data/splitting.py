"""Group-aware stratified split: every item of one group (source photo) lands in the same split.

Items are crops, groups are their source images, labels their classes. The split minimises the
chi-square distance between the per-split class counts and their targets (``fraction * class
total``), which matches both the split sizes and the class proportions; it starts from a greedy
largest-group-first assignment (seeded tie order) and then improves it with single-group moves and
pairwise swaps until nothing helps. Deterministic for a given input order and seed.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, Sequence

_EPS = 1e-12


@dataclass
class SplitResult:
    assignment: list[int]                       # split index of every item, aligned with the input
    group_assignment: dict[Hashable, int]       # split index of every group
    fractions: tuple[float, ...]
    warnings: list[str] = field(default_factory=list)

    def counts(self, labels: Sequence[Hashable]) -> list[Counter]:
        out = [Counter() for _ in self.fractions]
        for s, lab in zip(self.assignment, labels):
            out[s][lab] += 1
        return out


def _check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fr = tuple(float(f) for f in fractions)
    if not fr:
        raise ValueError("need at least one split fraction")
    if any(not (f >= 0.0) for f in fr):
        raise ValueError(f"split fractions must be >= 0, got {fr}")
    if abs(sum(fr) - 1.0) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fr} (sum {sum(fr):g})")
    return fr


def grouped_stratified_split(groups: Sequence[Hashable], labels: Sequence[Hashable],
                             fractions: Sequence[float] = (0.7, 0.1, 0.2), seed: int = 0,
                             split_names: Sequence[str] | None = None, unit: str = "group") -> SplitResult:
    """Assign each item to a split index so that no group straddles two splits.

    Splits with a fraction of 0 never get anything. If there are at least as many groups as splits
    with a non-zero fraction, every such split gets at least one group; otherwise some stay empty and
    a warning says so. Warnings also flag a class that is missing from a split that is not empty.
    ``split_names`` and ``unit`` (what a group is, e.g. "source image") only word the warnings.
    """
    fr = _check_fractions(fractions)
    if len(groups) != len(labels):
        raise ValueError(f"groups and labels differ in length ({len(groups)} vs {len(labels)})")
    names = list(split_names) if split_names is not None else [f"split {i}" for i in range(len(fr))]
    if len(names) != len(fr):
        raise ValueError(f"{len(names)} split names for {len(fr)} fractions")

    classes = list(dict.fromkeys(labels))
    cidx = {c: i for i, c in enumerate(classes)}
    group_order = list(dict.fromkeys(groups))
    gvec: dict[Hashable, list[int]] = {g: [0] * len(classes) for g in group_order}
    for g, lab in zip(groups, labels):
        gvec[g][cidx[lab]] += 1
    totals = [sum(gvec[g][c] for g in group_order) for c in range(len(classes))]
    active = [s for s, f in enumerate(fr) if f > 0]
    # expected counts; the chi-square weight 1/expected is only used on active splits
    expect = [[fr[s] * totals[c] for c in range(len(classes))] for s in range(len(fr))]
    counts = [[0] * len(classes) for _ in fr]
    members: list[list[Hashable]] = [[] for _ in fr]
    where: dict[Hashable, int] = {}

    def cost(s: int, vec: Sequence[int]) -> float:
        """Chi-square term of split s if its class counts were ``vec``."""
        return sum((vec[c] - expect[s][c]) ** 2 / expect[s][c] for c in range(len(classes)) if expect[s][c] > 0)

    def plus(a: Sequence[int], b: Sequence[int], sign: int = 1) -> list[int]:
        return [x + sign * y for x, y in zip(a, b)]

    def move_delta(g: Hashable, t: int) -> float:
        s, v = where[g], gvec[g]
        return (cost(s, plus(counts[s], v, -1)) + cost(t, plus(counts[t], v))
                - cost(s, counts[s]) - cost(t, counts[t]))

    def put(g: Hashable, s: int) -> None:
        counts[s] = plus(counts[s], gvec[g])
        members[s].append(g)
        where[g] = s

    def take(g: Hashable) -> None:
        s = where.pop(g)
        counts[s] = plus(counts[s], gvec[g], -1)
        members[s].remove(g)

    # 1) greedy: big groups first (seeded order among equal sizes), each to the split it helps most
    rng = random.Random(seed)
    order = group_order[:]
    rng.shuffle(order)
    order.sort(key=lambda g: -sum(gvec[g]))
    for g in order:
        best = min(active, key=lambda t: (cost(t, plus(counts[t], gvec[g])) - cost(t, counts[t]), t))
        put(g, best)

    # 2) no active split left empty when there are enough groups
    enough = len(group_order) >= len(active)
    if enough:
        for s in active:
            if not members[s]:
                movable = [(move_delta(g, s), i) for i, g in enumerate(order) if len(members[where[g]]) > 1]
                g = order[min(movable)[1]]
                take(g)
                put(g, s)

    # 3) local search on the objective: best single-group move or pairwise swap, until none improves.
    # Groups with the same class vector in the same split are interchangeable, so moves and swaps are
    # evaluated per (split, class vector) and applied to the first such group in seeded order.
    rank = {g: i for i, g in enumerate(order)}
    for _ in range(10 * len(group_order) + 10):
        reps: dict[tuple[int, tuple[int, ...]], Hashable] = {}
        for g in sorted(where, key=rank.__getitem__):
            reps.setdefault((where[g], tuple(gvec[g])), g)
        best: tuple[float, tuple] | None = None
        for (s, vec), g in reps.items():
            if enough and len(members[s]) == 1:
                continue
            for t in active:
                if t != s:
                    d = move_delta(g, t)
                    if d < -_EPS and (best is None or d < best[0]):
                        best = (d, ("move", g, t))
        items = list(reps.items())
        for i, ((s, a), g) in enumerate(items):
            for (t, b), h in items[i + 1:]:
                if s == t or a == b:
                    continue
                d = (cost(s, plus(plus(counts[s], a, -1), b)) + cost(t, plus(plus(counts[t], b, -1), a))
                     - cost(s, counts[s]) - cost(t, counts[t]))
                if d < -_EPS and (best is None or d < best[0]):
                    best = (d, ("swap", g, h))
        if best is None:
            break
        kind, g, x = best[1]
        if kind == "move":
            take(g)
            put(g, x)
        else:
            s, t = where[g], where[x]
            take(g)
            take(x)
            put(g, t)
            put(x, s)

    warnings: list[str] = []
    empty = [names[s] for s in active if not members[s]]
    if empty:
        warnings.append(f"only {len(group_order)} {unit}(s) for {len(active)} split(s): "
                        f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
    for s in active:
        if members[s]:
            missing = [str(classes[c]) for c in range(len(classes)) if totals[c] and counts[s][c] == 0]
            if missing:
                warnings.append(f"{names[s]} has no items of class {', '.join(missing)}")
    return SplitResult(assignment=[where[g] for g in groups], group_assignment=dict(where),
                       fractions=fr, warnings=warnings)


def grouped_kfold_split(groups: Sequence[Hashable], labels: Sequence[Hashable], folds: int, fold: int,
                        val_share: float = 0.125, seed: int = 0, unit: str = "group") -> SplitResult:
    """Train/val/test split for fold ``fold`` of a group-aware stratified ``folds``-fold cross-validation.

    The groups are first divided into ``folds`` test folds of equal size (as ``grouped_stratified_split``
    with equal fractions, so the folds do not depend on ``fold``): fold ``fold`` is the test split, and
    its test sets over all folds are disjoint and cover every item once. The other folds are split into
    train and val, val taking ``val_share`` of them (0.125 of 80 % = the default 70/10/20 at 5 folds).
    Split indices: 0 train, 1 val, 2 test.
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < folds:
        raise ValueError(f"fold must be an integer in [0, {folds - 1}], got {fold!r}")
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"val_share must be in [0, 1), got {val_share}")
    by_fold = grouped_stratified_split(groups, labels, [1.0 / folds] * folds, seed=seed,
                                       split_names=[f"fold {k}" for k in range(folds)], unit=unit)
    rest = [i for i, k in enumerate(by_fold.assignment) if k != fold]
    train_val = grouped_stratified_split([groups[i] for i in rest], [labels[i] for i in rest],
                                         (1.0 - val_share, val_share), seed=seed,
                                         split_names=("train", "val"), unit=unit)
    assignment = [2] * len(groups)
    for i, s in zip(rest, train_val.assignment):
        assignment[i] = s
    test_share = 1.0 / folds
    return SplitResult(assignment=assignment,
                       group_assignment={g: s for g, s in zip(groups, assignment)},
                       fractions=((1 - test_share) * (1 - val_share), (1 - test_share) * val_share, test_share),
                       warnings=by_fold.warnings + train_val.warnings)
