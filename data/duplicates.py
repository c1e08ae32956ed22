"""Near-duplicate photos: the same picture saved twice (re-encoded, resized, slightly cropped, mirrored).

A split by photo is not leak-free if a photo's copy sits in another split: helmet-kaggle-voc has 161
photos in 69 groups of pixel-identical copies, and more re-encoded ones, so about a quarter of a test
split's photos had a copy in train. Photos whose perceptual hashes (imagehash's DCT hash, 64 bits)
differ in at most ``max_distance`` bits are joined, transitively, into one group; the split keeps a
group together. On helmet-kaggle-voc the copies differ by 0-6 bits and different photos by 10 or more.
Each photo is also hashed mirrored, because augmented exports (e.g. Roboflow's) hold flipped copies; a
photo and another's mirror image count as copies. helmet-kaggle-voc has none (no pair within 12 bits).
"""

from __future__ import annotations

from typing import Sequence

import imagehash
import numpy as np
from PIL import Image, ImageOps

DEFAULT_MAX_DISTANCE = 8
_BLOCK = 512


def photo_hash(image: Image.Image) -> np.ndarray:
    """The 64-bit perceptual hashes of an image and of its mirror image: a (2, 64) boolean array."""
    return np.stack([imagehash.phash(im).hash.ravel() for im in (image, ImageOps.mirror(image))])


def duplicate_groups(hashes: Sequence[np.ndarray], max_distance: int = DEFAULT_MAX_DISTANCE) -> list[int]:
    """Group index of every photo: photos within ``max_distance`` bits share a group (transitively).

    A hash is 64 bits, or (2, 64) with the mirror image's hash (``photo_hash``); then a photo is also
    compared with the others' mirror images. Groups are numbered by their first member, so the result is
    deterministic for a given order.
    """
    if isinstance(max_distance, bool) or not isinstance(max_distance, int) or not 0 <= max_distance < 64:
        raise ValueError(f"max_distance must be an integer in [0, 63] bits, got {max_distance!r}")
    n = len(hashes)
    if n == 0:
        return []
    bits = np.stack([_with_mirror(np.asarray(h, dtype=bool)) for h in hashes])  # (n, 2, 64)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in _close_pairs(bits, bits, max_distance):
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    roots = [root(i) for i in range(n)]
    number = {r: k for k, r in enumerate(dict.fromkeys(roots))}
    return [number[r] for r in roots]


def near_duplicates_of(queries: Sequence[np.ndarray], references: Sequence[np.ndarray],
                       max_distance: int = DEFAULT_MAX_DISTANCE) -> list[list[int]]:
    """For every query photo, the indices of the reference photos within ``max_distance`` bits of it
    (or of its mirror image), in increasing order."""
    found: list[list[int]] = [[] for _ in queries]
    if len(queries) and len(references):
        q = np.stack([_with_mirror(np.asarray(h, dtype=bool)) for h in queries])
        r = np.stack([_with_mirror(np.asarray(h, dtype=bool)) for h in references])
        for i, j in _close_pairs(q, r, max_distance):
            found[i].append(j)
    return found


def _close_pairs(queries: np.ndarray, references: np.ndarray, max_distance: int):
    """(query, reference) index pairs within ``max_distance`` bits; both (n, 2, 64) boolean (photo, mirror)."""
    signed_q = queries.astype(np.int16) * 2 - 1  # Hamming distance = (64 - dot) / 2 on +-1 vectors
    signed_r = references.astype(np.int16) * 2 - 1
    photos, mirrors = signed_r[:, 0], signed_r[:, 1]
    for start in range(0, len(signed_q), _BLOCK):
        block = signed_q[start:start + _BLOCK, 0]
        distance = (64 - np.maximum(block @ photos.T, block @ mirrors.T)) // 2
        for i, j in zip(*np.nonzero(distance <= max_distance)):
            yield start + int(i), int(j)


def _with_mirror(h: np.ndarray) -> np.ndarray:
    """A hash as (2, 64): itself and its mirror image's (a bare 64-bit hash stands for both)."""
    if h.size == 64:
        return np.stack([h.ravel(), h.ravel()])
    if h.size == 128:
        return h.reshape(2, 64)
    raise ValueError(f"expected 64-bit hashes (or 2 x 64 with the mirror image's), got {h.size} bits")
