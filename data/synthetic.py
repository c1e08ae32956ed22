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

CLI: ``python -m data.synthetic --out DIR [--train N --val N --test N --seed S --size PX]``.
"""

from __future__ import annotations

import argparse
import colorsys
import math
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from data.preprocessing import LABELS

HELMET = LABELS.index("helmet")
NO_HELMET = LABELS.index("no_helmet")
MIN_SIZE = 32
_SS = 2  # supersampling factor: draw at 2x, box-downsample
_MAX_ROTATION = 15.0  # degrees, scene roll
_CANVAS_MARGIN = 1.26  # canvas side / view side; >= cos + sin of _MAX_ROTATION (1.225)

Point = tuple[float, float]
Colour = tuple[int, int, int]

# --------------------------------------------------------------------------------------------
# colours
# --------------------------------------------------------------------------------------------
# Shared by helmets, hard negatives, clothing and background shapes: no class owns a colour.
GEAR_COLOURS: tuple[Colour, ...] = (
    (225, 30, 35), (250, 205, 20), (255, 125, 10), (30, 85, 205), (25, 140, 65), (240, 240, 238),
    (22, 22, 26), (125, 128, 135), (205, 45, 145), (110, 50, 165), (190, 235, 25), (0, 170, 200),
    (140, 20, 30), (205, 185, 145), (75, 50, 30), (20, 35, 90),
)
SKIN_TONES: tuple[Colour, ...] = (
    (255, 226, 200), (242, 196, 160), (226, 172, 132), (200, 138, 95), (165, 105, 68),
    (125, 78, 48), (88, 55, 34), (62, 40, 27),
)
HAIR_COLOURS: tuple[Colour, ...] = (
    (20, 17, 15), (45, 30, 20), (85, 55, 30), (130, 80, 40), (150, 60, 25), (215, 180, 110),
    (235, 220, 170), (150, 150, 150), (225, 225, 225), (60, 60, 160), (200, 60, 140),
)


# (small colour helpers are plain Python: numpy on 3-element arrays is slower)
def _clip8(c) -> Colour:
    return tuple(0 if x < 0 else 255 if x > 255 else int(x + 0.5) for x in c)


def _jitter(rng: np.random.Generator, c, amount: float = 18.0) -> Colour:
    return _clip8([a + b for a, b in zip(c, rng.normal(0.0, amount, 3).tolist())])


def _shade(c, factor: float) -> Colour:
    """Darken (factor < 1) or lighten (factor > 1, towards white) a colour."""
    if factor <= 1:
        return _clip8([x * factor for x in c[:3]])
    return _clip8([x + (255 - x) * (factor - 1) for x in c[:3]])


def _rand_hsv(rng: np.random.Generator, s=(0.2, 1.0), v=(0.15, 1.0)) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*s), rng.uniform(*v))
    return _clip8((r * 255, g * 255, b * 255))


def gear_colour(rng: np.random.Generator) -> Colour:
    """A headwear / clothing colour; the same distribution for every class."""
    if rng.random() < 0.7:
        return _jitter(rng, GEAR_COLOURS[rng.integers(len(GEAR_COLOURS))], 20)
    return _rand_hsv(rng)


def skin_colour(rng: np.random.Generator) -> Colour:
    t = rng.random() * (len(SKIN_TONES) - 1)
    i = int(t)
    a, b = SKIN_TONES[i], SKIN_TONES[min(i + 1, len(SKIN_TONES) - 1)]
    return _jitter(rng, [x + (y - x) * (t - i) for x, y in zip(a, b)], 8)


def _alpha(c, a: int) -> tuple[int, int, int, int]:
    return (*c[:3], int(a))


# --------------------------------------------------------------------------------------------
# geometry helpers (head units)
# --------------------------------------------------------------------------------------------
def ellipse_pts(cu, cv, au, av, t0=0.0, t1=2 * math.pi, n=28) -> list[Point]:
    t = np.linspace(t0, t1, n)
    return list(zip((cu + au * np.cos(t)).tolist(), (cv + av * np.sin(t)).tolist()))


def dome_pts(cu, top, base, au, sag=0.0, n=28) -> list[Point]:
    """Upper half-ellipse from ``base`` up to ``top``, closed by a base line sagging by ``sag``."""
    upper = ellipse_pts(cu, base, au, base - top, math.pi, 2 * math.pi, n)
    if sag:
        return upper + ellipse_pts(cu, base, au, sag, 0.0, math.pi, n // 2)[1:-1]
    return upper


@dataclass
class Person:
    cx: float  # head centre on the canvas (px)
    cy: float
    rx: float  # head half-width / half-height (px)
    ry: float
    yaw: float  # -1..1, turns the face features sideways
    skin: Colour
    hair: Colour
    hair_style: str
    clothes: Colour
    light: Point  # unit vector pointing towards the light (head units)


class Painter:
    """ImageDraw in head units, recording the outline points of everything tagged ``head=True``."""

    def __init__(self, image: Image.Image, person: Person, head_pts: list, offset: Point = (0.0, 0.0)):
        self.image = image
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.p = person
        self.head_pts = head_pts
        self.ox, self.oy = offset

    def xy(self, pts) -> list[Point]:
        p = self.p
        return [(p.cx + u * p.rx - self.ox, p.cy + v * p.ry - self.oy) for u, v in pts]

    def px(self, w: float) -> int:
        return max(1, int(round(w * self.p.rx)))

    def record_head(self, pts):
        """Count ``pts`` (head units) as part of the head box without drawing them."""
        p = self.p
        self.head_pts.extend((p.cx + u * p.rx, p.cy + v * p.ry) for u, v in pts)

    def poly(self, pts, fill, head=False, outline=None, width=0.0):
        if head:
            self.record_head(pts)
        self.draw.polygon(self.xy(pts), fill=fill, outline=outline, width=self.px(width) if outline else 0)

    def ellipse(self, cu, cv, au, av, fill, head=False, outline=None, width=0.0):
        if head:
            self.record_head(ellipse_pts(cu, cv, au, av, n=16))
        (x0, y0), (x1, y1) = self.xy([(cu - au, cv - av), (cu + au, cv + av)])
        self.draw.ellipse((x0, y0, x1, y1), fill=fill, outline=outline, width=self.px(width) if outline else 1)

    def rect(self, u0, v0, u1, v1, fill, radius=0.0, head=False):
        if head:
            self.record_head([(u0, v0), (u1, v0), (u1, v1), (u0, v1)])
        (x0, y0), (x1, y1) = self.xy([(u0, v0), (u1, v1)])
        self.draw.rounded_rectangle((x0, y0, max(x0, x1), max(y0, y1)), radius=self.px(radius), fill=fill)

    def line(self, pts, fill, width: float):
        self.draw.line(self.xy(pts), fill=fill, width=self.px(width), joint="curve")

    def outline(self, pts, fill, width: float):
        self.line(list(pts) + [pts[0]], fill, width)

    @contextmanager
    def clip(self, pts):
        """Draw inside the polygon ``pts`` only (yields a Painter on a patch, pasted back through a mask)."""
        xy = self.xy(pts)
        xs, ys = [x for x, _ in xy], [y for _, y in xy]
        W, H = self.image.size
        x0, y0 = max(0, int(min(xs)) - 1), max(0, int(min(ys)) - 1)
        x1, y1 = min(W, int(max(xs)) + 2), min(H, int(max(ys)) + 2)
        if x1 - x0 < 2 or y1 - y0 < 2:
            yield Painter(Image.new("RGB", (2, 2)), self.p, [], (0.0, 0.0))
            return
        patch = self.image.crop((x0, y0, x1, y1))
        mask = Image.new("L", patch.size, 0)
        ImageDraw.Draw(mask).polygon([(x - x0, y - y0) for x, y in xy], fill=255)
        yield Painter(patch, self.p, self.head_pts, (self.ox + x0, self.oy + y0))
        self.image.paste(patch, (x0, y0), mask)


# --------------------------------------------------------------------------------------------
# surface decoration shared by helmets and hard negatives
# --------------------------------------------------------------------------------------------
PATTERNS = ("solid", "stripe", "stripes", "two_tone", "decal")


def decorate(pt: Painter, shell, colour: Colour, rng, pattern: str, span=(-1.2, -1.5, 1.2, 0.0)):
    """Paint ``pattern`` inside ``shell`` (already filled with ``colour``): shading + pattern."""
    u0, v0, u1, v1 = span
    second = gear_colour(rng)
    lu, lv = pt.p.light
    with pt.clip(shell) as c:
        # form shading: darken the whole shell, then re-light the part facing the light
        c.poly(shell, _alpha((0, 0, 0), 70))
        c.ellipse(lu * 0.25 + (u0 + u1) / 2, lv * 0.2 + (v0 + v1) / 2 + 0.05, (u1 - u0) * 0.46, (v1 - v0) * 0.52,
                  colour)
        if pattern == "stripe":  # one centre stripe (maybe two thin pinstripes beside it)
            w = rng.uniform(0.1, 0.3)
            c.rect(-w, v0 - 0.2, w, v1 + 0.2, second)
            if rng.random() < 0.5:
                c.rect(w + 0.06, v0 - 0.2, w + 0.13, v1 + 0.2, _shade(second, 0.6))
                c.rect(-w - 0.13, v0 - 0.2, -w - 0.06, v1 + 0.2, _shade(second, 0.6))
        elif pattern == "stripes":  # diagonal or horizontal bands
            slope = rng.uniform(-0.8, 0.8)
            step = rng.uniform(0.25, 0.45)
            for k, off in enumerate(np.arange(v0 - 1.0, v1 + 1.0, step)):
                if k % 2:
                    c.poly([(u0 - 0.2, off), (u1 + 0.2, off + slope * (u1 - u0 + 0.4)),
                            (u1 + 0.2, off + slope * (u1 - u0 + 0.4) + step / 2), (u0 - 0.2, off + step / 2)],
                           second)
        elif pattern == "two_tone":
            cut = rng.uniform(v0 + 0.35 * (v1 - v0), v0 + 0.7 * (v1 - v0))
            if rng.random() < 0.5:
                c.rect(u0 - 0.2, cut, u1 + 0.2, v1 + 0.3, second)
            else:
                side = rng.choice([-1.0, 1.0])
                c.poly([(0.0, v0 - 0.3), (side * (u1 + 0.3), v0 - 0.3), (side * (u1 + 0.3), v1 + 0.3),
                        (side * 0.2, v1 + 0.3)], second)
        elif pattern == "decal":
            for _ in range(rng.integers(1, 4)):
                du, dv = rng.uniform(u0 * 0.6, u1 * 0.6), rng.uniform(v0 * 0.8 + v1 * 0.2, v0 * 0.2 + v1 * 0.8)
                s = rng.uniform(0.12, 0.3)
                if rng.random() < 0.5:
                    c.ellipse(du, dv, s, s * 0.9, second)
                else:  # star / flash
                    k = rng.integers(3, 6)
                    ang = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.random()
                    rad = np.where(np.arange(2 * k) % 2 == 0, s, s * 0.45)
                    c.poly(list(zip(du + rad * np.cos(ang), dv + rad * np.sin(ang) * 0.9)), second)


def specular(pt: Painter, shell, u, v, size: float, strength: float = 1.0):
    """A glossy highlight blob (two soft layers) clipped to ``shell``."""
    with pt.clip(shell) as c:
        c.ellipse(u, v, size * 1.6, size * 0.9, (255, 255, 255, int(70 * strength)))
        c.ellipse(u, v, size * 0.8, size * 0.45, (255, 255, 255, int(190 * strength)))


def _highlight_at(p: Person, top: float, base: float) -> Point:
    lu, lv = p.light
    return lu * 0.55, top + (base - top) * (0.35 + 0.2 * lv)


# --------------------------------------------------------------------------------------------
# the person
# --------------------------------------------------------------------------------------------
def draw_back_hair(pt: Painter, rng):
    """Hair that shows behind the head and shoulders (long hair, an afro)."""
    p = pt.p
    if p.hair_style == "long":
        pt.poly(dome_pts(0, -1.12, 0.2, 1.2) + [(1.28, 1.9), (-1.28, 1.9)], _shade(p.hair, 0.85))
    elif p.hair_style == "afro":
        for a in np.linspace(0.0, 2 * np.pi, 11, endpoint=False):
            pt.ellipse(1.05 * math.cos(a), -0.3 + 0.95 * math.sin(a), 0.45, 0.4, p.hair, head=math.sin(a) < 0.3)


def draw_torso(pt: Painter, rng):
    """Neck, then sloping shoulders over a body that runs off the bottom of the image."""
    p = pt.p
    w = rng.uniform(2.2, 3.0)
    s = rng.uniform(1.3, 1.55)  # where the neck meets the shoulders
    pt.rect(-0.42, 0.55, 0.42, s + 0.4, _shade(p.skin, 0.82))  # neck
    body = [(-0.7, s), (0.7, s), (w - 0.6, s + 0.25), (w, s + 0.9), (w + 0.2, s + 6), (-w - 0.2, s + 6),
            (-w, s + 0.9), (-w + 0.6, s + 0.25)]
    pt.poly(body, p.clothes)
    for side in (-1, 1):  # rounded shoulder caps and the arm seam
        pt.ellipse(side * (w - 0.55), s + 0.85, 0.58, 0.65, p.clothes)
        pt.line([(side * (w - 0.75), s + 1.1), (side * (w - 0.6), s + 6)], _shade(p.clothes, 0.7), 0.05)
    lit = _alpha(_shade(p.clothes, 1.15), 90)
    pt.ellipse(p.light[0] * 0.8, s + 1.2, w * 0.6, 0.8, lit)
    kind = rng.integers(5)
    if kind == 0:  # v-neck
        pt.poly([(-0.5, s + 0.05), (0.5, s + 0.05), (0, s + 0.7)], _shade(p.skin, 0.85))
    elif kind == 1:  # collar
        pt.poly([(-0.55, s), (0, s + 0.5), (-0.2, s + 0.7)], _shade(p.clothes, 1.3))
        pt.poly([(0.55, s), (0, s + 0.5), (0.2, s + 0.7)], _shade(p.clothes, 1.3))
    elif kind == 2:  # high-vis / reflective strips
        strip = _jitter(rng, (215, 215, 205), 15)
        for side in (-1, 1):
            pt.poly([(side * 0.9, s + 0.15), (side * 1.25, s + 0.1), (side * 1.5, s + 2.0),
                     (side * 1.15, s + 2.0)], strip)
    elif kind == 3:  # print on the shirt
        pt.ellipse(rng.uniform(-1, 1), s + 1.2, 0.4, 0.3, gear_colour(rng))
    if rng.random() < 0.12:  # scarf / neck gaiter
        pt.rect(-0.75, 0.7, 0.75, 1.35 + 0.3 * rng.random(), gear_colour(rng), radius=0.3)


def draw_head(pt: Painter, rng):
    """Ears and the (shaded) skin ellipse of the head."""
    p = pt.p
    ear = _shade(p.skin, 0.88)
    for s in (-1, 1):
        pt.ellipse(s * 0.98, 0.08, 0.16, 0.24, ear)
    pt.ellipse(0, 0, 1, 1, _shade(p.skin, 0.8), head=True)
    lu, lv = p.light
    pt.ellipse(lu * 0.12, lv * 0.1, 0.9, 0.92, p.skin)


def draw_face(pt: Painter, rng, eyes=True, lower=True, sunglasses=None):
    """Eyes, brows, nose and mouth; shifted sideways by the yaw."""
    p = pt.p
    yaw = p.yaw * 0.32
    dark = _shade(p.skin, 0.55)
    if eyes:
        glasses = rng.random() < 0.12 if sunglasses is None else sunglasses
        if glasses:
            g = _jitter(rng, (25, 25, 30), 10)
            for s in (-1, 1):
                pt.rect(yaw + s * 0.38 - 0.24, -0.16, yaw + s * 0.38 + 0.24, 0.08, g, radius=0.08)
            pt.line([(yaw - 0.14, -0.08), (yaw + 0.14, -0.08)], g, 0.05)
        else:
            for s in (-1, 1):
                ex = yaw + s * 0.36
                pt.ellipse(ex, -0.05, 0.15, 0.085, (235, 235, 230))
                pt.ellipse(ex + p.yaw * 0.05, -0.05, 0.075, 0.075, _jitter(rng, (50, 35, 25), 15))
        for s in (-1, 1):
            ex = yaw + s * 0.36
            pt.line([(ex - 0.18, -0.26), (ex + 0.18, -0.27 + s * 0.02)], _shade(p.hair, 0.8), 0.06)
    if lower:
        pt.line([(yaw + 0.02, 0.02), (yaw + 0.08, 0.32), (yaw - 0.04, 0.36)], dark, 0.06)
        mouth = _jitter(rng, _shade((170, 70, 70), 0.4 + 0.6 * (np.mean(p.skin) / 255)), 10)
        smile = rng.uniform(-0.05, 0.1)
        pt.line([(yaw - 0.2, 0.58), (yaw, 0.6 + smile), (yaw + 0.2, 0.58)], mouth, 0.07)
        if rng.random() < 0.15:  # beard
            pt.poly(ellipse_pts(yaw * 0.5, 0.45, 0.85, 0.58, 0, math.pi, 16), _alpha(p.hair, 200))
            pt.line([(yaw - 0.2, 0.58), (yaw + 0.2, 0.58)], mouth, 0.06)


def draw_top_hair(pt: Painter, rng):
    """Hair on top of the head in the person's style (drawn only where no headwear covers it)."""
    p = pt.p
    style = p.hair_style
    if style == "bald":
        return
    if style == "shaved":
        pt.poly(dome_pts(0, -1.0, -0.35, 0.98), _alpha(p.hair, 110), head=True)
        return
    part = rng.uniform(-0.4, 0.4)
    top = -1.1 if style != "spiky" else -1.02
    pt.poly(dome_pts(0, top, -0.45, 1.04, sag=0.08), p.hair, head=True)
    pt.poly([(-1.03, -0.45), (-0.86, -0.45), (-0.88, 0.1), (-0.98, 0.1)], p.hair)  # sideburns
    pt.poly([(1.03, -0.45), (0.86, -0.45), (0.88, 0.1), (0.98, 0.1)], p.hair)
    pt.line([(part, -1.05), (part * 0.8 + 0.1, -0.55)], _shade(p.hair, 0.6), 0.04)
    if style == "fringe":
        pt.poly(dome_pts(part * 0.3, -0.9, -0.3, 0.8), p.hair)
    elif style == "spiky":
        xs = np.linspace(-0.8, 0.8, 6)
        pts = [(x, -1.0 - 0.35 * rng.random()) for x in xs]
        pt.poly([(-0.95, -0.7)] + pts + [(0.95, -0.7)], p.hair, head=True)
    elif style == "bun":
        pt.ellipse(0, -1.25, 0.35, 0.3, p.hair, head=True)
    if rng.random() < 0.25:  # hair sheen (not only helmets are shiny)
        specular(pt, dome_pts(0, top, -0.38, 1.04), p.light[0] * 0.4, -0.85, 0.2, 0.4)


