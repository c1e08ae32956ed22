"""Photos and their near-duplicate groups, across datasets: what the split keeps together.

Photos of the datasets that are split (not training-only) are grouped among themselves, across
datasets, exactly as one dataset alone would be: adding a training-only dataset never changes their
groups or folds. A training-only photo joins the group of the split photo it duplicates, if any; the
split then decides whether that copy may train (its group is in train) or must be dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from data.duplicates import duplicate_groups, near_duplicates_of, photo_hash
from data.errors import ImageDecodeError
from data.preprocessing import PreprocessSpec

from .plan import CropPlan


@dataclass(frozen=True)
class Photo:
    dataset: str
    image: Path

    def name(self, root: Path) -> str:
        return f"{self.dataset}:{relative(self.image, root)}"


def relative(path: Path | None, root: Path) -> str:
    if path is None:
        return ""
    for base in (root.resolve(), root):
        try:
            return path.relative_to(base).as_posix()
        except ValueError:
            pass
    return str(path)


def photo_of(plan: CropPlan) -> Photo:
    return Photo(plan.dataset.name, plan.record.image)


def _hashes(photos: Sequence[Photo], spec: PreprocessSpec) -> dict[Photo, object]:
    """Perceptual hash per photo; a photo that cannot be decoded here stays alone (cropping skips it later)."""
    found = {}
    for photo in photos:
        try:
            found[photo] = photo_hash(spec.load_rgb(photo.image))
        except ImageDecodeError:
            pass
    return found


def photo_groups(plans: Sequence[CropPlan], roots: Mapping[str, Path], spec: PreprocessSpec,
                 max_distance: int | None) -> dict[Photo, str]:
    """Photo -> its group's name (``dataset:image`` of the group's first photo; itself when alone)."""
    photos = list(dict.fromkeys(photo_of(p) for p in plans))
    own = {ph: ph.name(roots[ph.dataset]) for ph in photos}
    if max_distance is None:
        return own
    training_only = {p.dataset.name for p in plans if p.dataset.training_only}
    split = [ph for ph in photos if ph.dataset not in training_only]
    extra = [ph for ph in photos if ph.dataset in training_only]
    hashes = _hashes(photos, spec)
    group_of = dict(own)
    _group_within([ph for ph in split if ph in hashes], hashes, group_of, max_distance)
    _group_within([ph for ph in extra if ph in hashes], hashes, group_of, max_distance)
    hashed_split = [ph for ph in split if ph in hashes]
    hashed_extra = [ph for ph in extra if ph in hashes]
    matches = near_duplicates_of([hashes[ph] for ph in hashed_extra], [hashes[ph] for ph in hashed_split], max_distance)
    for ph, found in zip(hashed_extra, matches):
        if found:  # the copy follows the split photo it duplicates (the first one, in a stable order)
            group_of[ph] = group_of[hashed_split[found[0]]]
    return group_of


def _group_within(photos: Sequence[Photo], hashes: Mapping, group_of: dict[Photo, str], max_distance: int) -> None:
    first: dict[int, str] = {}
    for ph, g in zip(photos, duplicate_groups([hashes[ph] for ph in photos], max_distance)):
        group_of[ph] = first.setdefault(g, group_of[ph])


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def duplicate_counts(plans: Sequence[CropPlan], group_of: Mapping[Photo, str]) -> dict[str, int]:
    """Near-duplicate groups, their photos, and heads that two copies label differently.

    A head of one copy matches a head of the group's first photo when their boxes, in fractions of
    the image size (copies may be resized), overlap with IoU >= 0.5.
    """
    heads: dict[Photo, list[tuple[str, tuple[float, ...]]]] = {}
    for plan in plans:
        w, h = plan.record.size
        x0, y0, x1, y1 = plan.obj.box
        heads.setdefault(photo_of(plan), []).append((plan.obj.label, (x0 / w, y0 / h, x1 / w, y1 / h)))
    members: dict[str, list[Photo]] = {}
    for photo, group in group_of.items():
        members.setdefault(group, []).append(photo)
    shared = [m for m in members.values() if len(m) > 1]
    conflicts = 0
    for first, *copies in shared:
        for copy in copies:
            for label, box in heads.get(copy, []):
                conflicts += any(_iou(box, b) >= 0.5 and lab != label for lab, b in heads.get(first, []))
    return {"groups": len(shared), "photos": sum(map(len, shared)), "conflicting_heads": conflicts,
            "across_datasets": sum(1 for m in shared if len({ph.dataset for ph in m}) > 1)}


def leak_warnings(plans: Sequence[CropPlan], splits: Sequence[str], copies: Mapping[Photo, str]) -> list[str]:
    """With duplicate grouping off: how many val/test photos have a near-duplicate in train."""
    train = {copies[photo_of(p)] for p, s in zip(plans, splits) if s == "train"}
    warnings = []
    for name in ("val", "test"):
        photos = {photo_of(p) for p, s in zip(plans, splits) if s == name}
        leaked = sum(1 for ph in photos if copies[ph] in train)
        if leaked:
            warnings.append(f"{leaked} of {len(photos)} {name} photos have a near-duplicate in train "
                            f"(--duplicate-distance off)")
    return warnings
