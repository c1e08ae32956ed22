"""Everything around the person: backgrounds, occluders and the camera effects (relight, gamma, noise)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from .paint import _alpha, _jitter, _rand_hsv, _shade, gear_colour


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