def draw_bald_sheen(pt: Painter, rng):
    """Bald heads shine too: helmets must not be the only glossy domes."""
    if pt.p.hair_style in ("bald", "shaved") and rng.random() < 0.4:
        specular(pt, ellipse_pts(0, 0, 1, 1), pt.p.light[0] * 0.45, -0.62, 0.22, 0.5)


# --------------------------------------------------------------------------------------------
# class 0: helmets
# --------------------------------------------------------------------------------------------
def _pattern(rng) -> str:
    return PATTERNS[rng.integers(len(PATTERNS))]


def hard_shell_finish(pt: Painter, shell, colour: Colour, top: float, base: float, rng):
    """What makes a shell read as a hard, glossy helmet: a crisp dark edge and a strong highlight."""
    pt.outline(shell, _shade(colour, 0.4), 0.07)
    specular(pt, shell, *_highlight_at(pt.p, top, base), rng.uniform(0.2, 0.28), rng.uniform(0.8, 1.0))


def chin_strap(pt: Painter, rng, u_top: float, v_top: float):
    strap = _jitter(rng, (30, 30, 30), 20) if rng.random() < 0.7 else gear_colour(rng)
    for s in (-1, 1):
        pt.line([(s * u_top, v_top), (s * 0.7, 0.55), (s * 0.05, 1.0)], strap, 0.07)


