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


class _GroupPacker:
    """Groups packed into splits, minimising the chi-square distance of the per-split class counts to
    ``fraction * class total``."""

    def __init__(self, groups: Sequence[Hashable], labels: Sequence[Hashable], fr: tuple[float, ...], seed: int):
        self.classes = list(dict.fromkeys(labels))
        cidx = {c: i for i, c in enumerate(self.classes)}
        self.group_order = list(dict.fromkeys(groups))
        self.gvec: dict[Hashable, list[int]] = {g: [0] * len(self.classes) for g in self.group_order}
        for g, lab in zip(groups, labels):
            self.gvec[g][cidx[lab]] += 1
        self.totals = [sum(self.gvec[g][c] for g in self.group_order) for c in range(len(self.classes))]
        self.active = [s for s, f in enumerate(fr) if f > 0]
        # expected counts; the chi-square weight 1/expected is only used on active splits
        self.expect = [[fr[s] * t for t in self.totals] for s in range(len(fr))]
        self.counts = [[0] * len(self.classes) for _ in fr]
        self.members: list[list[Hashable]] = [[] for _ in fr]
        self.where: dict[Hashable, int] = {}
        order = self.group_order[:]
        random.Random(seed).shuffle(order)
        order.sort(key=lambda g: -sum(self.gvec[g]))  # big groups first, seeded order among equal sizes
        self.order = order
        self.enough = len(self.group_order) >= len(self.active)

    def cost(self, s: int, vec: Sequence[int]) -> float:
        """Chi-square term of split s if its class counts were ``vec``."""
        e = self.expect[s]
        return sum((vec[c] - e[c]) ** 2 / e[c] for c in range(len(self.classes)) if e[c] > 0)

    @staticmethod
    def plus(a: Sequence[int], b: Sequence[int], sign: int = 1) -> list[int]:
        return [x + sign * y for x, y in zip(a, b)]

    def move_delta(self, g: Hashable, t: int) -> float:
        s, v, c = self.where[g], self.gvec[g], self.counts
        return (self.cost(s, self.plus(c[s], v, -1)) + self.cost(t, self.plus(c[t], v))
                - self.cost(s, c[s]) - self.cost(t, c[t]))

    def swap_delta(self, s: int, a: Sequence[int], t: int, b: Sequence[int]) -> float:
        c, plus = self.counts, self.plus
        return (self.cost(s, plus(plus(c[s], a, -1), b)) + self.cost(t, plus(plus(c[t], b, -1), a))
                - self.cost(s, c[s]) - self.cost(t, c[t]))

    def put(self, g: Hashable, s: int) -> None:
        self.counts[s] = self.plus(self.counts[s], self.gvec[g])
        self.members[s].append(g)
        self.where[g] = s

    def take(self, g: Hashable) -> int:
        s = self.where.pop(g)
        self.counts[s] = self.plus(self.counts[s], self.gvec[g], -1)
        self.members[s].remove(g)
        return s

    def greedy(self) -> None:
        """Each group, biggest first, to the split it helps most; then no active split left empty."""
        for g in self.order:
            self.put(g, min(self.active, key=lambda t: (self.cost(t, self.plus(self.counts[t], self.gvec[g]))
                                                        - self.cost(t, self.counts[t]), t)))
        if self.enough:
            for s in self.active:
                if not self.members[s]:
                    movable = [(self.move_delta(g, s), i) for i, g in enumerate(self.order)
                               if len(self.members[self.where[g]]) > 1]
                    g = self.order[min(movable)[1]]
                    self.take(g)
                    self.put(g, s)

    def best_step(self) -> tuple | None:
        """The best single-group move or pairwise swap, or None when none improves the objective. Groups with
        the same class vector in the same split are interchangeable, so steps are evaluated per (split, class
        vector) and applied to the first such group in seeded order."""
        rank = {g: i for i, g in enumerate(self.order)}
        reps: dict[tuple[int, tuple[int, ...]], Hashable] = {}
        for g in sorted(self.where, key=rank.__getitem__):
            reps.setdefault((self.where[g], tuple(self.gvec[g])), g)
        best: tuple[float, tuple] | None = None
        for (s, _), g in reps.items():
            if self.enough and len(self.members[s]) == 1:
                continue
            for t in self.active:
                if t != s:
                    d = self.move_delta(g, t)
                    if d < -_EPS and (best is None or d < best[0]):
                        best = (d, ("move", g, t))
        items = list(reps.items())
        for i, ((s, a), g) in enumerate(items):
            for (t, b), h in items[i + 1:]:
                if s != t and a != b:
                    d = self.swap_delta(s, a, t, b)
                    if d < -_EPS and (best is None or d < best[0]):
                        best = (d, ("swap", g, h))
        return None if best is None else best[1]

    def improve(self) -> None:
        for _ in range(10 * len(self.group_order) + 10):
            step = self.best_step()
            if step is None:
                break
            kind, g, x = step
            if kind == "move":
                self.take(g)
                self.put(g, x)
            else:
                s, t = self.take(g), self.take(x)
                self.put(g, t)
                self.put(x, s)

    def warnings(self, names: Sequence[str], unit: str) -> list[str]:
        warnings: list[str] = []
        empty = [names[s] for s in self.active if not self.members[s]]
        if empty:
            warnings.append(f"only {len(self.group_order)} {unit}(s) for {len(self.active)} split(s): "
                            f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty")
        for s in self.active:
            if self.members[s]:
                missing = [str(self.classes[c]) for c in range(len(self.classes))
                           if self.totals[c] and self.counts[s][c] == 0]
                if missing:
                    warnings.append(f"{names[s]} has no items of class {', '.join(missing)}")
        return warnings


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
    packer = _GroupPacker(groups, labels, fr, seed)
    packer.greedy()
    packer.improve()
    return SplitResult(assignment=[packer.where[g] for g in groups], group_assignment=dict(packer.where),
                       fractions=fr, warnings=packer.warnings(names, unit))


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
