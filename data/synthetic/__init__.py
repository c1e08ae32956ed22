"""The built-in procedural helmet / no_helmet dataset (the zero-setup default).

Every image is a heads-and-shoulders "photo" drawn with PIL: a background (gradient, blotchy
texture, random shapes or a street scene), a person (skin, hair, face, neck, clothing) and a piece
of headwear. Class 0 (``helmet``) wears one of the helmet kinds in ``HELMET_KINDS``; class 1
(``no_helmet``) is bare-headed or wears one of the *hard negatives* in ``NO_HELMET_KINDS`` (caps,
beanies, brimmed hats, hoods, headscarves, headbands, headphones), drawn from the same colour and
pattern distribution as the helmets, so the class cue is the shape of the headwear and not a
colour statistic. The scene is then rotated, occluded, relit, blurred and given sensor noise.

Image ``i`` depends only on ``(seed, start + i, size)``: it is drawn with
``np.random.default_rng([seed, start + i])`` and its label is ``(start + i) % 2`` (even = helmet),
so ``generate(n, seed)[k]`` equals ``generate(1, seed, start=k)[0]`` and classes are balanced.

Drawing happens at 2x (``_SS``) on a canvas larger than the view (so rotation never shows empty
corners), is box-downsampled for anti-aliasing, then rotated and cropped to the view in one
affine resampling. Person geometry is written in *head units*:
``(u, v)`` with the head ellipse spanning u, v in [-1, 1] (v grows downwards, chin at v = +1).

Modules, one job each: ``paint`` (colours, head-unit geometry, the ``Painter``, surface patterns
and highlights), ``headwear`` (the person and every helmet / hard-negative drawer, with the kind
tables), ``scene`` (backgrounds, occluders, relighting, gamma, sensor noise); this package draws
one image (``render``), the dataset (``generate``) and writes it to disk (``write_imagefolder``).

CLI: ``python -m data.synthetic --out DIR [--train N --val N --test N --seed S --size PX]`` (``main``).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from data.preprocessing import LABELS

from .headwear import HELMET_KINDS, NO_HELMET_KINDS, _choose, _draw_person
from .paint import HAIR_COLOURS, Person, _jitter, gear_colour, skin_colour
from .scene import BACKGROUNDS, add_noise, add_occluders, gamma, relight

HELMET = LABELS.index("helmet")
NO_HELMET = LABELS.index("no_helmet")
MIN_SIZE = 32
_SS = 2  # supersampling factor: draw at 2x, box-downsample
_MAX_ROTATION = 15.0  # degrees, scene roll
_CANVAS_MARGIN = 1.26  # canvas side / view side; >= cos + sin of _MAX_ROTATION (1.225)


# --------------------------------------------------------------------------------------------
# one image
# --------------------------------------------------------------------------------------------
def _make_person(rng, view: int, canvas: int, angle: float) -> Person:
    """Pick the head size and its place *in the view*, then map it back onto the unrotated canvas."""
    rx = rng.uniform(0.14, 0.24) * view
    ry = rx * rng.uniform(1.15, 1.3)
    if rng.random() < 0.1:  # a side or the top border cuts the head (less than half of it)
        edge = rng.integers(3)
        t = rng.uniform(0.3, 0.7) * view
        fx, fy = [(rng.uniform(0.35, 0.8) * rx, t), (view - rng.uniform(0.35, 0.8) * rx, t),
                  (t, rng.uniform(1.0, 1.4) * ry)][edge]
    else:  # the head well inside, with room above it for the tallest headwear
        top_room = 1.75 * ry + 0.02 * view
        fx, fy = rng.uniform(0.32, 0.68) * view, rng.uniform(max(0.3 * view, top_room), max(0.52 * view, top_room))
    off = (canvas - view) / 2
    (cx, cy), = _rotate_points(np.array([[fx + off, fy + off]]), -angle, canvas / 2)
    styles = ["bald", "shaved", "short", "short", "fringe", "long", "long", "afro", "spiky", "bun"]
    light = rng.uniform(-1, 1), rng.uniform(-1, 0.3)
    n = math.hypot(*light) or 1.0
    return Person(cx=float(cx), cy=float(cy), rx=rx, ry=ry, yaw=float(rng.uniform(-1, 1)),
                  skin=skin_colour(rng), hair=_jitter(rng, HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], 10),
                  hair_style=styles[rng.integers(len(styles))], clothes=gear_colour(rng),
                  light=(light[0] / n, light[1] / n))

def _rotate_points(pts: np.ndarray, angle_deg: float, centre: float) -> np.ndarray:
    """Where PIL's ``Image.rotate(angle_deg)`` (counter-clockwise, about the centre) moves points."""
    a = math.radians(angle_deg)
    d = pts - centre
    x = d[:, 0] * math.cos(a) + d[:, 1] * math.sin(a)
    y = -d[:, 0] * math.sin(a) + d[:, 1] * math.cos(a)
    return np.stack([x, y], 1) + centre


