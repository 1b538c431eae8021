"""Paint a planned scene's background and apply its image effects (for :mod:`tuner.data._scene`).

:func:`paint_background` paints, in this order, the sky with its far band (buildings,
a tree line or open land), the ground (verge, kerb or sidewalk, road) with its lane
markings, and the shadows; the sprites are painted on top of it by the caller.
:func:`apply_effects` then adds fog, light (gain, tint, vignetting, gamma), blur and
sensor noise. Every random number comes from the ``rng`` passed in, in a fixed order,
so that a scene renders to the same pixels every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tuner.data._objects import World
    from tuner.data._raster import Sprite


def paint_background(
    world: World, bg: dict[str, Any], rng: np.random.Generator, cars: list[Sprite]
) -> np.ndarray:
    """The ``[H, W, 3]`` float canvas of a scene before its sprites; ``cars`` cast shadows."""
    s = world.size
    canvas = np.empty((s, s, 3), dtype=np.float32)
    h0 = int(math.ceil(world.yh - 0.5))  # the first ground row
    _paint_sky(canvas, world, bg, h0)
    road = _Road.seen_from(world, h0)
    ground = _ground(road, world, bg, rng)
    _paint_markings(ground, road, world, bg)
    canvas[h0:] = ground
    _paint_shadows(canvas, bg, cars, h0)
    return canvas


def _paint_sky(canvas: np.ndarray, w: World, bg: dict[str, Any], h0: int) -> None:
    """Sky gradient, clouds and the far band; what spills below the horizon is painted over."""
    s, yh = w.size, w.yh
    ys = (np.arange(s, dtype=np.float32) + 0.5)[:, None]
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


@dataclass(frozen=True)
class _Road:
    """Where each ground pixel (rows from the horizon down) lies in the world."""

    ppm: np.ndarray  # pixels per metre, per row
    lat: np.ndarray  # metres across the road, per pixel (0 = road centre)
    depth: np.ndarray  # metres ahead, per row
    on_road: np.ndarray  # the pixel is asphalt
    top: int  # image row of the first ground row

    @classmethod
    def seen_from(cls, w: World, h0: int) -> _Road:
        s = w.size
        ys = (np.arange(s, dtype=np.float32) + 0.5)[:, None]
        xs = (np.arange(s, dtype=np.float32) + 0.5)[None, :]
        d = np.maximum(ys[h0:] - w.yh, 0.25)
        ppm = d / w.hcam
        lat = w.cam_x + (xs - w.xv) / ppm
        return cls(ppm, lat, s * w.hcam / d, np.abs(lat) <= w.road_half, h0)


def _ground(road: _Road, w: World, bg: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Verge, sidewalk, kerb and asphalt colours with grain and smooth blotches."""
    a = np.abs(road.lat)
    zone = np.zeros(road.lat.shape, dtype=np.int64)  # 0 verge, 1 sidewalk, 2 kerb, 3 road
    if w.sidewalk:
        zone[a <= w.road_half + w.sidewalk] = 1
        zone[a <= w.road_half + 0.2] = 2
    zone[road.on_road] = 3
    palette = np.stack([bg["ground"], bg["kerb"], bg["kerb"] * 1.15, bg["asphalt"]])
    ground = palette[zone]
    noise = rng.standard_normal(road.lat.shape, dtype=np.float32) * (4.0 * road.on_road)
    noise += _smooth_noise(rng, w.size, 8, 6.0)[road.top :]
    ground += noise[:, :, None]
    return ground


def _paint_markings(ground: np.ndarray, road: _Road, w: World, bg: dict[str, Any]) -> None:
    """White (or yellow) paint, blended by how much of a pixel a line covers."""
    dash_len, period, phase = bg["dash"]
    dashes = ((road.depth + phase) % period) < dash_len
    paint = {
        "white": np.zeros(road.lat.shape, np.float32),
        "yellow": np.zeros(road.lat.shape, np.float32),
    }
    road_half = w.road_half
    for k in range(1, w.n_lanes):
        centre = -road_half + k * w.lane_w
        if bg["centre"] is not None and k == w.n_lanes // 2:
            _line(paint["yellow"], road, centre, 0.15)
        else:
            _line(paint["white"], road, centre, 0.13, dashes)
    if bg["edge_lines"]:
        for sign in (-1, 1):
            _line(paint["white"], road, sign * (road_half - 0.3), 0.15)
    if bg["crosswalk"] is not None:
        z0, lat = bg["crosswalk"], road.lat
        band = (
            road.on_road & (road.depth >= z0) & (road.depth < z0 + 3) & (((lat + 10) % 1.0) < 0.5)
        )
        np.maximum(paint["white"], band * np.where(road.ppm >= 3.0, 1.0, 0.5), out=paint["white"])
    for name, colour in (("white", bg["marking"]), ("yellow", bg["centre"])):
        alpha = paint[name]
        if colour is not None and alpha.any():
            ground += (colour - ground) * alpha[:, :, None]


def _line(
    paint: np.ndarray, road: _Road, centre: float, width: float, on: np.ndarray | None = None
) -> None:
    """Add a line ``width`` metres wide at ``centre`` metres across (where ``on``) to ``paint``."""
    half = np.maximum(width / 2, 0.5 / road.ppm)
    alpha = np.minimum(width * road.ppm, 1.0) * (np.abs(road.lat - centre) <= half)
    if on is not None:
        alpha *= on
    np.maximum(paint, alpha, out=paint)


def _paint_shadows(canvas: np.ndarray, bg: dict[str, Any], cars: list[Sprite], h0: int) -> None:
    """Blotches on the ground and one under each car."""
    shades = [(cx, cy, rx, ry, f) for cx, cy, rx, ry, f in bg["patches"]]
    shades += [(*car.shadow, 0.45) for car in cars if car.shadow is not None]
    for cx, cy, rx, ry, f in shades:
        for where, m in _ellipse(canvas, cx, cy, rx, ry, top=h0):
            where[m] *= f


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


def apply_effects(
    canvas: np.ndarray, fx: dict[str, Any], w: World, rng: np.random.Generator
) -> np.ndarray:
    """Fog, light (gain, tint, vignetting, gamma), blur and noise, in place where possible."""
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
