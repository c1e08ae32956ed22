"""Images as every stage holds them: uint8 NHWC pixels through the shared preprocessing, and what is
known about each one (its label, file, head box and dataset).

``Images`` is the one container for training, calibration, parity, prediction and explanation;
``image_files`` is the one way a folder becomes a list of image files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ImageDecodeError
from .manifest import crop_info
from .preprocessing import IMAGE_SUFFIXES, LABELS, PreprocessSpec

log = logging.getLogger(__name__)
Box = tuple[float, float, float, float]


@dataclass
class Images:
    pixels: np.ndarray                                  # uint8 (N, S, S, 3)
    labels: np.ndarray | None = None                    # int64 (N,) in LABELS order, when known
    paths: list[Path] = field(default_factory=list)     # the files they came from (empty for generated images)
    boxes: list[Box | None] = field(default_factory=list)   # head box in input pixels, when a manifest knows it
    datasets: list[str] = field(default_factory=list)   # the dataset each came from, when a manifest knows it
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of files that could not be read
    source_sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each file before resizing

    def __len__(self) -> int:
        return len(self.pixels)

    def class_counts(self) -> dict[str, int]:
        if self.labels is None:
            return {}
        return {name: int((self.labels == i).sum()) for i, name in enumerate(LABELS)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> "Images":
        """The images at ``indices``, in that order (skips are kept: they describe the whole load)."""
        idx = np.asarray(indices, dtype=np.int64)
        pick = (lambda items: [items[i] for i in idx] if items else [])  # noqa: E731
        return replace(self, pixels=self.pixels[idx], labels=None if self.labels is None else self.labels[idx],
                       paths=pick(self.paths), boxes=pick(self.boxes), datasets=pick(self.datasets),
                       source_sizes=pick(self.source_sizes))


def _escaped(char: str, byte_format: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # how Python holds a byte of a file name that is not UTF-8 (surrogateescape)
        return byte_format.format(code - 0xDC00)
    return f"\\u{code:04x}"  # any other lone surrogate (e.g. from a JSON "\\ud800")


def safe_text(text: str, byte_format: str = "\\x{:02x}") -> str:
    """``text`` that encodes as UTF-8: the bytes of a file name that are not UTF-8 become ``\\xNN`` (or
    ``byte_format``), other lone surrogates ``\\uNNNN``. Everything written or printed about a path goes
    through here, so a name like ``b"img\\xff.png"`` cannot break a CSV, a JSON file or the console."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join(_escaped(c, byte_format) if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)


def image_files(directory: str | Path, recursive: bool = False) -> list[Path]:
    """Image files in ``directory`` (and below it when ``recursive``), sorted; hidden files and folders ignored."""
    directory = Path(directory)
    found = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(directory).parts))


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given (a bad one is reported when decoded), directories -> their image files, recursively.
    Missing paths are kept so that they are reported as skips."""
    out: list[Path] = []
    for p in map(Path, paths):
        out += image_files(p, recursive=True) if p.is_dir() else [p]
    return out


def load_images(paths: Sequence[str | Path], spec: PreprocessSpec, labels: Sequence[int] | None = None) -> Images:
    """Decode every file once through ``spec``; unreadable files (missing, corrupt, truncated, too large)
    become counted skips, not errors; their names in ``skipped`` are ``safe_text``.

    ``labels`` (one per path) are kept for the files that could be read. Head boxes and datasets come
    from the manifest of a prepared dataset (``data.manifest``) when one lies above the file."""
    if labels is not None and len(labels) != len(paths):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    pixels, kept, kept_labels, skipped, sizes = [], [], [], [], []
    for i, path in enumerate(map(Path, paths)):
        try:
            rgb = spec.load_rgb(path)
            pixels.append(spec.to_uint8(rgb))
            sizes.append(rgb.size)
        except ImageDecodeError as e:
            skipped.append((safe_text(str(path)), safe_text(str(e))))
            continue
        kept.append(path)
        if labels is not None:
            kept_labels.append(labels[i])
    if skipped:
        log.warning("skipped %d unreadable image(s), e.g. %s", len(skipped), skipped[0][1])
    size = spec.input_size
    infos = [crop_info(p) for p in kept]
    return Images(
        pixels=np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8),
        labels=None if labels is None else np.asarray(kept_labels, dtype=np.int64),
        paths=kept,
        boxes=[info.head_box(size) if info else None for info in infos],
        datasets=[info.dataset if info else "" for info in infos] if any(infos) else [],
        skipped=skipped,
        source_sizes=sizes,
    )
