"""Plan and render one synthetic driving scene (the generator behind :mod:`tuner.data.synth`).

The camera looks down a straight road from a height ``hcam`` (metres). A ground point
``d`` pixels below the horizon is seen at ``d / hcam`` pixels per metre, so objects
shrink towards the horizon and the road narrows to its vanishing point.

Planning (:func:`plan_scene`) draws every random number of the scene from one
generator: the road, the background, the objects and distractors (as
:class:`~tuner.data._raster.Sprite` objects, sorted far to near) and the image
effects. Rendering (:func:`render_scene`) is then deterministic: it decides which
objects are labelled, paints the scene and applies light, fog, blur and noise.

Labelling rules (the boxes follow COCO: the tight box of the *visible* pixels):

* nearer objects are painted later and occlude farther ones; an object's box is the
  tight box of its pixels that remain visible, clipped to the image;
* an object that would be mostly hidden (less than 40 % of its in-image pixels
  visible), mostly outside the image (less than 35 % inside) or tiny (box side under
  3 px at 128 px, scaled with the image) is left out of the scene altogether, so that
  no unlabelled object is ever drawn;
* a sign's pole, a car's shadow and every distractor (trees, lamp posts, bushes,
  bins, cones, billboards, buildings, shadows) are drawn but never labelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuner.data._raster import Sprite

CAR, PEDESTRIAN, SIGN = 1, 2, 3

#: An object is left out when less than this fraction of its in-image pixels is visible.
MIN_VISIBLE = 0.4
#: An object is left out when less than this fraction of it lies inside the image.
MIN_INSIDE = 0.35


@dataclass(frozen=True)
class SceneObject:
    """A labelled object of a rendered scene.

    Attributes:
        category: COCO category id (1 car, 2 pedestrian, 3 traffic sign).
        box: ``(x, y, w, h)`` in whole pixels; the tight box of the visible pixels.
        area: Number of visible pixels.
        occlusion: Fraction of the object's in-image pixels hidden by nearer things.
        truncation: Fraction of the object's pixels outside the image.
    """

    category: int
    box: tuple[int, int, int, int]
    area: int
    occlusion: float
    truncation: float


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


@dataclass
class Scene:
    """Everything needed to render one image; built by :func:`plan_scene`."""

    world: World
    background: dict[str, Any]
    sprites: list[Sprite]
    effects: dict[str, Any]
    noise_seed: int
    shadows: list[tuple[float, float, float, float, float]] = field(default_factory=list)


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


def _jitter(rng: np.random.Generator, colour: Any, amount: float = 12.0) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float32) + rng.uniform(-amount, amount, 3).astype(np.float32)
    return np.minimum(np.maximum(c, 0.0), 255.0)


def _pick(rng: np.random.Generator, palette: np.ndarray, amount: float = 12.0) -> np.ndarray:
    return _jitter(rng, palette[rng.integers(len(palette))], amount)


def _vivid(rng: np.random.Generator) -> np.ndarray:
    """A random clothing colour: anything from dull to saturated."""
    base = rng.uniform(20, 230, 3)
    grey = base.mean()
    sat = rng.uniform(0.2, 1.0)
    return np.clip(grey + (base - grey) * sat * 1.6, 0, 255).astype(np.float32)


# ---------------------------------------------------------------------------- objects


def _car(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    kind = rng.choice(3, p=[0.62, 0.26, 0.12])  # sedan, SUV/van, truck/bus
    width_m = (rng.uniform(1.7, 1.95), rng.uniform(1.85, 2.1), rng.uniform(2.35, 2.55))[kind]
    height_m = (rng.uniform(1.35, 1.55), rng.uniform(1.7, 1.95), rng.uniform(2.9, 3.6))[kind]
    cw, ch = width_m * ppm, height_m * ppm
    cx = w.x(lateral, yb)
    x0, x1, top = cx - cw / 2, cx + cw / 2, yb - ch
    s = Sprite(x0, top, x1, yb, depth=yb, category=CAR)
    body = _pick(rng, _CAR_COLOURS)
    dark = body * 0.55
    tyre = _jitter(rng, (25, 25, 28), 6)
    front = rng.random() < 0.3
    light = _jitter(rng, (245, 235, 190) if front else (205, 25, 25), 15)
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
    glass = _jitter(rng, (55, 70, 95), 15)
    gy0, gy1 = top + 0.1 * ch, waist - 0.04 * ch
    gt, gb = roof / 2 - 0.07 * cw, 0.42 * cw
    s.polygon([(cx - gb, gy1), (cx - gt, gy0), (cx + gt, gy0), (cx + gb, gy1)], glass, shade=0.6)
    s.rect(x0 + 0.02 * cw, yb - 0.2 * ch, x1 - 0.02 * cw, yb - 0.13 * ch, dark)
    s.rect(x0 + 0.04 * cw, waist + 0.04 * ch, x0 + 0.2 * cw, waist + 0.14 * ch, light)
    s.rect(x1 - 0.2 * cw, waist + 0.04 * ch, x1 - 0.04 * cw, waist + 0.14 * ch, light)
    plate = _jitter(rng, (230, 230, 225) if rng.random() < 0.8 else (235, 200, 40), 10)
    s.rect(cx - 0.12 * cw, yb - 0.34 * ch, cx + 0.12 * cw, yb - 0.25 * ch, plate)
    s.shadow = (cx, yb, 0.6 * cw, max(1.0, 0.06 * ch))
    return s


def _pedestrian(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    h = (rng.uniform(1.55, 1.9) if rng.random() < 0.9 else rng.uniform(1.2, 1.45)) * ppm
    cx = w.x(lateral, yb)
    stride = rng.uniform(0.0, 0.16) * h
    swing = rng.uniform(0.0, 0.1) * h
    s = Sprite(cx - 0.3 * h, yb - h, cx + 0.3 * h, yb, depth=yb, category=PEDESTRIAN)
    shirt, pants = _vivid(rng), _pick(rng, _PANTS, 15)
    skin, hair = _pick(rng, _SKIN, 8), _pick(rng, _HAIR, 10)
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
        0.13 * h,
        (torso_bottom - yb + 0.82 * h) / 2,
        shirt,
        p=4.0,
        shade=0.25,
    )
    arm = max(0.055 * h, 1.0)
    for side in (-1, 1):
        sx, hx = cx + side * 0.14 * h, cx + side * (0.15 * h + swing)
        top = yb - 0.8 * h
        s.polygon(
            [
                (sx - arm / 2, top),
                (sx + arm / 2, top),
                (hx + arm / 2, yb - 0.5 * h),
                (hx - arm / 2, yb - 0.5 * h),
            ],
            shirt if rng.random() < 0.7 else skin,
        )
    s.ellipse(cx, yb - 0.9 * h, 0.065 * h, 0.075 * h, skin)
    s.ellipse(cx, yb - 0.94 * h, 0.068 * h, 0.045 * h, hair)
    if rng.random() < 0.3:
        side = rng.choice((-1, 1))
        s.rect(
            cx + side * 0.12 * h, yb - 0.62 * h, cx + side * 0.24 * h, yb - 0.45 * h, _vivid(rng)
        )
    return s


def _sign(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    p = rng.uniform(0.7, 1.2) * ppm  # panel diameter
    cy = yb - rng.uniform(2.0, 3.0) * ppm
    cx = w.x(lateral, yb)
    r = p / 2
    s = Sprite(cx - r, cy - r, cx + r, yb, depth=yb, category=SIGN)
    pole = max(1.0, 0.08 * ppm)
    s.rect(cx - pole / 2, cy, cx + pole / 2, yb, _jitter(rng, (140, 140, 145), 20), annotated=False)
    red, white = _jitter(rng, (205, 30, 35), 20), _jitter(rng, (238, 238, 235), 10)
    blue, yellow = _jitter(rng, (25, 75, 175), 20), _jitter(rng, (240, 195, 30), 15)
    black = _jitter(rng, (25, 25, 25), 8)
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


def _tree(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    trunk_h, radius = rng.uniform(1.5, 3.5) * ppm, rng.uniform(1.2, 3.0) * ppm
    cx = w.x(lateral, yb)
    top = yb - trunk_h - 1.6 * radius
    s = Sprite(cx - 1.4 * radius, top, cx + 1.4 * radius, yb, depth=yb)
    tw = max(1.0, rng.uniform(0.25, 0.5) * ppm)
    s.rect(
        cx - tw / 2, yb - trunk_h - 0.5 * radius, cx + tw / 2, yb, _jitter(rng, (90, 65, 40), 15)
    )
    green = _jitter(rng, (50, 110, 45), 25)
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


def _lamp(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    h = rng.uniform(6.0, 8.5) * ppm
    cx = w.x(lateral, yb)
    reach = -math.copysign(1.5 * ppm, lateral)
    s = Sprite(min(cx, cx + reach) - 2, yb - h - 2, max(cx, cx + reach) + 2, yb, depth=yb)
    grey = _jitter(rng, (120, 122, 128), 20)
    pw = max(1.0, 0.15 * ppm)
    s.rect(cx - pw / 2, yb - h, cx + pw / 2, yb, grey)
    s.rect(min(cx, cx + reach), yb - h, max(cx, cx + reach), yb - h + max(1.0, 0.12 * ppm), grey)
    s.ellipse(cx + reach, yb - h + 0.15 * ppm, 0.35 * ppm, 0.15 * ppm, (230, 225, 200))
    return s


def _bush(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    r = rng.uniform(0.5, 1.3) * ppm
    cx = w.x(lateral, yb)
    s = Sprite(cx - 1.6 * r, yb - 1.6 * r, cx + 1.6 * r, yb, depth=yb)
    green = _jitter(rng, (60, 105, 45), 25)
    for _ in range(rng.integers(1, 4)):
        ox = rng.uniform(-0.6, 0.6) * r
        rr = r * rng.uniform(0.6, 1.0)
        s.ellipse(cx + ox, yb - rr * 0.8, rr, rr * 0.8, green * rng.uniform(0.8, 1.15), shade=0.3)
    return s


def _cone(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    h, b = 0.7 * ppm, 0.22 * ppm
    cx = w.x(lateral, yb)
    s = Sprite(cx - 1.5 * b, yb - h, cx + 1.5 * b, yb, depth=yb)
    s.polygon(
        [(cx - b, yb), (cx - 0.15 * b, yb - h), (cx + 0.15 * b, yb - h), (cx + b, yb)],
        _jitter(rng, (240, 110, 20), 15),
    )
    s.rect(cx - 0.6 * b, yb - 0.55 * h, cx + 0.6 * b, yb - 0.4 * h, (235, 235, 235))
    s.rect(cx - 1.4 * b, yb - 0.08 * h, cx + 1.4 * b, yb, (30, 30, 30))
    return s


def _bin(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    bw, bh = rng.uniform(0.5, 0.9) * ppm, rng.uniform(0.9, 1.3) * ppm
    cx = w.x(lateral, yb)
    s = Sprite(cx - bw, yb - bh, cx + bw, yb, depth=yb)
    colour = _jitter(
        rng, [(40, 110, 60), (60, 60, 70), (30, 70, 160), (150, 90, 40)][rng.integers(4)], 15
    )
    s.rounded(cx, yb - bh / 2, bw / 2, bh / 2, colour, p=6.0, shade=0.3)
    return s


def _billboard(rng: np.random.Generator, w: World, lateral: float, yb: float) -> Sprite:
    ppm = w.ppm(yb)
    bw, bh, lift = rng.uniform(3, 5.5) * ppm, rng.uniform(1.8, 3.0) * ppm, rng.uniform(2.0, 3.5)
    cx = w.x(lateral, yb)
    top = yb - (lift + bh / ppm) * ppm
    s = Sprite(cx - bw / 2, top, cx + bw / 2, yb, depth=yb)
    leg = max(1.0, 0.15 * ppm)
    for side in (-0.3, 0.3):
        s.rect(cx + side * bw - leg / 2, top + bh, cx + side * bw + leg / 2, yb, (110, 110, 115))
    s.rect(cx - bw / 2, top, cx + bw / 2, top + bh, _vivid(rng))
    for _ in range(rng.integers(1, 4)):
        u0, v0 = rng.uniform(0.05, 0.6), rng.uniform(0.05, 0.6)
        u1, v1 = u0 + rng.uniform(0.15, 0.35), v0 + rng.uniform(0.15, 0.35)
        s.rect(
            cx - bw / 2 + u0 * bw, top + v0 * bh, cx - bw / 2 + u1 * bw, top + v1 * bh, _vivid(rng)
        )
    return s


# ---------------------------------------------------------------------------- planning


def _world(rng: np.random.Generator, size: int) -> World:
    n_lanes = int(rng.choice((2, 3, 4), p=(0.5, 0.3, 0.2)))
    lane_w = float(rng.uniform(2.9, 3.6))
    lane = n_lanes - 1 if rng.random() < 0.6 else int(rng.integers(n_lanes))
    cam_x = -n_lanes * lane_w / 2 + (lane + 0.5) * lane_w + float(rng.uniform(-0.3, 0.3))
    return World(
        size=size,
        yh=size * float(rng.uniform(0.36, 0.5)),
        xv=size * (0.5 + float(rng.uniform(-0.12, 0.12))),
        hcam=float(rng.uniform(1.5, 2.2)),
        cam_x=cam_x,
        n_lanes=n_lanes,
        lane_w=lane_w,
        sidewalk=float(rng.uniform(2.0, 4.0)) if rng.random() < 0.75 else 0.0,
    )


class _Placer:
    """Finds free spots on the ground for objects, in world coordinates."""

    def __init__(self, rng: np.random.Generator, world: World) -> None:
        self.rng, self.w = rng, world
        self.taken: list[tuple[float, float, float, float]] = []  # lateral, depth, half w, half d

    def place(
        self,
        lateral: Any,
        min_px: float,
        height_m: float,
        half_w: float,
        half_d: float,
        far: float = 1.3,
    ) -> tuple[float, float] | None:
        """Sample ``(lateral, yb)`` for an object ``height_m`` tall of at least ``min_px``.

        ``lateral`` is a callable drawing the lateral position. Distances are drawn
        log-uniformly (equal numbers per octave of size). Returns ``None`` when no free
        spot in view was found.
        """
        w, rng = self.w, self.rng
        bottom = w.size - w.yh
        d_lo = min_px * w.hcam / height_m
        d_hi = max(d_lo * 1.01, far * bottom)
        for _ in range(15):
            d = d_lo * (d_hi / d_lo) ** rng.random()
            lat = float(lateral())
            yb = w.yh + d
            ppm = w.ppm(yb)
            x = w.x(lat, yb)
            half_px = max(half_w * ppm, 1.0)
            inside = min(x + half_px, w.size) - max(x - half_px, 0.0)
            if inside < 0.6 * half_px:
                continue
            z = w.depth(yb)
            if any(
                abs(lat - a) < half_w + hw and abs(z - b) < half_d + hd
                for a, b, hw, hd in self.taken
            ):
                continue
            self.taken.append((lat, z, half_w, half_d))
            return lat, yb
        return None


def plan_scene(rng: np.random.Generator, size: int) -> Scene:
    """Draw every random choice of one scene.

    Args:
        rng: The generator; all randomness of the scene comes from it.
        size: Image side in pixels.

    Returns:
        The scene, ready for :func:`render_scene`.
    """
    w = _world(rng, size)
    k = size / 128.0
    background = _plan_background(rng, w)
    placer = _Placer(rng, w)
    road, side_w = w.road_half, max(w.sidewalk, 1.5)
    sprites: list[Sprite] = []

    def side() -> float:
        return 1.0 if rng.random() < 0.5 else -1.0

    def add(maker: Any, spot: tuple[float, float] | None) -> None:
        if spot is not None:
            sprites.append(maker(rng, w, *spot))

    # Objects: cars in lanes or parked at the kerb, pedestrians on the sidewalk or
    # crossing, signs beside the road.
    for _ in range(rng.choice(6, p=(0.05, 0.18, 0.25, 0.22, 0.17, 0.13))):
        lanes = -road + (np.arange(w.n_lanes) + 0.5) * w.lane_w
        if rng.random() < 0.2:
            lat = side() * (road - 0.9)
        else:
            lat = float(lanes[rng.integers(w.n_lanes)] + rng.uniform(-0.3, 0.3))
        add(_car, placer.place(lambda lat=lat: lat, 8 * k, 1.5, 1.05, 2.4))
    for _ in range(rng.choice(5, p=(0.22, 0.3, 0.24, 0.14, 0.1))):
        if rng.random() < 0.3:
            spot = placer.place(lambda: rng.uniform(-road, road), 20 * k, 1.7, 0.35, 0.4, 1.2)
        else:
            spot = placer.place(
                lambda: side() * (road + rng.uniform(0.3, side_w)), 20 * k, 1.7, 0.35, 0.4, 1.2
            )
        add(_pedestrian, spot)
    for _ in range(rng.choice(4, p=(0.25, 0.4, 0.25, 0.1))):
        spot = placer.place(
            lambda: side() * (road + rng.uniform(0.3, 1.6)), 9 * k, 0.95, 0.3, 0.3, 1.1
        )
        add(_sign, spot)

    # Distractors, never labelled.
    for _ in range(rng.integers(0, 5)):
        spot = placer.place(
            lambda: side() * (road + side_w + rng.uniform(0.8, 8.0)), 6 * k, 3.0, 0.6, 0.6
        )
        add(_tree, spot)
    for _ in range(rng.integers(0, 3)):
        add(_lamp, placer.place(lambda: side() * (road + 0.4), 8 * k, 6.0, 0.2, 0.2))
    for _ in range(rng.integers(0, 3)):
        spot = placer.place(lambda: side() * (road + side_w + rng.uniform(0.3, 4)), 4 * k, 1, 1, 1)
        add(_bush, spot)
    if rng.random() < 0.2:
        for _ in range(rng.integers(1, 4)):
            add(_cone, placer.place(lambda: rng.uniform(-road, road), 4 * k, 0.7, 0.3, 0.3))
    if rng.random() < 0.3:
        add(_bin, placer.place(lambda: side() * (road + side_w - 0.3), 5 * k, 1.1, 0.45, 0.45))
    if rng.random() < 0.2:
        spot = placer.place(
            lambda: side() * (road + side_w + rng.uniform(3, 7)), 8 * k, 5, 2.5, 0.5
        )
        add(_billboard, spot)

    order = sorted(range(len(sprites)), key=lambda i: (sprites[i].depth, i))
    sprites = [sprites[i] for i in order]
    effects = _plan_effects(rng)
    return Scene(w, background, sprites, effects, noise_seed=int(rng.integers(2**62)))


def _plan_background(rng: np.random.Generator, w: World) -> dict[str, Any]:
    s, yh = w.size, w.yh
    weather = rng.choice(3, p=(0.5, 0.3, 0.2))  # clear, overcast, dusk
    sky_top, sky_low = [
        ((70, 120, 200), (180, 210, 235)),
        ((135, 140, 150), (200, 202, 205)),
        ((60, 60, 110), (235, 150, 90)),
    ][weather]
    bg: dict[str, Any] = {
        "sky_top": _jitter(rng, sky_top, 15),
        "sky_low": _jitter(rng, sky_low, 15),
        "clouds": [
            (
                rng.uniform(0, s),
                rng.uniform(0, yh * 0.8),
                rng.uniform(0.08, 0.25) * s,
                rng.uniform(0.02, 0.06) * s,
                rng.uniform(0.3, 0.7),
            )
            for _ in range(rng.integers(0, 5) if weather != 1 else 0)
        ],
        "ground": _jitter(
            rng, [(85, 125, 60), (150, 140, 100), (115, 100, 80)][rng.integers(3)], 15
        ),
        "asphalt": _jitter(rng, (rng.uniform(60, 115),) * 3, 6),
        "kerb": _jitter(rng, (rng.uniform(140, 185),) * 3, 8),
        "marking": _jitter(rng, (235, 235, 230), 10),
        "centre": _jitter(rng, (230, 190, 40), 10) if rng.random() < 0.35 else None,
        "dash": (rng.uniform(2.5, 4.5), rng.uniform(8, 14), rng.uniform(0, 20)),
        "edge_lines": rng.random() < 0.7,
        "crosswalk": rng.uniform(6, 25) if rng.random() < 0.15 else None,
        "patches": [
            (
                rng.uniform(0, s),
                rng.uniform(yh, s),
                rng.uniform(0.05, 0.3) * s,
                rng.uniform(0.02, 0.08) * s,
                rng.uniform(0.55, 0.85),
            )
            for _ in range(rng.integers(0, 4))
        ],
        "far": rng.choice(3, p=(0.45, 0.35, 0.2)),  # buildings, tree line, open
    }
    if bg["far"] == 0:
        blds = []
        x = rng.uniform(-0.1, 0.05) * s
        while x < s:
            bw = rng.uniform(0.06, 0.22) * s
            colour = _jitter(rng, (rng.uniform(90, 200),) * 3, 30)
            blds.append((x, x + bw, yh - rng.uniform(0.04, 0.3) * s, colour, rng.random() < 0.6))
            x += bw + rng.uniform(-0.02, 0.05) * s
        bg["buildings"] = blds
    elif bg["far"] == 1:
        bg["treeline"] = [
            (rng.uniform(0, s), rng.uniform(0.03, 0.09) * s, _jitter(rng, (45, 85, 45), 15))
            for _ in range(int(rng.integers(6, 16)))
        ]
    return bg


def _plan_effects(rng: np.random.Generator) -> dict[str, Any]:
    night = rng.random() < 0.08
    return {
        "fog": float(rng.uniform(0.15, 0.5)) if rng.random() < 0.15 else 0.0,
        "fog_colour": _jitter(rng, (200, 200, 205), 10),
        "gain": float(rng.uniform(0.35, 0.5) if night else rng.uniform(0.65, 1.2)),
        "tint": (1 + rng.uniform(-0.08, 0.08, 3)).astype(np.float32),
        "gamma": float(rng.uniform(0.8, 1.2)),
        "vignette": float(rng.uniform(0.0, 0.35)),
        "blur": float(rng.uniform(0.4, 1.0)) if rng.random() < 0.5 else 0.0,
        "noise": float(rng.uniform(1.5, 7.0)),
    }


# ---------------------------------------------------------------------------- rendering


def render_scene(
    scene: Scene, *, effects: bool = True, hide: frozenset[int] = frozenset()
) -> tuple[np.ndarray, list[SceneObject]]:
    """Render a planned scene.

    Args:
        scene: From :func:`plan_scene`.
        effects: Apply light, fog, vignetting, blur and noise (``False`` gives the flat
            drawing, for tests).
        hide: Indices (into the returned objects) of labelled objects whose labelled
            parts are not painted (a sign's pole still is), every other decision
            unchanged: a test hook to see which pixels an object covers.

    Returns:
        The ``[H, W, 3]`` uint8 RGB image and its labelled objects, far to near.
    """
    w = scene.world
    noise_rng = np.random.default_rng(scene.noise_seed)
    kept, objects = _label(scene)
    canvas = _paint_background(scene, noise_rng, [s for s in kept if s.category == CAR])
    labelled = 0
    for sprite in kept:
        show = True
        if sprite.category is not None:
            show = labelled not in hide
            labelled += 1
        sprite.paint(canvas, labelled=show)
    if effects:
        canvas = _effects(canvas, scene.effects, w, noise_rng)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), objects


def _label(scene: Scene) -> tuple[list[Sprite], list[SceneObject]]:
    """Decide, nearest first, which objects are kept, and box what stays visible of them."""
    size = scene.world.size
    min_side = max(3, round(5 * size / 128))
    occupied = np.zeros((size, size), dtype=bool)
    kept: list[Sprite] = []
    objects: list[SceneObject] = []
    for sprite in reversed(scene.sprites):
        where = sprite.clip(size)
        if where is None:
            continue
        image, local = where
        if sprite.category is not None:
            total = int(sprite.label.sum())
            inside = sprite.label[local]
            n_inside = int(inside.sum())
            visible = inside & ~occupied[image]
            n_visible = int(visible.sum())
            if total == 0 or n_inside < MIN_INSIDE * total or n_visible < MIN_VISIBLE * n_inside:
                continue
            rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
            bh, bw = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
            if bh < min_side or bw < min_side:
                continue
            box = (int(cols[0]) + image[1].start, int(rows[0]) + image[0].start, bw, bh)
            objects.append(
                SceneObject(
                    category=sprite.category,
                    box=box,
                    area=n_visible,
                    occlusion=round(1 - n_visible / n_inside, 4),
                    truncation=round(1 - n_inside / total, 4),
                )
            )
        occupied[image] |= sprite.full[local]
        kept.append(sprite)
    kept.reverse()
    objects.reverse()
    return kept, objects


def _paint_background(scene: Scene, rng: np.random.Generator, cars: list[Sprite]) -> np.ndarray:
    w, bg = scene.world, scene.background
    s, yh = w.size, w.yh
    canvas = np.empty((s, s, 3), dtype=np.float32)
    ys = (np.arange(s, dtype=np.float32) + 0.5)[:, None]
    xs = (np.arange(s, dtype=np.float32) + 0.5)[None, :]

    # Sky with clouds and a far band (buildings, a tree line or open land).
    h0 = int(math.ceil(yh - 0.5))
    t = np.clip(ys[:h0] / max(yh, 1.0), 0, 1) ** 0.7
    canvas[:h0] = (bg["sky_top"] * (1 - t) + bg["sky_low"] * t)[:, None, :]
    for cx, cy, rx, ry, alpha in bg["clouds"]:
        for where, m in _ellipse(canvas, cx, cy, rx, ry):
            where[m] += (245 - where[m]) * alpha
    for x0, x1, top, colour, windows in bg.get("buildings", []):
        r0, r1, c0, c1 = max(round(top), 0), min(h0 + 1, s), max(round(x0), 0), min(round(x1), s)
        if r0 >= r1 or c0 >= c1:
            continue
        canvas[r0:r1, c0:c1] = colour
        if windows:
            wy = ((np.arange(r0, r1) - r0) % 6 < 3)[:, None]
            wx = ((np.arange(c0, c1) - c0) % 5 < 2)[None, :]
            canvas[r0:r1, c0:c1][wy & wx] = colour * 0.55
    for cx, r, colour in bg.get("treeline", []):
        for where, m in _ellipse(canvas, cx, yh, 1.6 * r, r):
            where[m] = colour

    # Ground: verge, kerb or sidewalk, road with markings.
    gy = ys[h0:]
    d = np.maximum(gy - yh, 0.25)
    ppm = d / w.hcam
    lat = w.cam_x + (xs - w.xv) / ppm  # metres across the road, per pixel
    depth = s * w.hcam / d
    road_half = w.road_half
    a = np.abs(lat)
    on_road = a <= road_half
    zone = np.zeros(lat.shape, dtype=np.int64)  # 0 verge, 1 sidewalk, 2 kerb, 3 road
    if w.sidewalk:
        zone[a <= road_half + w.sidewalk] = 1
        zone[a <= road_half + 0.2] = 2
    zone[on_road] = 3
    palette = np.stack([bg["ground"], bg["kerb"], bg["kerb"] * 1.15, bg["asphalt"]])
    ground = palette[zone]
    noise = rng.standard_normal(lat.shape, dtype=np.float32) * (4.0 * on_road)
    noise += _smooth_noise(rng, s, 8, 6.0)[h0:]
    ground += noise[:, :, None]

    # Markings: white (or yellow) paint, blended by how much of a pixel a line covers.
    dash_len, period, phase = bg["dash"]
    dashes = ((depth + phase) % period) < dash_len
    paint = {"white": np.zeros(lat.shape, np.float32), "yellow": np.zeros(lat.shape, np.float32)}

    def line(centre: float, width: float, colour: str, on: np.ndarray | None = None) -> None:
        half = np.maximum(width / 2, 0.5 / ppm)
        alpha = np.minimum(width * ppm, 1.0) * (np.abs(lat - centre) <= half)
        if on is not None:
            alpha *= on
        np.maximum(paint[colour], alpha, out=paint[colour])

    for k in range(1, w.n_lanes):
        centre = -road_half + k * w.lane_w
        if bg["centre"] is not None and k == w.n_lanes // 2:
            line(centre, 0.15, "yellow")
        else:
            line(centre, 0.13, "white", dashes)
    if bg["edge_lines"]:
        for sign in (-1, 1):
            line(sign * (road_half - 0.3), 0.15, "white")
    if bg["crosswalk"] is not None:
        z0 = bg["crosswalk"]
        band = on_road & (depth >= z0) & (depth < z0 + 3) & (((lat + 10) % 1.0) < 0.5)
        np.maximum(paint["white"], band * np.where(ppm >= 3.0, 1.0, 0.5), out=paint["white"])
    for name, colour in (("white", bg["marking"]), ("yellow", bg["centre"])):
        alpha = paint[name]
        if colour is not None and alpha.any():
            ground += (colour - ground) * alpha[:, :, None]
    canvas[h0:] = ground

    # Shadows: blotches on the ground and one under each car.
    shades = [(cx, cy, rx, ry, f) for cx, cy, rx, ry, f in bg["patches"]]
    shades += [(*car.shadow, 0.45) for car in cars if car.shadow is not None]
    for cx, cy, rx, ry, f in shades:
        for where, m in _ellipse(canvas, cx, cy, rx, ry, top=h0):
            where[m] *= f
    return canvas


def _ellipse(
    canvas: np.ndarray, cx: float, cy: float, rx: float, ry: float, top: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The canvas window around an ellipse (rows from ``top`` on) and the ellipse's mask.

    Returns an empty list when the ellipse misses the canvas, so callers loop over it.
    """
    h, w = canvas.shape[:2]
    r0, r1 = max(math.floor(cy - ry), top), min(math.ceil(cy + ry) + 1, h)
    c0, c1 = max(math.floor(cx - rx), 0), min(math.ceil(cx + rx) + 1, w)
    if r0 >= r1 or c0 >= c1:
        return []
    ys = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5
    xs = np.arange(c0, c1, dtype=np.float32)[None, :] + 0.5
    m = ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1
    return [(canvas[r0:r1, c0:c1], m)]


def _effects(
    canvas: np.ndarray, fx: dict[str, Any], w: World, rng: np.random.Generator
) -> np.ndarray:
    s, yh = w.size, w.yh
    ys = (np.arange(s, dtype=np.float32) + 0.5)[:, None]
    xs = (np.arange(s, dtype=np.float32) + 0.5)[None, :]
    if fx["fog"]:
        near = np.clip((ys - yh) / (s - yh), 0, 1)
        alpha = (fx["fog"] * (1 - near) ** 1.5)[:, :, None]
        canvas += (fx["fog_colour"] - canvas) * alpha
    # Light: gain and tint, darker corners, then a gamma curve.
    r2 = ((xs - s / 2) ** 2 + (ys - s / 2) ** 2) / (s * s / 2)
    light = (1 - fx["vignette"] * r2)[:, :, None] * (fx["gain"] * fx["tint"] / 255.0)
    canvas *= light
    np.clip(canvas, 0.0, 1.0, out=canvas)
    np.power(canvas, np.float32(fx["gamma"]), out=canvas)
    canvas *= 255.0
    if fx["blur"]:
        canvas = _blur(canvas, fx["blur"])
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * np.float32(fx["noise"])
    return canvas


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with a 5-tap kernel and edge padding."""
    taps = np.arange(-2, 3, dtype=np.float32)
    kernel = np.exp(-(taps**2) / (2 * sigma * sigma))
    kernel /= kernel.sum()
    n = img.shape[0]
    p = np.pad(img, ((2, 2), (0, 0), (0, 0)), mode="edge")
    img = kernel[0] * p[0:n] + kernel[1] * p[1 : n + 1] + kernel[2] * p[2 : n + 2]
    img += kernel[3] * p[3 : n + 3] + kernel[4] * p[4 : n + 4]
    m = img.shape[1]
    p = np.pad(img, ((0, 0), (2, 2), (0, 0)), mode="edge")
    img = kernel[0] * p[:, 0:m] + kernel[1] * p[:, 1 : m + 1] + kernel[2] * p[:, 2 : m + 2]
    img += kernel[3] * p[:, 3 : m + 3] + kernel[4] * p[:, 4 : m + 4]
    return img


def _smooth_noise(rng: np.random.Generator, size: int, cell: int, amount: float) -> np.ndarray:
    """Smooth random blotches: a coarse grid of normal values, bilinearly upsampled."""
    n = size // cell + 2
    grid = rng.normal(0.0, amount, (n, n)).astype(np.float32)
    t = (np.arange(size, dtype=np.float32) + 0.5) / cell
    i = t.astype(np.int64)
    f = t - i
    up = np.zeros((size, n), dtype=np.float32)  # interpolation weights
    up[np.arange(size), i] = 1 - f
    up[np.arange(size), i + 1] = f
    return up @ grid @ up.T