def helmet_bicycle(pt: Painter, rng):
    """Elongated dome with dark vents, a rim and chin straps."""
    col, top, base, w = gear_colour(rng), -rng.uniform(1.35, 1.55), -rng.uniform(0.15, 0.4), rng.uniform(1.12, 1.25)
    chin_strap(pt, rng, 0.92, base)
    shell = dome_pts(0, top, base, w, sag=0.1)
    pt.poly(shell, col, head=True)
    decorate(pt, shell, col, rng, _pattern(rng), (-w, top, w, base))
    vent = _shade(col, 0.2) if rng.random() < 0.7 else _jitter(rng, (20, 20, 20))
    n = int(rng.integers(3, 6))
    with pt.clip(shell) as c:
        for k in range(n):
            a = math.pi * (1.15 + 0.7 * k / max(1, n - 1))
            cu, cv = 0.6 * w * math.cos(a), base + 0.62 * (base - top) * math.sin(a)
            c.poly([(cu - 0.07, cv + 0.15), (cu * 1.2 - 0.05, cv - 0.25), (cu * 1.2 + 0.05, cv - 0.25),
                    (cu + 0.07, cv + 0.15)], vent)
        c.rect(-w, base - 0.14, w, base + 0.2, _shade(col, 0.55))  # rim
    hard_shell_finish(pt, shell, col, top, base, rng)
    if rng.random() < 0.35:  # mtb peak
        pt.poly(ellipse_pts(0, base - 0.02, 0.75, 0.22, 0, math.pi, 12), _shade(col, 0.7), head=True)


