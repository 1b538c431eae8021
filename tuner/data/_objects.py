"""The things in a scene: camera and road geometry, and the sprites of objects and distractors.

Each maker takes the scene's generator, its :class:`World`, a lateral position on
the ground (metres, 0 = road centre) and the image row ``yb`` where the thing stands,
and returns a :class:`~tuner.data._raster.Sprite` whose size follows the perspective
(``World.ppm``). Labelled classes: :func:`car`, :func:`pedestrian`, :func:`sign`;
distractors, never labelled: :func:`tree`, :func:`lamp`, :func:`bush`, :func:`cone`,
:func:`litter_bin`, :func:`billboard`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.data._raster import Sprite

CAR, PEDESTRIAN, SIGN = 1, 2, 3


@dataclass(frozen=True)
class World:
    """Camera and road geometry of one scene (pixels and metres)."""

    size: int
    yh: float  # horizon row
    xv: float  # vanishing point column
    hcam: float  # camera height, metres
    cam_x: float  # camera's lateral position, metres (0 = road centre)
    n_lanes: int
    lane_w: float
    sidewalk: float  # width in metres, 0 = a grass verge

    @property
    def road_half(self) -> float:
        return self.n_lanes * self.lane_w / 2

    def ppm(self, yb: float) -> float:
        """Pixels per metre at ground row ``yb``."""
        return (yb - self.yh) / self.hcam

    def x(self, lateral: float, yb: float) -> float:
        """Image column of the ground point ``lateral`` metres across at row ``yb``."""
        return self.xv + (lateral - self.cam_x) * self.ppm(yb)

    def depth(self, yb: float) -> float:
        """Distance in metres of ground row ``yb`` (focal length = image size)."""
        return self.size * self.hcam / (yb - self.yh)


# ---------------------------------------------------------------------------- colours

_CAR_COLOURS = np.array(
    [
        (235, 235, 235),
        (190, 192, 196),
        (120, 122, 128),
        (35, 35, 40),
        (170, 25, 30),
        (30, 60, 150),
        (20, 35, 80),
        (40, 100, 60),
        (230, 190, 40),
        (140, 110, 80),
        (230, 120, 30),
    ],
    dtype=np.float32,
)
_SKIN = np.array([(235, 200, 170), (210, 160, 120), (160, 110, 75), (100, 65, 45)], np.float32)
_HAIR = np.array([(25, 20, 15), (70, 45, 25), (200, 170, 100), (120, 120, 120)], np.float32)
_PANTS = np.array([(35, 50, 90), (30, 30, 35), (90, 90, 95), (150, 130, 95)], np.float32)


def jitter(rng: np.random.Generator, colour: Any, amount: float = 12.0) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32)
    return np.minimum(np.maximum(c, 0.0), 255.0)


def pick(rng: np.random.Generator, palette: np.ndarray, amount: float = 12.0) -> np.ndarray:
    return jitter(rng, palette[rng.integers(len(palette))], amount)


def vivid(rng: np.random.Generator) -> np.ndarray:
    """A random clothing colour: anything from dull to saturated."""
    base = rng.uniform(20, 230, 3)
    grey = base.mean()
    sat = rng.uniform(0.2, 1.0)
    return np.clip(grey + (base - grey) * sat * 1.6, 0, 255).astype(np.float32)


# ---------------------------------------------------------------------------- objects


def car(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    kind = rng.choice(3, p=[0.62, 0.26, 0.12])  # sedan, SUV/van, truck/bus
    width_m = (rng.uniform(1.7, 1.95), rng.uniform(1.85, 2.1), rng.uniform(2.35, 2.55))[kind]
    height_m = (rng.uniform(1.35, 1.55), rng.uniform(1.7, 1.95), rng.uniform(2.9, 3.6))[kind]
    cw, ch = width_m * ppm, height_m * ppm
    cx = w.x(lateral, yb)
    x0, x1, top = cx - cw / 2, cx + cw / 2, yb - ch
    s = Sprite(x0, top, x1, yb, depth=yb, category=CAR)
    body = pick(rng, _CAR_COLOURS)
    dark = body * 0.55
    tyre = jitter(rng, (25, 25, 28), 6)
    front = rng.random() < 0.3
    light = jitter(rng, (245, 235, 190) if front else (205, 25, 25), 15)
    s.rect(x0 + 0.06 * cw, yb - 0.2 * ch, x0 + 0.27 * cw, yb, tyre)
    s.rect(x1 - 0.27 * cw, yb - 0.2 * ch, x1 - 0.06 * cw, yb, tyre)
    if kind == 2:
        s.rect(x0, top, x1, yb - 0.14 * ch, body, shade=0.25)
        s.rect(x0, yb - 0.24 * ch, x1, yb - 0.12 * ch, dark)
        if front:
            s.rect(x0 + 0.1 * cw, top + 0.08 * ch, x1 - 0.1 * cw, top + 0.35 * ch, (50, 65, 85))
        s.rect(x0 + 0.03 * cw, yb - 0.34 * ch, x0 + 0.14 * cw, yb - 0.26 * ch, light)
        s.rect(x1 - 0.14 * cw, yb - 0.34 * ch, x1 - 0.03 * cw, yb - 0.26 * ch, light)
        s.shadow = (cx, yb, 0.58 * cw, max(1.0, 0.05 * ch))
        return s
    roof = (0.66, 0.84)[kind] * cw
    waist = yb - (0.55, 0.5)[kind] * ch
    s.rounded(cx, yb - 0.33 * ch, cw / 2, 0.22 * ch, body, p=6.0, shade=0.3)
    s.polygon(
        [
            (cx - 0.46 * cw, waist + 1e-3),
            (cx - roof / 2, top),
            (cx + roof / 2, top),
            (cx + 0.46 * cw, waist + 1e-3),
        ],
        body,
        shade=0.2,
    )
    glass = jitter(rng, (55, 70, 95), 15)
    gy0, gy1 = top + 0.1 * ch, waist - 0.04 * ch
    gt, gb = roof / 2 - 0.07 * cw, 0.42 * cw
    s.polygon([(cx - gb, gy1), (cx - gt, gy0), (cx + gt, gy0), (cx + gb, gy1)], glass, shade=0.6)
    s.rect(x0 + 0.02 * cw, yb - 0.2 * ch, x1 - 0.02 * cw, yb - 0.13 * ch, dark)
    s.rect(x0 + 0.04 * cw, waist + 0.04 * ch, x0 + 0.2 * cw, waist + 0.14 * ch, light)
    s.rect(x1 - 0.2 * cw, waist + 0.04 * ch, x1 - 0.04 * cw, waist + 0.14 * ch, light)
    plate = jitter(rng, (230, 230, 225) if rng.random() < 0.8 else (235, 200, 40), 10)
    s.rect(cx - 0.12 * cw, yb - 0.34 * ch, cx + 0.12 * cw, yb - 0.25 * ch, plate)
    s.shadow = (cx, yb, 0.6 * cw, max(1.0, 0.06 * ch))
    return s


def pedestrian(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    h = (rng.uniform(1.55, 1.9) if rng.random() < 0.9 else rng.uniform(1.2, 1.45)) * ppm
    cx = w.x(lateral, yb)
    stride = rng.uniform(0.0, 0.12) * h
    swing = rng.uniform(0.0, 0.06) * h
    s = Sprite(cx - 0.3 * h, yb - h, cx + 0.3 * h, yb, depth=yb, category=PEDESTRIAN)
    shirt, pants = vivid(rng), pick(rng, _PANTS, 15)
    skin, hair = pick(rng, _SKIN, 8), pick(rng, _HAIR, 10)
    hip, leg = yb - 0.5 * h, max(0.1 * h, 1.0)
    for side in (-1, 1):
        hx, fx = cx + side * 0.05 * h, cx + side * (0.05 * h + stride / 2)
        s.polygon(
            [(hx - leg / 2, hip), (hx + leg / 2, hip), (fx + leg / 2, yb), (fx - leg / 2, yb)],
            pants,
        )
    coat = rng.random() < 0.25
    torso_bottom = yb - (0.3 if coat else 0.46) * h
    s.rounded(
        cx,
        (yb - 0.82 * h + torso_bottom) / 2,
        0.15 * h,
        (torso_bottom - yb + 0.82 * h) / 2,
        shirt,
        p=4.0,
        shade=0.25,
    )
    arm, sleeve = max(0.055 * h, 1.0), shirt if rng.random() < 0.75 else skin
    for side in (-1, 1):
        sx, hx = cx + side * 0.16 * h, cx + side * (0.17 * h + swing)
        top = yb - 0.8 * h
        s.polygon(
            [
                (sx - arm / 2, top),
                (sx + arm / 2, top),
                (hx + arm / 2, yb - 0.5 * h),
                (hx - arm / 2, yb - 0.5 * h),
            ],
            sleeve,
        )
    s.ellipse(cx, yb - 0.9 * h, 0.065 * h, 0.075 * h, skin)
    s.ellipse(cx, yb - 0.94 * h, 0.068 * h, 0.045 * h, hair)
    if rng.random() < 0.15:
        side = rng.choice((-1, 1))
        s.rect(cx + side * 0.12 * h, yb - 0.62 * h, cx + side * 0.24 * h, yb - 0.45 * h, vivid(rng))
    return s


def sign(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    p = rng.uniform(0.7, 1.2) * ppm  # panel diameter
    cy = yb - rng.uniform(2.0, 3.0) * ppm
    cx = w.x(lateral, yb)
    r = p / 2
    s = Sprite(cx - r, cy - r, cx + r, yb, depth=yb, category=SIGN)
    pole = max(1.0, 0.08 * ppm)
    s.rect(cx - pole / 2, cy, cx + pole / 2, yb, jitter(rng, (140, 140, 145), 20), annotated=False)
    red, white = jitter(rng, (205, 30, 35), 20), jitter(rng, (238, 238, 235), 10)
    blue, yellow = jitter(rng, (25, 75, 175), 20), jitter(rng, (240, 195, 30), 15)
    black = jitter(rng, (25, 25, 25), 8)
    kind = rng.choice(7, p=[0.24, 0.2, 0.1, 0.14, 0.14, 0.09, 0.09])
    if kind == 0:  # prohibitory: red ring, white disc, black number
        s.ellipse(cx, cy, r, r, red)
        s.ellipse(cx, cy, 0.72 * r, 0.72 * r, white)
        s.rect(cx - 0.35 * r, cy - 0.3 * r, cx - 0.05 * r, cy + 0.3 * r, black)
        s.rect(cx + 0.08 * r, cy - 0.3 * r, cx + 0.38 * r, cy + 0.3 * r, black)
        s.rect(cx + 0.16 * r, cy - 0.16 * r, cx + 0.3 * r, cy + 0.16 * r, white)
    elif kind == 1:  # warning triangle
        ty = cy + 0.15 * r
        s.regular(cx, ty, 1.1 * r, 3, red)
        s.regular(cx, ty, 0.7 * r, 3, white if rng.random() < 0.8 else yellow)
        s.rect(cx - 0.08 * r, ty - 0.4 * r, cx + 0.08 * r, ty + 0.05 * r, black)
        s.rect(cx - 0.08 * r, ty + 0.15 * r, cx + 0.08 * r, ty + 0.28 * r, black)
    elif kind == 2:  # stop octagon
        s.regular(cx, cy, r, 8, red, rotation=math.pi / 8)
        s.rect(cx - 0.6 * r, cy - 0.14 * r, cx + 0.6 * r, cy + 0.14 * r, white)
    elif kind == 3:  # mandatory: blue disc, white arrow
        s.ellipse(cx, cy, r, r, blue)
        s.rect(cx - 0.13 * r, cy - 0.15 * r, cx + 0.13 * r, cy + 0.6 * r, white)
        s.polygon(
            [(cx - 0.45 * r, cy - 0.1 * r), (cx, cy - 0.62 * r), (cx + 0.45 * r, cy - 0.1 * r)],
            white,
        )
    elif kind == 4:  # information: blue square, white symbol
        s.rounded(cx, cy, 0.9 * r, 0.9 * r, blue, p=8.0)
        if rng.random() < 0.5:
            s.rect(cx - 0.35 * r, cy - 0.55 * r, cx + 0.35 * r, cy + 0.55 * r, white)
            s.rect(cx - 0.12 * r, cy - 0.35 * r, cx + 0.12 * r, cy + 0.35 * r, blue)
        else:
            s.ellipse(cx, cy, 0.45 * r, 0.45 * r, white)
    elif kind == 5:  # yield: inverted triangle
        ty = cy - 0.15 * r
        s.regular(cx, ty, 1.1 * r, 3, red, rotation=math.pi)
        s.regular(cx, ty, 0.68 * r, 3, white, rotation=math.pi)
    else:  # priority road: yellow diamond on white
        s.regular(cx, cy, r, 4, white)
        s.regular(cx, cy, 0.72 * r, 4, yellow)
    return s


# ---------------------------------------------------------------------------- distractors


def tree(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    trunk_h, radius = rng.uniform(1.5, 3.5) * ppm, rng.uniform(1.2, 3.0) * ppm
    cx = w.x(lateral, yb)
    top = yb - trunk_h - 1.6 * radius
    s = Sprite(cx - 1.4 * radius, top, cx + 1.4 * radius, yb, depth=yb)
    tw = max(1.0, rng.uniform(0.25, 0.5) * ppm)
    s.rect(cx - tw / 2, yb - trunk_h - 0.5 * radius, cx + tw / 2, yb, jitter(rng, (90, 65, 40), 15))
    green = jitter(rng, (50, 110, 45), 25)
    if rng.random() < 0.3:  # conifer
        for k in range(3):
            y = yb - trunk_h * 0.6 - k * 0.55 * radius
            s.regular(cx, y, radius * (1.1 - 0.25 * k), 3, green * (0.8 + 0.1 * k))
        return s
    for _ in range(rng.integers(2, 5)):
        ox, oy = rng.uniform(-0.5, 0.5) * radius, rng.uniform(-0.4, 0.3) * radius
        rr = radius * rng.uniform(0.6, 0.95)
        s.ellipse(
            cx + ox,
            yb - trunk_h - 0.5 * radius + oy,
            rr,
            rr * 0.9,
            green * rng.uniform(0.75, 1.15),
            shade=0.3,
        )
    return s


def lamp(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    h = rng.uniform(6.0, 8.5) * ppm
    cx = w.x(lateral, yb)
    reach = -math.copysign(1.5 * ppm, lateral)
    s = Sprite(min(cx, cx + reach) - 2, yb - h - 2, max(cx, cx + reach) + 2, yb, depth=yb)
    grey = jitter(rng, (120, 122, 128), 20)
    pw = max(1.0, 0.15 * ppm)
    s.rect(cx - pw / 2, yb - h, cx + pw / 2, yb, grey)
    s.rect(min(cx, cx + reach), yb - h, max(cx, cx + reach), yb - h + max(1.0, 0.12 * ppm), grey)
    s.ellipse(cx + reach, yb - h + 0.15 * ppm, 0.35 * ppm, 0.15 * ppm, (230, 225, 200))
    return s


def bush(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    r = rng.uniform(0.5, 1.3) * ppm
    cx = w.x(lateral, yb)
    s = Sprite(cx - 1.6 * r, yb - 1.6 * r, cx + 1.6 * r, yb, depth=yb)
    green = jitter(rng, (60, 105, 45), 25)
    for _ in range(rng.integers(1, 4)):
        ox = rng.uniform(-0.6, 0.6) * r
        rr = r * rng.uniform(0.6, 1.0)
        s.ellipse(cx + ox, yb - rr * 0.8, rr, rr * 0.8, green * rng.uniform(0.8, 1.15), shade=0.3)
    return s


def cone(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    h, b = 0.7 * ppm, 0.22 * ppm
    cx = w.x(lateral, yb)
    s = Sprite(cx - 1.5 * b, yb - h, cx + 1.5 * b, yb, depth=yb)
    s.polygon(
        [(cx - b, yb), (cx - 0.15 * b, yb - h), (cx + 0.15 * b, yb - h), (cx + b, yb)],
        jitter(rng, (240, 110, 20), 15),
    )
    s.rect(cx - 0.6 * b, yb - 0.55 * h, cx + 0.6 * b, yb - 0.4 * h, (235, 235, 235))
    s.rect(cx - 1.4 * b, yb - 0.08 * h, cx + 1.4 * b, yb, (30, 30, 30))
    return s


def litter_bin(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    bw, bh = rng.uniform(0.5, 0.9) * ppm, rng.uniform(0.9, 1.3) * ppm
    cx = w.x(lateral, yb)
    s = Sprite(cx - bw, yb - bh, cx + bw, yb, depth=yb)
    colour = jitter(
        rng, [(40, 110, 60), (60, 60, 70), (30, 70, 160), (150, 90, 40)][rng.integers(4)], 15
    )
    s.rounded(cx, yb - bh / 2, bw / 2, bh / 2, colour, p=6.0, shade=0.3)
    return s


def billboard(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    bw, bh, lift = rng.uniform(3, 5.5) * ppm, rng.uniform(1.8, 3.0) * ppm, rng.uniform(2.0, 3.5)
    cx = w.x(lateral, yb)
    top = yb - (lift + bh / ppm) * ppm
    s = Sprite(cx - bw / 2, top, cx + bw / 2, yb, depth=yb)
    leg = max(1.0, 0.15 * ppm)
    for side in (-0.3, 0.3):
        s.rect(cx + side * bw - leg / 2, top + bh, cx + side * bw + leg / 2, yb, (110, 110, 115))
    s.rect(cx - bw / 2, top, cx + bw / 2, top + bh, vivid(rng))
    for _ in range(rng.integers(1, 4)):
        u0, v0 = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6)
        u1, v1 = u0 + rng.uniform(0.15, 0.35), v0 + rng.uniform(0.15, 0.35)
        s.rect(
            cx - bw / 2 + u0 * bw, top + v0 * bh, cx - bw / 2 + u1 * bw, top + v1 * bh, vivid(rng)
        )
    return s
