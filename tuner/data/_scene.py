"""Plan and render one synthetic driving scene (the generator behind :mod:`tuner.data.synth`).

The camera looks down a straight road from a height ``hcam`` (metres). A ground point
``d`` pixels below the horizon is seen at ``d / hcam`` pixels per metre, so objects
shrink towards the horizon and the road narrows to its vanishing point.

Planning (:func:`plan_scene`) draws every random number of the scene from one
generator: the road, the background, the objects and distractors (as
:class:`~tuner.data._raster.Sprite` objects, sorted far to near) and the image
effects. Rendering (:func:`render_scene`) is then deterministic: it decides which
objects are labelled, paints the scene and applies light, fog, blur and noise
(the painting is in :mod:`tuner.data._paint`).

Labelling rules (the boxes follow COCO: the tight box of the *visible* pixels):

* nearer objects are painted later and occlude farther ones; an object's box is the
  tight box of its pixels that remain visible, clipped to the image;
* an object that would be mostly hidden (less than 40 % of its in-image pixels
  visible), mostly outside the image (less than 35 % inside) or tiny (a visible box
  side under 5 px at 128 px) is left out of the scene altogether, so that no
  unlabelled object is ever drawn;
* sizes are drawn so that, before occlusion and truncation, cars are at least 10 px
  tall, pedestrians 22 px and sign panels 10 px (at 128 px; all sizes scale with the
  image): a detector's stride-8 features then see nearly every object;
* a sign's pole, a car's shadow and every distractor (trees, lamp posts, bushes,
  bins, cones, billboards, buildings, shadows) are drawn but never labelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.data._objects import (
    CAR,
    World,
    billboard,
    bush,
    car,
    cone,
    jitter,
    lamp,
    litter_bin,
    pedestrian,
    sign,
    tree,
)
from tuner.data._paint import apply_effects, paint_background
from tuner.data._raster import Sprite

#: Draws one thing: ``maker(rng, world, lateral, yb)``.
Maker = Callable[[np.random.Generator, World, float, float], Sprite]

#: An object is left out when less than this fraction of its in-image pixels is visible.
MIN_VISIBLE = 0.4
#: An object is left out when less than this fraction of it lies inside the image.
MIN_INSIDE = 0.35
#: An object is left out when a side of its visible box is shorter (pixels at 128 px).
MIN_SIDE = 5


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


@dataclass
class Scene:
    """Everything needed to render one image; built by :func:`plan_scene`."""

    world: World
    background: dict[str, Any]
    sprites: list[Sprite]
    effects: dict[str, Any]
    noise_seed: int


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
        lateral: Callable[[], float],
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
            lat = lateral()
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

    def add(maker: Maker, spot: tuple[float, float] | None) -> None:
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
        add(car, placer.place(lambda lat=lat: lat, 10 * k, 1.5, 1.05, 2.4))
    for _ in range(rng.choice(5, p=(0.08, 0.22, 0.3, 0.22, 0.18))):
        if rng.random() < 0.3:
            spot = placer.place(lambda: rng.uniform(-road, road), 22 * k, 1.7, 0.35, 0.4, 1.2)
        else:
            spot = placer.place(
                lambda: side() * (road + rng.uniform(0.3, side_w)), 22 * k, 1.7, 0.35, 0.4, 1.2
            )
        add(pedestrian, spot)
    for _ in range(rng.choice(4, p=(0.15, 0.4, 0.3, 0.15))):
        spot = placer.place(
            lambda: side() * (road + rng.uniform(0.3, 1.6)), 10 * k, 0.95, 0.3, 0.3, 1.1
        )
        add(sign, spot)

    # Distractors, never labelled.
    for _ in range(rng.integers(0, 5)):
        spot = placer.place(
            lambda: side() * (road + side_w + rng.uniform(0.8, 8.0)), 6 * k, 3.0, 0.6, 0.6
        )
        add(tree, spot)
    for _ in range(rng.integers(0, 3)):
        add(lamp, placer.place(lambda: side() * (road + 0.4), 8 * k, 6.0, 0.2, 0.2))
    for _ in range(rng.integers(0, 3)):
        spot = placer.place(lambda: side() * (road + side_w + rng.uniform(0.3, 4)), 4 * k, 1, 1, 1)
        add(bush, spot)
    if rng.random() < 0.2:
        for _ in range(rng.integers(1, 4)):
            add(cone, placer.place(lambda: rng.uniform(-road, road), 4 * k, 0.7, 0.3, 0.3))
    if rng.random() < 0.3:
        spot = placer.place(lambda: side() * (road + side_w - 0.3), 5 * k, 1.1, 0.45, 0.45)
        add(litter_bin, spot)
    if rng.random() < 0.2:
        spot = placer.place(
            lambda: side() * (road + side_w + rng.uniform(3, 7)), 8 * k, 5, 2.5, 0.5
        )
        add(billboard, spot)

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
        "sky_top": jitter(rng, sky_top, 15),
        "sky_low": jitter(rng, sky_low, 15),
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
        "ground": jitter(
            rng, [(85, 125, 60), (150, 140, 100), (115, 100, 80)][rng.integers(3)], 15
        ),
        "asphalt": jitter(rng, (rng.uniform(60, 115),) * 3, 6),
        "kerb": jitter(rng, (rng.uniform(140, 185),) * 3, 8),
        "marking": jitter(rng, (235, 235, 230), 10),
        "centre": jitter(rng, (230, 190, 40), 10) if rng.random() < 0.35 else None,
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
            colour = jitter(rng, (rng.uniform(90, 200),) * 3, 30)
            blds.append((x, x + bw, yh - rng.uniform(0.04, 0.3) * s, colour, rng.random() < 0.6))
            x += bw + rng.uniform(-0.02, 0.05) * s
        bg["buildings"] = blds
    elif bg["far"] == 1:
        bg["treeline"] = [
            (rng.uniform(0, s), rng.uniform(0.03, 0.09) * s, jitter(rng, (45, 85, 45), 15))
            for _ in range(int(rng.integers(6, 16)))
        ]
    return bg


def _plan_effects(rng: np.random.Generator) -> dict[str, Any]:
    night = rng.random() < 0.08
    return {
        "fog": float(rng.uniform(0.15, 0.5)) if rng.random() < 0.15 else 0.0,
        "fog_colour": jitter(rng, (200, 200, 205), 10),
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
    cars = [s for s in kept if s.category == CAR]
    canvas = paint_background(w, scene.background, noise_rng, cars)
    labelled = 0
    for sprite in kept:
        show = True
        if sprite.category is not None:
            show = labelled not in hide
            labelled += 1
        sprite.paint(canvas, labelled=show)
    if effects:
        canvas = apply_effects(canvas, scene.effects, w, noise_rng)
    return np.clip(np.rint(canvas), 0, 255).astype(np.uint8), objects


def _label(scene: Scene) -> tuple[list[Sprite], list[SceneObject]]:
    """Decide, nearest first, which objects are kept, and box what stays visible of them."""
    size = scene.world.size
    min_side = max(3, round(MIN_SIDE * size / 128))
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