def helmet_full_face(pt: Painter, rng):
    """Motorcycle full-face helmet: big shell, eye port with a dark/mirror visor or open, chin bar."""
    p = pt.p
    col = gear_colour(rng)
    w, top, bottom = rng.uniform(1.25, 1.4), -rng.uniform(1.35, 1.5), rng.uniform(1.2, 1.35)
    t = np.linspace(0, 2 * np.pi, 32)
    narrow = 1 - rng.uniform(0.1, 0.22) * np.clip(np.sin(t), 0, None) ** 2  # egg: chin bar narrower
    shell = list(zip(w * np.cos(t) * narrow, (top + bottom) / 2 + (bottom - top) / 2 * np.sin(t)))
    pt.ellipse(0, bottom - 0.05, 0.8, 0.18, _jitter(rng, (25, 25, 25), 8))  # neck roll
    pt.poly(shell, col, head=True)
    decorate(pt, shell, col, rng, _pattern(rng), (-w, top, w, bottom))
    yaw = p.yaw * 0.25
    port = (yaw - 0.82, -0.42, yaw + 0.82, 0.28)
    visor = rng.choice(["dark", "mirror", "open", "clear"], p=[0.35, 0.25, 0.25, 0.15])
    pt.rect(port[0] - 0.08, port[1] - 0.08, port[2] + 0.08, port[3] + 0.08, _shade(col, 0.5), radius=0.25)
    if visor in ("open", "clear"):
        pt.rect(*port, p.skin, radius=0.2)
        draw_face(pt, rng, eyes=True, lower=False, sunglasses=False if rng.random() < 0.8 else None)
        if visor == "clear":
            pt.rect(port[0] - 0.1, port[1] - 0.1, port[2] + 0.1, port[3] + 0.12, (200, 220, 235, 70), radius=0.25)
        else:  # visor flipped up onto the forehead
            pt.rect(yaw - 0.85, -0.95, yaw + 0.85, -0.5, _jitter(rng, (40, 40, 45)), radius=0.15)
    else:
        base = _jitter(rng, (18, 18, 22), 8) if visor == "dark" else _rand_hsv(rng, (0.4, 1), (0.5, 1))
        pt.rect(*port, base, radius=0.2)
        vis = [(port[0], port[1]), (port[2], port[1]), (port[2], port[3]), (port[0], port[3])]
        with pt.clip(vis) as c:
            for k in range(5):  # vertical colour gradient (mirror) or faint sky reflection (dark)
                f = 1.0 + 0.12 * k if visor == "mirror" else 1.0 + 0.04 * k
                c.rect(port[0], port[1] + k * 0.14, port[2], port[1] + (k + 1) * 0.14, _alpha(_shade(base, f), 200))
            s = rng.uniform(-0.5, 0.3)
            c.poly([(s, port[1]), (s + 0.22, port[1]), (s - 0.05, port[3]), (s - 0.27, port[3])],
                   (255, 255, 255, int(rng.uniform(60, 170))))
    chin = _shade(col, 0.8)
    for k in range(int(rng.integers(0, 4))):  # chin-bar vents
        pt.rect(yaw - 0.25, 0.55 + 0.12 * k, yaw + 0.25, 0.6 + 0.12 * k, _shade(chin, 0.4), radius=0.03)
    hard_shell_finish(pt, shell, col, top, -0.3, rng)


