"""Where labelled images come from: the synthetic generator or an ImageFolder on disk.

Every source ends as ``data.images.Images``: uint8 NHWC arrays already through the shared
preprocessing, labels in the project's order, and the file paths (and, for a prepared dataset, the
head boxes and datasets) they came from.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .errors import DataError
from .images import Images, image_files, load_images
from .preprocessing import LABELS, PreprocessSpec

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")
SYNTHETIC = "synthetic"
DEFAULT_SYNTHETIC_COUNTS = {"train": 5000, "val": 500, "test": 1000}


def stratified_subset(data: Images, fraction: float, seed: int = 0) -> Images:
    """A seeded random ``fraction`` of each class's images (at least one per class), in their original order."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(data.labels):
        members = np.flatnonzero(data.labels == label)
        keep.extend(rng.choice(members, size=max(1, round(fraction * len(members))), replace=False))
    return data.subset(np.sort(keep))


def synthetic_split(split: str, spec: PreprocessSpec, seed: int = 0,
                    counts: dict[str, int] | None = None, limit: int | None = None) -> Images:
    """A split of the built-in synthetic data (its first ``limit`` images); splits use disjoint image indices."""
    from .synthetic import generate

    counts = {**DEFAULT_SYNTHETIC_COUNTS, **(counts or {})}
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {SPLITS}")
    start = sum(counts[s] for s in SPLITS[: SPLITS.index(split)])
    n = counts[split] if limit is None else min(limit, counts[split])
    images, labels = generate(n, seed=seed, size=spec.input_size, start=start)
    return Images(images, labels.astype(np.int64))


def _class_dirs(directory: Path) -> dict[str, Path]:
    subdirs = {p.name: p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")}
    unknown = sorted(set(subdirs) - set(LABELS))
    if unknown:
        raise DataError(
            f"unknown class folder(s) {unknown} in {directory}; expected only {list(LABELS)}")
    return subdirs


def scan_imagefolder(root: str | Path, seed: int = 0,
                     fractions: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> dict[str, list[tuple[Path, int]]]:
    """Find (path, label) pairs per split in ``root/{train,val,test}/{helmet,no_helmet}/*`` or, for a
    flat ``root/{helmet,no_helmet}/*``, split them here (seeded, stratified)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data root {root} does not exist or is not a directory")
    names = {p.name for p in root.iterdir() if p.is_dir()}
    if names & set(SPLITS):
        missing = [s for s in SPLITS if s not in names]
        if missing:
            raise DataError(f"{root} has split folders but lacks {missing}; expected {list(SPLITS)}")
        found = {s: labelled_files(root / s) for s in SPLITS}
    elif names & set(LABELS):
        found = _split_flat(labelled_files(root), seed, fractions)
    else:
        raise DataError(
            f"{root} is not an ImageFolder: expected {root}/{{train,val,test}}/{{helmet,no_helmet}}/ "
            f"or {root}/{{helmet,no_helmet}}/ (found folders: {sorted(names) or 'none'})")
    for split, items in found.items():
        if not items:
            raise DataError(f"no images found for split {split!r} under {root}")
    return found


def labelled_files(directory: Path) -> list[tuple[Path, int]]:
    """(image, label) pairs of ``directory/{helmet,no_helmet}/*``; any other class folder is refused."""
    items = []
    for name, path in sorted(_class_dirs(directory).items()):
        items += [(p, LABELS.index(name)) for p in image_files(path)]
    return items


def _split_flat(items, seed, fractions):
    from .splitting import grouped_stratified_split

    result = grouped_stratified_split([str(p) for p, _ in items], [y for _, y in items],
                                      fractions=fractions, seed=seed)
    for warning in result.warnings:
        log.warning("%s", warning)
    return {split: [it for it, a in zip(items, result.assignment) if a == i] for i, split in enumerate(SPLITS)}


def load_pixels(items: list[tuple[Path, int]], spec: PreprocessSpec) -> Images:
    """Decode and preprocess every (file, label) once; unreadable files are skipped and counted."""
    images = load_images([p for p, _ in items], spec, labels=[y for _, y in items])
    if not len(images):
        raise DataError(f"none of the {len(items)} image(s) could be read")
    return images


def load_split(source: str, split: str, spec: PreprocessSpec, seed: int = 0,
               synthetic_counts: dict[str, int] | None = None) -> Images:
    """One split of ``source`` ("synthetic" or an ImageFolder root), preprocessed."""
    if source == SYNTHETIC:
        return synthetic_split(split, spec, seed, synthetic_counts)
    return load_pixels(scan_imagefolder(source, seed)[split], spec)


def load_labelled(source: str, split: str, spec: PreprocessSpec, seed: int = 0,
                  synthetic_counts: dict[str, int] | None = None) -> Images:
    """Images to evaluate on: a split of a split root (or of synthetic data), or every image of a flat
    ``helmet/ no_helmet/`` folder."""
    if source != SYNTHETIC:
        root = Path(source)
        if root.is_dir() and not any((root / s).is_dir() for s in SPLITS) and any((root / c).is_dir() for c in LABELS):
            items = labelled_files(root)
            if not items:
                raise DataError(f"no images found under {root}/{{helmet,no_helmet}}")
            return load_pixels(items, spec)
    return load_split(source, split, spec, seed, synthetic_counts)
