"""Every headwear drawer, with the kind tables that pick one (the person under it: person.py).

Helmets (class 0) are in ``HELMET_KINDS``, bare heads and hard negatives (class 1) in
``NO_HELMET_KINDS``; ``_draw_person`` draws a person wearing one kind, back to front.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image

from .paint import (GEAR_COLOURS, PATTERNS, Colour, Painter, Person, Point, _alpha, _jitter, _rand_hsv, _shade,
                    decorate, dome_pts, ellipse_pts, gear_colour, specular)
from .person import draw_back_hair, draw_bald_sheen, draw_face, draw_head, draw_top_hair, draw_torso


# --------------------------------------------------------------------------------------------
# class 0: helmets
# --------------------------------------------------------------------------------------------
def _pattern(rng) -> str:
    return PATTERNS[rng.integers(len(PATTERNS))]


def _highlight_at(p: Person, top: float, base: float) -> Point:
    lu, lv = p.light
    return lu * 0.55, top + (base - top) * (0.35 + 0.2 * lv)


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
HELMET_KINDS: dict[str, tuple[float, Drawer]] = dict(
    bicycle=(1.0, helmet_bicycle), full_face=(1.0, helmet_full_face), open_face=(0.8, helmet_open_face),
    hard_hat=(1.0, helmet_hard_hat), skate=(0.6, helmet_skate))
NO_HELMET_KINDS: dict[str, tuple[float, Drawer]] = dict(
    bare=(2.4, bare_head), cap=(1.0, cap), beanie=(0.8, beanie), brimmed_hat=(0.7, brimmed_hat), hood=(0.7, hood),
    headscarf=(0.6, headscarf), headband=(0.4, headband), headphones=(0.25, headphones))
# headwear that hides the hair on top of the head (hair is then only drawn where it shows)
_COVERS_HAIR = {"full_face", "open_face", "skate", "hood", "headscarf"}


def _choose(table: dict[str, tuple[float, Drawer]], rng) -> str:
    names = list(table)
    w = np.array([table[k][0] for k in names])
    return names[rng.choice(len(names), p=w / w.sum())]


# --------------------------------------------------------------------------------------------
# a person wearing one kind of headwear
# --------------------------------------------------------------------------------------------
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