def helmet_open_face(pt: Painter, rng):
    """3/4 "jet" helmet: shell over crown and ears down to the jaw line, face and chin exposed
    through a trimmed opening, maybe a short peak or a tinted bubble visor."""
    p = pt.p
    col = gear_colour(rng)
    w, top, bottom = rng.uniform(1.2, 1.32), -rng.uniform(1.38, 1.52), rng.uniform(0.5, 0.8)
    shell = dome_pts(0, top, bottom - 0.3, w, sag=0.3)
    pt.poly(shell, col, head=True)
    decorate(pt, shell, col, rng, _pattern(rng), (-w, top, w, bottom))
    fu = p.yaw * 0.15
    with pt.clip(shell) as c:  # the opening: rubber trim, then the face skin
        c.ellipse(fu, 0.4, 0.8, 1.08, _jitter(rng, (30, 30, 32), 8))
        c.ellipse(fu, 0.42, 0.7, 0.98, p.skin)
    draw_face(pt, rng)
    chin_strap(pt, rng, 0.8, bottom - 0.1)
    hard_shell_finish(pt, shell, col, top, -0.4, rng)
    r = rng.random()
    if r < 0.35:  # short peak
        pt.poly(ellipse_pts(fu, -0.6, 0.85, 0.22, 0, math.pi, 14), _shade(col, 0.75), head=True)
    elif r < 0.6:  # tinted bubble visor over the face
        pt.poly(ellipse_pts(fu, 0.25, 0.88, 0.85, n=20), _alpha(_rand_hsv(rng, (0, 0.5), (0.2, 0.7)), 90))
        pt.line([(fu - 0.6, -0.3), (fu - 0.3, 0.5)], (255, 255, 255, 120), 0.06)


def helmet_hard_hat(pt: Painter, rng):
    """Construction hard hat: tall dome with a centre ridge and a brim (full or front peak)."""
    p = pt.p
    col = gear_colour(rng) if rng.random() < 0.6 else _jitter(rng, GEAR_COLOURS[rng.choice([1, 2, 5, 3, 4])], 12)
    top, base, w = -rng.uniform(1.55, 1.75), -rng.uniform(0.35, 0.5), rng.uniform(1.08, 1.2)
    full_brim = rng.random() < 0.5
    bw = rng.uniform(1.35, 1.55) if full_brim else w + 0.05
    if full_brim:
        pt.ellipse(0, base + 0.02, bw, 0.17, _shade(col, 0.65), head=True)
    shell = dome_pts(0, top, base, w)
    pt.poly(shell, col, head=True)
    decorate(pt, shell, col, rng, rng.choice(["solid", "solid", "stripe", "decal"]), (-w, top, w, base))
    with pt.clip(shell) as c:  # the centre ridge and two side ribs
        c.rect(-0.17, top - 0.1, 0.17, base, _shade(col, 1.25))
        for u in (-0.17, 0.17):
            c.line([(u, top + 0.1), (u, base)], _shade(col, 0.6), 0.04)
        for u in (-0.55 * w, 0.55 * w):
            c.line([(u * 0.7, top + 0.25), (u, base)], _shade(col, 0.7), 0.04)
    brim = ellipse_pts(0, base, bw, 0.13, 0, math.pi, 16) + [(-bw, base - 0.05), (bw, base - 0.05)]
    pt.poly(brim, _shade(col, 0.85), head=True)
    pt.outline(brim, _shade(col, 0.45), 0.05)
    if not full_brim:  # front peak
        pt.poly(ellipse_pts(p.yaw * 0.1, base + 0.02, 0.7, 0.28, 0, math.pi, 14), _shade(col, 0.9), head=True)
    hard_shell_finish(pt, shell, col, top, base, rng)
    if rng.random() < 0.4:
        chin_strap(pt, rng, 0.9, base + 0.1)


def helmet_skate(pt: Painter, rng):
    """Round skate / ski helmet covering the ears, small round vents, matte or glossy."""
    p = pt.p
    col = gear_colour(rng)
    top, base, w = -rng.uniform(1.3, 1.45), rng.uniform(0.1, 0.3), rng.uniform(1.15, 1.28)
    shell = dome_pts(0, top, base, w, sag=0.05)
    pt.poly(shell, col, head=True)
    decorate(pt, shell, col, rng, _pattern(rng), (-w, top, w, base))
    face = ellipse_pts(p.yaw * 0.15, 0.2, 0.78, 0.75, math.pi, 2 * math.pi, 16)
    pt.poly(face + [(0.78 + p.yaw * 0.15, base + 0.1), (-0.78 + p.yaw * 0.15, base + 0.1)], _shade(col, 0.45))
    pt.poly(ellipse_pts(p.yaw * 0.15, 0.25, 0.72, 0.72, math.pi, 2 * math.pi, 16), p.skin)
    pt.rect(-0.72 + p.yaw * 0.15, 0.2, 0.72 + p.yaw * 0.15, 0.9, p.skin, radius=0.3)
    draw_face(pt, rng)
    with pt.clip(shell) as c:
        for k in range(int(rng.integers(0, 5))):
            a = math.pi * (1.2 + 0.15 * k)
            c.ellipse(0.85 * w * math.cos(a), 0.2 + 1.2 * math.sin(a) * 0.8, 0.08, 0.06, (15, 15, 15))
    hard_shell_finish(pt, shell, col, top, base, rng)
    if rng.random() < 0.8:
        chin_strap(pt, rng, 0.8, base)


# --------------------------------------------------------------------------------------------
# class 1: bare heads and hard negatives
# --------------------------------------------------------------------------------------------
def bare_head(pt: Painter, rng):
    """No headwear at all: the hair (or a bald/shaved head) is what you see."""


def cap(pt: Painter, rng):
    """Baseball cap: soft crown with seams and button, peak to the front (or worn backwards)."""
    p = pt.p
    col = gear_colour(rng)
    top, base, w = -rng.uniform(1.2, 1.35), -rng.uniform(0.35, 0.5), rng.uniform(1.03, 1.1)
    crown = dome_pts(0, top, base, w)
    pt.poly(crown, col, head=True)
    decorate(pt, crown, col, rng, _pattern(rng), (-w, top, w, base))
    with pt.clip(crown) as c:
        for s in (-0.5, 0.0, 0.5):
            c.line([(0, top), (s * w * 1.3, base)], _shade(col, 0.7), 0.025)
    pt.ellipse(0, top + 0.04, 0.09, 0.06, _shade(col, 0.8), head=True)  # button
    if rng.random() < 0.1:  # shiny synthetic fabric
        specular(pt, crown, *_highlight_at(p, top, base), 0.15, 0.5)
    if rng.random() < 0.8:  # peak to the front: its underside + upper edge
        peak = gear_colour(rng) if rng.random() < 0.3 else col
        off = p.yaw * 0.3
        pt.poly(ellipse_pts(off, base - 0.02, rng.uniform(0.8, 1.0), rng.uniform(0.25, 0.4), 0, math.pi, 16),
                _shade(peak, 0.8), head=True)
        pt.line(ellipse_pts(off, base - 0.02, 0.9, 0.08, 0, math.pi, 10), _shade(peak, 1.1), 0.05)
    else:  # backwards: strap opening
        pt.rect(-0.3, base - 0.3, 0.3, base, _shade(p.hair, 0.9), radius=0.1)


