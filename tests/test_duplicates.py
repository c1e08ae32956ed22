"""data.duplicates: copies of a photo (re-encoded, resized, cropped) share a group; other photos do not."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from data.duplicates import duplicate_groups, photo_hash


def scene(seed: int, size=(200, 150)) -> Image.Image:
    """A smooth random 'photo': an 8x8 colour grid upscaled bilinearly, plus pixel noise."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    big = np.asarray(small.resize(size, Image.BILINEAR), dtype=np.int16) + rng.integers(-10, 11, (size[1], size[0], 3))
    return Image.fromarray(big.clip(0, 255).astype(np.uint8))


def jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def test_copies_are_grouped_and_different_photos_are_not():
    photo = scene(0)
    w, h = photo.size
    copies = [photo, jpeg(photo, 60), photo.resize((w * 4 // 5, h * 4 // 5)), photo.crop((3, 3, w - 3, h - 3))]
    others = [scene(s) for s in range(1, 8)]
    groups = duplicate_groups([photo_hash(im) for im in copies + others])
    assert groups[:4] == [0, 0, 0, 0]
    assert groups[4:] == list(range(1, 8))


def test_a_mirrored_copy_is_grouped_in_either_order():
    photo, other = scene(0), scene(1)
    flipped = jpeg(ImageOps.mirror(photo), 70)
    assert duplicate_groups([photo_hash(im) for im in (photo, other, flipped)]) == [0, 1, 0]
    assert duplicate_groups([photo_hash(im) for im in (flipped, other, photo)]) == [0, 1, 0]
    plain = [photo_hash(im)[0] for im in (photo, flipped)]  # without the mirror hashes they differ
    assert duplicate_groups(plain) == [0, 1]


def bits(flipped: list[int]) -> np.ndarray:
    h = np.zeros(64, dtype=bool)
    h[flipped] = True
    return h


def test_groups_are_transitive_and_numbered_by_first_member():
    a, b, c = bits([]), bits([0, 1, 2, 3, 4]), bits([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])  # a-b 5, b-c 5, a-c 10 bits
    far = bits(list(range(20, 60)))
    assert duplicate_groups([far, a, c, b], max_distance=8) == [0, 1, 1, 1]
    assert duplicate_groups([far, a, c], max_distance=8) == [0, 1, 2]
    assert duplicate_groups([a, c], max_distance=10) == [0, 0]
    assert duplicate_groups([], max_distance=8) == []


@pytest.mark.parametrize("bad", [-1, 64, 2.5, True, "8"])
def test_bad_distance_is_refused(bad):
    with pytest.raises(ValueError, match="max_distance must be an integer"):
        duplicate_groups([bits([])], max_distance=bad)


def test_a_hash_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError, match="expected 64-bit hashes"):
        duplicate_groups([np.zeros(32, dtype=bool)])
