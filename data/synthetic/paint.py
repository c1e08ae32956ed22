"""Colours, head-unit geometry and the ``Painter`` that every drawer of ``data.synthetic`` paints with.

Person geometry is in *head units*: ``(u, v)`` with the head ellipse spanning u, v in [-1, 1]
(v grows downwards, chin at v = +1); ``Painter`` maps them onto the canvas.
"""

from __future__ import annotations

import colorsys
import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

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