def beanie(pt: Painter, rng):
    """Knitted beanie: rounded dome to the ears, ribbed cuff, maybe a pompom."""
    col = gear_colour(rng)
    top, base, w = -rng.uniform(1.3, 1.5), -rng.uniform(0.05, 0.3), rng.uniform(1.08, 1.16)
    shell = dome_pts(0, top, base, w, sag=0.05)
    pt.poly(shell, col, head=True)
    decorate(pt, shell, col, rng, rng.choice(["solid", "stripes", "two_tone", "decal"]), (-w, top, w, base))
    cuff = _shade(col, 0.85) if rng.random() < 0.7 else gear_colour(rng)
    pt.rect(-w - 0.02, base - 0.35, w + 0.02, base + 0.05, cuff, radius=0.1)
    for x in np.linspace(-w + 0.1, w - 0.1, 12):
        pt.line([(x, base - 0.33), (x, base + 0.03)], _shade(cuff, 0.75), 0.025)
    if rng.random() < 0.4:
        pt.ellipse(0, top - 0.05, 0.3, 0.27, gear_colour(rng) if rng.random() < 0.5 else col, head=True)


def brimmed_hat(pt: Painter, rng):
    """Fedora / sun hat / cowboy hat: a crown with a band over a wide brim (the hard-hat look-alike)."""
    col = gear_colour(rng)
    bw, base = rng.uniform(1.5, 2.0), -rng.uniform(0.4, 0.6)
    top = base - rng.uniform(0.8, 1.1)
    pt.ellipse(0, base, bw, rng.uniform(0.15, 0.3), _shade(col, 0.7), head=True)
    crown = [(-0.95, base), (-0.85, top + 0.15), (-0.4, top), (0, top + rng.uniform(0, 0.15)), (0.4, top),
             (0.85, top + 0.15), (0.95, base)]
    pt.poly(crown, col, head=True)
    decorate(pt, crown, col, rng, rng.choice(["solid", "solid", "decal"]), (-1, top, 1, base))
    band = gear_colour(rng)
    with pt.clip(crown) as c:
        c.rect(-1.0, base - 0.28, 1.0, base - 0.05, band)
    pt.poly(ellipse_pts(0, base, bw, 0.12, 0, math.pi, 16), _shade(col, 0.9), head=True)


def hood(pt: Painter, rng):
    """Hoodie hood over the head and shoulders, face showing, shadowed inner rim, drawstrings."""
    p = pt.p
    col = p.clothes if rng.random() < 0.7 else gear_colour(rng)
    outer = ellipse_pts(0, 0.05, rng.uniform(1.3, 1.45), rng.uniform(1.4, 1.55), n=32)
    pt.poly(outer, col, head=True)
    pt.poly([(-1.35, 0.4), (1.35, 0.4), (1.9, 1.9), (-1.9, 1.9)], col)
    decorate(pt, outer, col, rng, rng.choice(["solid", "solid", "two_tone", "decal"]), (-1.4, -1.5, 1.4, 1.5))
    pt.poly(ellipse_pts(p.yaw * 0.15, 0.2, 0.95, 1.02, n=24), _shade(col, 0.4))
    pt.poly(ellipse_pts(p.yaw * 0.15, 0.25, 0.78, 0.9, n=24), p.skin)
    draw_face(pt, rng)
    if rng.random() < 0.6:
        for s in (-1, 1):
            pt.line([(s * 0.4, 1.1), (s * 0.45, 1.9)], _shade(col, 1.4), 0.05)


def headband(pt: Painter, rng):
    """Sweatband / alice band across the forehead, hair visible above."""
    col = gear_colour(rng)
    v0 = rng.uniform(-0.75, -0.5)
    band = [(-1.04, v0), (1.04, v0), (1.02, v0 + 0.28), (-1.02, v0 + 0.28)]
    pt.poly(band, col, head=True)
    decorate(pt, band, col, rng, rng.choice(["solid", "stripes", "decal"]), (-1, v0, 1, v0 + 0.28))


def headscarf(pt: Painter, rng):
    """Bandana knotted on top, or a scarf wrapped around head and neck (hijab-like)."""
    p = pt.p
    col = gear_colour(rng)
    dots = rng.random() < 0.4
    if rng.random() < 0.5:  # bandana
        top, base = -rng.uniform(1.12, 1.22), -rng.uniform(0.35, 0.55)
        shell = dome_pts(0, top, base, 1.05, sag=0.06)
        pt.poly(shell, col, head=True)
        decorate(pt, shell, col, rng, "solid", (-1.05, top, 1.05, base))
        side = rng.choice([-1.0, 1.0])
        pt.poly([(side * 0.95, base - 0.1), (side * 1.4, base + 0.35), (side * 1.1, base + 0.5)], _shade(col, 0.85))
    else:  # wrap-around scarf
        shell = ellipse_pts(0, 0.1, rng.uniform(1.18, 1.32), rng.uniform(1.28, 1.4), n=32)
        pt.poly(shell + [(1.6, 1.9), (-1.6, 1.9)], col)
        pt.poly(shell, col, head=True)
        decorate(pt, shell, col, rng, rng.choice(["solid", "two_tone", "stripes"]), (-1.3, -1.3, 1.3, 1.4))
        pt.poly(ellipse_pts(p.yaw * 0.12, 0.25, 0.74, 0.85, n=24), _shade(col, 0.65))
        pt.poly(ellipse_pts(p.yaw * 0.12, 0.28, 0.68, 0.8, n=24), p.skin)
        draw_face(pt, rng)
        shell = ellipse_pts(0, 0.1, 1.3, 1.4, n=24)
    if dots:
        second = gear_colour(rng)
        with pt.clip(shell) as c:
            for u, v in rng.uniform(-1.3, 1.3, (14, 2)):
                c.ellipse(u, v * 0.6 - 0.7, 0.07, 0.07, second)


