"""The person under the headwear: hair, torso, head and face, drawn in the head's own coordinates."""

from __future__ import annotations

import math

import numpy as np

from .paint import Painter, _alpha, _jitter, _shade, dome_pts, ellipse_pts, gear_colour, specular


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