def render(rng: np.random.Generator, label: int, size: int, kind: str | None = None):
    """Draw one image; returns (uint8 HWC, head box float32 (4,), headwear kind).
    ``kind`` forces a headwear kind of the label's table (for inspection and tests)."""
    view = size * _SS
    side = int(math.ceil(view * _CANVAS_MARGIN / 2)) * 2
    table = HELMET_KINDS if label == HELMET else NO_HELMET_KINDS
    chosen = _choose(table, rng)  # drawn even when ``kind`` is forced: the rest of the scene stays the same
    kind = chosen if kind is None else kind
    angle = float(rng.uniform(-_MAX_ROTATION, _MAX_ROTATION))
    canvas = BACKGROUNDS[_choose(BACKGROUNDS, rng)][1](rng, side)
    person = _make_person(rng, view, side, angle)
    pts = np.asarray(_draw_person(canvas, person, kind, table[kind][1], rng), np.float64)
    if rng.random() < 0.15:
        add_occluders(canvas, rng, (*pts.min(0), *pts.max(0)), view)
    img = _camera_view(canvas, angle, size)
    pts = (_rotate_points(pts, angle, side / 2) - (side - view) / 2) / _SS
    box = np.clip([*pts.min(0), *pts.max(0)], 0, size).astype(np.float32)
    if rng.random() < 0.4:
        img = img.filter(ImageFilter.BoxBlur(rng.uniform(0.3, 1.0) * size / 128))
    pixels = gamma(add_noise(relight(np.asarray(img), rng), rng), rng)
    return pixels, box, kind


def _camera_view(canvas: Image.Image, angle: float, size: int) -> Image.Image:
    """Box-downsample the 2x canvas, then rotate it by ``angle`` about its centre and cut out the
    central size x size view, in one affine resampling (the inverse of ``_rotate_points``)."""
    canvas = canvas.reduce(_SS)
    a = math.radians(angle)
    cos, sin = math.cos(a), math.sin(a)
    h, H = size / 2, canvas.size[0] / 2
    return canvas.transform((size, size), Image.Transform.AFFINE,
                            (cos, -sin, H - cos * h + sin * h, sin, cos, H - sin * h - cos * h),
                            resample=Image.Resampling.BILINEAR)


def _check_args(n, seed, size, start):
    for name, v in (("n", n), ("seed", seed), ("size", size), ("start", start)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {v!r}")
    if n < 0:
        raise ValueError(f"n (number of images) must be >= 0, got {n}")
    if size < MIN_SIZE:
        raise ValueError(f"size must be >= {MIN_SIZE} pixels, got {size}")
    if seed < 0 or start < 0:
        raise ValueError(f"seed and start must be >= 0, got seed={seed}, start={start}")


def label_of(index: int) -> int:
    """Label of global image index ``index``: even = helmet (0), odd = no_helmet (1)."""
    return HELMET if index % 2 == 0 else NO_HELMET


def generate(n: int, seed: int = 0, size: int = 128, start: int = 0, return_boxes: bool = False):
    """Return images uint8 (n, size, size, 3) RGB, labels int64 (n,) in {0,1}, balanced (even index ->
    helmet, odd -> no_helmet), and if return_boxes also boxes float32 (n, 4) = head box (x0, y0, x1, y1)
    in pixels of the returned image (the head incl. headwear, clipped to the image).

    Image i depends only on (seed, start + i, size)."""
    _check_args(n, seed, size, start)
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    boxes = np.empty((n, 4), np.float32)
    for i in range(n):
        labels[i] = label_of(int(start) + i)
        images[i], boxes[i], _ = render_index(int(seed), int(start) + i, int(size))
    return (images, labels, boxes) if return_boxes else (images, labels)


def render_index(seed: int, index: int, size: int = 128) -> tuple[np.ndarray, np.ndarray, str]:
    """Image ``index`` of dataset ``seed``: (uint8 HWC, head box, headwear kind) -- e.g. to break
    evaluation results down by headwear kind."""
    return render(np.random.default_rng([seed, index]), label_of(index), size)


# --------------------------------------------------------------------------------------------
# on disk
# --------------------------------------------------------------------------------------------
def write_imagefolder(root, counts: dict[str, int], seed: int = 0, size: int = 128) -> dict[str, dict[str, int]]:
    """Write ``root/{split}/{helmet,no_helmet}/{index:06d}.png`` for each split in ``counts``.

    Splits take consecutive, disjoint ranges of global image indices in the order of ``counts``
    (so the file name is the index to pass as ``start`` to reproduce the image). Everything is
    written into a temporary sibling directory and moved into place with ``os.replace``; an
    existing non-empty ``root`` is refused. Returns ``{split: {label: count}}``."""
    root = Path(root)
    if not counts:
        raise ValueError("counts must name at least one split, e.g. {'train': 2000, 'val': 400}")
    for split, n in counts.items():
        if not split or "/" in split or split.startswith("."):
            raise ValueError(f"bad split name {split!r}")
        _check_args(n, seed, size, 0)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ValueError(f"refusing to write the synthetic dataset into {root}: it exists and is not empty")
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    result: dict[str, dict[str, int]] = {}
    try:
        start = 0
        for split, n in counts.items():
            result[split] = {name: 0 for name in LABELS}
            for name in LABELS:
                (tmp / split / name).mkdir(parents=True)
            for i0 in range(0, n, 256):  # chunks keep memory flat for big splits
                m = min(256, n - i0)
                images, labels = generate(m, seed=seed, size=size, start=start + i0)
                for k in range(m):
                    name = LABELS[labels[k]]
                    Image.fromarray(images[k]).save(tmp / split / name / f"{start + i0 + k:06d}.png")
                    result[split][name] += 1
            start += n
        os.chmod(tmp, 0o755)
        if root.exists():
            root.rmdir()  # empty (checked above); os.replace needs the name free or an empty dir
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m data.synthetic", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (must not exist or be empty)")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--val", type=int, default=400)
    ap.add_argument("--test", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128, help="image side in pixels (>= 32)")
    args = ap.parse_args(argv)
    try:
        counts = write_imagefolder(args.out, {"train": args.train, "val": args.val, "test": args.test},
                                   seed=args.seed, size=args.size)
    except ValueError as e:
        ap.error(str(e))
    for split, per_class in counts.items():
        print(f"{split}: " + ", ".join(f"{k}={v}" for k, v in per_class.items()))
    return 0