def headphones(pt: Painter, rng):
    """Over-ear headphones: band over the top of the head, cups over the ears."""
    col = gear_colour(rng) if rng.random() < 0.5 else _jitter(rng, (30, 30, 32), 12)
    pt.line(ellipse_pts(0, -0.1, 1.08, 1.1, math.pi, 2 * math.pi, 18), col, rng.uniform(0.08, 0.14))
    pt.record_head(ellipse_pts(0, -0.1, 1.15, 1.17, math.pi, 2 * math.pi, 9))
    for s in (-1, 1):
        pt.rect(s * 1.08 - 0.2, -0.25, s * 1.08 + 0.2, 0.35, col, radius=0.15, head=True)
        pt.rect(s * 1.08 - 0.1, -0.12, s * 1.08 + 0.1, 0.22, _shade(col, 0.7), radius=0.08)


# kind name -> (relative frequency within its class, drawer)
Drawer = Callable[[Painter, np.random.Generator], None]
HELMET_KINDS: dict[str, tuple[float, Drawer]] = {
    "bicycle": (1.0, helmet_bicycle),
    "full_face": (1.0, helmet_full_face),
    "open_face": (0.8, helmet_open_face),
    "hard_hat": (1.0, helmet_hard_hat),
    "skate": (0.6, helmet_skate),
}
NO_HELMET_KINDS: dict[str, tuple[float, Drawer]] = {
    "bare": (2.4, bare_head),
    "cap": (1.0, cap),
    "beanie": (0.8, beanie),
    "brimmed_hat": (0.7, brimmed_hat),
    "hood": (0.7, hood),
    "headscarf": (0.6, headscarf),
    "headband": (0.4, headband),
    "headphones": (0.25, headphones),
}
# headwear that hides the hair on top of the head (hair is then only drawn where it shows)
_COVERS_HAIR = {"full_face", "open_face", "skate", "hood", "headscarf"}


def _choose(table: dict[str, tuple[float, Drawer]], rng) -> str:
    names = list(table)
    w = np.array([table[k][0] for k in names])
    return names[rng.choice(len(names), p=w / w.sum())]


# --------------------------------------------------------------------------------------------
# backgrounds (canvas-sized RGB images)
# --------------------------------------------------------------------------------------------
def _upsampled(rng, cells: int, side: int, method=Image.Resampling.BICUBIC, v=(0.15, 1.0)) -> Image.Image:
    """cells x cells random colours, smoothly interpolated to side x side (via a 1/4-size image: the
    4x nearest-neighbour step is invisible after downsampling and is 5x cheaper than resizing)."""
    small = np.array([[_rand_hsv(rng, (0.0, 0.8), v) for _ in range(cells)] for _ in range(cells)], np.uint8)
    quarter = Image.fromarray(small).resize((side // 4, side // 4), method)
    return quarter.resize((side, side), Image.Resampling.NEAREST)


def bg_gradient(rng, side: int) -> Image.Image:
    return _upsampled(rng, 2, side, Image.Resampling.BILINEAR)


def bg_blotches(rng, side: int) -> Image.Image:
    img = _upsampled(rng, int(rng.integers(3, 8)), side)
    if rng.random() < 0.5:  # fine grey texture on top (gravel, foliage, fabric)
        cells = side // int(rng.integers(4, 12))
        tex = np.clip(rng.normal(128, rng.uniform(6, 22), (cells, cells)), 0, 255).astype(np.uint8)
        tex = Image.fromarray(tex).resize((side, side), Image.Resampling.BILINEAR)
        img = ImageChops.add(img, Image.merge("RGB", (tex, tex, tex)), 1.0, -128)
    return img


def bg_shapes(rng, side: int) -> Image.Image:
    img = _upsampled(rng, 2, side, Image.Resampling.BILINEAR)
    d = ImageDraw.Draw(img, "RGBA")
    for _ in range(int(rng.integers(4, 16))):
        x, y = rng.uniform(0, side, 2)
        w, h = rng.uniform(0.05, 0.4, 2) * side
        col = _alpha(gear_colour(rng) if rng.random() < 0.5 else _rand_hsv(rng), rng.integers(120, 256))
        kind = rng.integers(3)
        if kind == 0:
            d.rectangle((x, y, x + w, y + h), fill=col)
        elif kind == 1:
            d.ellipse((x, y, x + w, y + h), fill=col)
        else:
            d.polygon([tuple(q) for q in rng.uniform(0, side, (3, 2))], fill=col)
    return img


def bg_street(rng, side: int) -> Image.Image:
    """Sky, buildings with windows, poles, parked cars and a road."""
    img = _upsampled(rng, 2, side, Image.Resampling.BILINEAR, v=(0.55, 1.0))
    d = ImageDraw.Draw(img, "RGBA")
    horizon = rng.uniform(0.45, 0.75) * side
    x = rng.uniform(-0.2, 0) * side
    while x < side:
        w, h = rng.uniform(0.12, 0.35) * side, rng.uniform(0.15, 0.6) * side
        wall = _rand_hsv(rng, (0.0, 0.4), (0.25, 0.9))
        d.rectangle((x, horizon - h, x + w, horizon), fill=wall)
        win = _shade(wall, rng.uniform(0.3, 0.6)) if rng.random() < 0.7 else _jitter(rng, (200, 210, 220))
        step = rng.uniform(0.04, 0.07) * side
        for wy in np.arange(horizon - h + step * 0.5, horizon - step, step):
            for wx in np.arange(x + step * 0.4, x + w - step * 0.6, step):
                d.rectangle((wx, wy, wx + step * 0.5, wy + step * 0.55), fill=win)
        x += w + rng.uniform(0, 0.05) * side
    road = _rand_hsv(rng, (0.0, 0.15), (0.2, 0.55))
    d.rectangle((0, horizon, side, side), fill=road)
    for lx in np.arange(rng.uniform(0, 0.2) * side, side, 0.3 * side):
        d.polygon([(lx, horizon + 0.1 * side), (lx + 0.12 * side, horizon + 0.1 * side),
                   (lx + 0.15 * side, horizon + 0.13 * side), (lx + 0.01 * side, horizon + 0.13 * side)],
                  fill=(230, 230, 220, 200))
    for _ in range(int(rng.integers(0, 4))):  # poles and signs
        px = rng.uniform(0, side)
        d.rectangle((px, horizon - 0.5 * side, px + 0.015 * side, horizon + 0.05 * side), fill=(60, 60, 60))
        if rng.random() < 0.5:
            d.ellipse((px - 0.04 * side, horizon - 0.55 * side, px + 0.055 * side, horizon - 0.45 * side),
                      fill=gear_colour(rng))
    for _ in range(int(rng.integers(0, 3))):  # cars
        cx, cw = rng.uniform(0, side), rng.uniform(0.2, 0.35) * side
        cy = horizon + rng.uniform(0.0, 0.1) * side
        body = gear_colour(rng)
        d.rounded_rectangle((cx, cy - 0.12 * side, cx + cw, cy), radius=int(0.03 * side), fill=body)
        d.rounded_rectangle((cx + cw * 0.2, cy - 0.19 * side, cx + cw * 0.8, cy - 0.1 * side),
                            radius=int(0.03 * side), fill=_shade(body, 0.6))
        for wx in (cx + cw * 0.22, cx + cw * 0.78):
            d.ellipse((wx - 0.035 * side, cy - 0.035 * side, wx + 0.035 * side, cy + 0.035 * side), fill=(20, 20, 20))
    return img


BACKGROUNDS: dict[str, tuple[float, Callable[[np.random.Generator, int], Image.Image]]] = {
    "gradient": (0.8, bg_gradient),
    "blotches": (1.0, bg_blotches),
    "shapes": (1.2, bg_shapes),
    "street": (1.0, bg_street),
}


# --------------------------------------------------------------------------------------------
# post effects
# --------------------------------------------------------------------------------------------
def add_occluders(img: Image.Image, rng, head_box, view: int):
    """Random bars and blobs (drawn on the unrotated canvas); some placed over the head, none large
    enough to hide it all."""
    d = ImageDraw.Draw(img, "RGBA")
    side = img.size[0]
    x0, y0, x1, y1 = head_box
    hw, hh = max(4.0, x1 - x0), max(4.0, y1 - y0)
    for _ in range(int(rng.integers(1, 4))):
        col = _alpha(gear_colour(rng) if rng.random() < 0.5 else _rand_hsv(rng), 255)
        near_head = rng.random() < 0.5
        if near_head:
            cx, cy = rng.uniform(x0 - 0.2 * hw, x1 + 0.2 * hw), rng.uniform(y0, y1 + 0.5 * hh)
            s = rng.uniform(0.1, 0.25) * hw
        else:
            cx, cy = rng.uniform((side - view) / 2, (side + view) / 2, 2)
            s = rng.uniform(0.05, 0.2) * view
        if rng.random() < 0.5:  # bar (pole, fence, cable), random angle
            a = rng.uniform(0, math.pi)
            L, W = view * 1.5, s * rng.uniform(0.15, 0.5)
            dx, dy, nx, ny = math.cos(a) * L, math.sin(a) * L, -math.sin(a) * W, math.cos(a) * W
            d.polygon([(cx - dx - nx, cy - dy - ny), (cx + dx - nx, cy + dy - ny), (cx + dx + nx, cy + dy + ny),
                       (cx - dx + nx, cy - dy + ny)], fill=col)
        else:  # blob (leaf, hand, another object)
            d.ellipse((cx - s, cy - s * rng.uniform(0.5, 1.0), cx + s, cy + s * rng.uniform(0.5, 1.0)), fill=col)


def relight(img: np.ndarray, rng) -> np.ndarray:
    """Contrast, brightness, colour cast (one fused multiply-add per channel) and sometimes a
    directional light ramp. Returns float32 HWC (not clipped)."""
    h, w, _ = img.shape
    mean = float(img[::4, ::4].mean())  # a subsample is plenty for the pivot
    contrast, brightness = rng.uniform(0.7, 1.25), rng.uniform(0.7, 1.25)
    cast = rng.uniform(0.85, 1.15, 3)
    gain = (contrast * cast).astype(np.float32)
    bias = (mean * (brightness - contrast) * cast).astype(np.float32)
    x = img.astype(np.float32)
    x *= gain
    x += bias
    if rng.random() < 0.5:
        a = rng.uniform(0, 2 * math.pi)
        ramp = (np.cos(a) * np.linspace(-1, 1, w, dtype=np.float32)[None, :]
                + np.sin(a) * np.linspace(-1, 1, h, dtype=np.float32)[:, None])
        x *= (1 + np.float32(rng.uniform(0.1, 0.35)) * ramp)[..., None]
    return x


def gamma(pixels: np.ndarray, rng) -> np.ndarray:
    """Sometimes a random gamma curve (a 256-entry lookup table)."""
    if rng.random() < 0.5:
        lut = (255.0 * (np.arange(256) / 255.0) ** rng.uniform(0.7, 1.4) + 0.5).astype(np.uint8)
        return lut[pixels]
    return pixels


_NOISE_BANKS: dict[int, np.ndarray] = {}


def _noise_bank(size: int) -> np.ndarray:
    """A fixed (2 size, 2 size, 3) field of N(0, 1) noise; images take random windows of it (much
    cheaper than fresh normals per pixel, still deterministic)."""
    if size not in _NOISE_BANKS:
        _NOISE_BANKS[size] = np.random.default_rng(0x5EED).standard_normal((2 * size, 2 * size, 3), np.float32)
    return _NOISE_BANKS[size]


def add_noise(x: np.ndarray, rng) -> np.ndarray:
    """Gaussian sensor noise (colour or luminance-only) on float ``x`` (modified), then quantise to uint8."""
    sigma = rng.uniform(0, 7)
    h, w, _ = x.shape
    oy, ox = rng.integers(0, h), rng.integers(0, w)
    if sigma > 0.5:
        n = _noise_bank(h)[oy:oy + h, ox:ox + w]
        if rng.random() < 0.4:
            n = n[..., int(rng.integers(3)), None]
        x += n * np.float32(sigma if rng.random() < 0.5 else -sigma)
    x += 0.5
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


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


def _draw_person(canvas: Image.Image, person: Person, kind: str, drawer: Drawer, rng) -> list[Point]:
    """Draw back to front; returns the head outline points (head incl. headwear) on the canvas."""
    head_pts: list[Point] = []
    pt = Painter(canvas, person, head_pts)
    if kind not in ("hood", "headscarf") and not (kind in _COVERS_HAIR and person.hair_style == "afro"):
        draw_back_hair(pt, rng)
    draw_torso(pt, rng)
    draw_head(pt, rng)
    if kind != "full_face":
        draw_face(pt, rng)
    if kind not in _COVERS_HAIR:
        draw_top_hair(pt, rng)
        if kind == "bare":
            draw_bald_sheen(pt, rng)
    drawer(pt, rng)
    return head_pts


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


if __name__ == "__main__":
    sys.exit(main())
