"""Raster primitives for the synthetic scenes: flat-coloured shapes drawn in a sprite's window.

A :class:`Sprite` is one scene object (a car, a tree, a sign on its pole). It owns a
small window of pixel centres around the object and collects parts (rectangles,
ellipses, convex polygons) as boolean masks over that window. Parts are painted in
the order they were added, each with one colour and an optional vertical shading.
Parts are either *annotated* (they belong to the labelled object: a sign's panel)
or not (its pole): the annotation box is computed from the annotated pixels alone.

Edges are hard (no anti-aliasing) so that every box matches its pixels exactly;
the whole image is blurred a little afterwards.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Colour = Sequence[float] | np.ndarray


class Sprite:
    """One object of a scene, drawn from flat-coloured parts inside its own window.

    Args:
        x0: Left edge of the region the parts may cover, in image pixels (may be outside).
        y0: Top edge of that region.
        x1: Right edge.
        y1: Bottom edge.
        depth: Painter's order: sprites with a smaller depth are drawn first (farther away).
        category: COCO category id of the labelled object, or ``None`` for a distractor.
    """

    def __init__(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        *,
        depth: float,
        category: int | None = None,
    ) -> None:
        self.left = math.floor(x0) - 1
        self.top = math.floor(y0) - 1
        right = math.ceil(x1) + 1
        bottom = math.ceil(y1) + 1
        self.depth = depth
        self.category = category
        self.ys = (np.arange(self.top, bottom, dtype=np.float32) + 0.5)[:, None]
        self.xs = (np.arange(self.left, right, dtype=np.float32) + 0.5)[None, :]
        shape = (bottom - self.top, right - self.left)
        self.label = np.zeros(shape, dtype=bool)
        self.full = np.zeros(shape, dtype=bool)
        self.parts: list[tuple[np.ndarray, np.ndarray, float, bool]] = []
        #: A car's ground shadow ``(cx, cy, rx, ry)``, painted with the road.
        self.shadow: tuple[float, float, float, float] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """Height and width of the window."""
        return self.full.shape  # type: ignore[return-value]

    def add(
        self, mask: np.ndarray, colour: Colour, *, annotated: bool = True, shade: float = 0.0
    ) -> None:
        """Add a part given as a mask over the window.

        Args:
            mask: Boolean mask of the window's shape.
            colour: RGB in 0..255 (floats allowed).
            annotated: Whether the part belongs to the labelled object.
            shade: Vertical shading: the part is ``1 + shade / 2`` times brighter at the
                window's top and ``1 - shade / 2`` at its bottom.
        """
        annotated = annotated and self.category is not None
        self.parts.append((mask, np.asarray(colour, dtype=np.float32), shade, annotated))
        self.full |= mask
        if annotated:
            self.label |= mask

    def rect(
        self, x0: float, y0: float, x1: float, y1: float, colour: Colour, **kw: object
    ) -> None:
        """Add an axis-aligned rectangle ``[x0, x1) x [y0, y1)`` (pixel centres inside)."""
        self.add(rect_mask(self.ys, self.xs, x0, y0, x1, y1), colour, **kw)  # type: ignore[arg-type]

    def ellipse(
        self, cx: float, cy: float, rx: float, ry: float, colour: Colour, **kw: object
    ) -> None:
        """Add an axis-aligned ellipse."""
        self.add(superellipse_mask(self.ys, self.xs, cx, cy, rx, ry, 2.0), colour, **kw)  # type: ignore[arg-type]

    def rounded(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        colour: Colour,
        p: float = 5.0,
        **kw: object,
    ) -> None:
        """Add a superellipse (a box with rounded corners for ``p`` around 4 to 8)."""
        self.add(superellipse_mask(self.ys, self.xs, cx, cy, rx, ry, p), colour, **kw)  # type: ignore[arg-type]

    def polygon(self, points: Sequence[tuple[float, float]], colour: Colour, **kw: object) -> None:
        """Add a convex polygon given by its vertices ``(x, y)`` in order."""
        self.add(polygon_mask(self.ys, self.xs, points), colour, **kw)  # type: ignore[arg-type]

    def regular(
        self,
        cx: float,
        cy: float,
        r: float,
        n: int,
        colour: Colour,
        rotation: float = 0.0,
        **kw: object,
    ) -> None:
        """Add a regular ``n``-gon of circumradius ``r`` (``rotation`` in radians)."""
        angles = rotation + 2 * np.pi * np.arange(n) / n
        pts = [(cx + r * math.sin(a), cy - r * math.cos(a)) for a in angles]
        self.polygon(pts, colour, **kw)

    def clip(self, size: int) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
        """Slices of the image and of the window where they overlap, or ``None``."""
        h, w = self.shape
        a0, a1 = max(self.top, 0), min(self.top + h, size)
        b0, b1 = max(self.left, 0), min(self.left + w, size)
        if a0 >= a1 or b0 >= b1:
            return None
        image = (slice(a0, a1), slice(b0, b1))
        local = (slice(a0 - self.top, a1 - self.top), slice(b0 - self.left, b1 - self.left))
        return image, local

    def paint(self, canvas: np.ndarray, *, labelled: bool = True) -> None:
        """Paint the parts, in order, onto a float ``[H, W, 3]`` canvas.

        Args:
            canvas: The image being drawn.
            labelled: ``False`` skips the annotated parts (a test hook).
        """
        where = self.clip(canvas.shape[0])
        if where is None:
            return
        image, (rows, cols) = where
        region = canvas[image]
        h = self.shape[0]
        t = (0.5 - (np.arange(h, dtype=np.float32) + 0.5) / h)[rows]
        for mask, colour, shade, annotated in self.parts:
            if annotated and not labelled:
                continue
            m = mask[rows, cols]
            if shade:
                pix = (1.0 + shade * t)[:, None, None] * colour[None, None, :]
                region[m] = np.broadcast_to(pix, (*m.shape, 3))[m]
            else:
                region[m] = colour


def rect_mask(
    ys: np.ndarray, xs: np.ndarray, x0: float, y0: float, x1: float, y1: float
) -> np.ndarray:
    """Pixels whose centre lies in ``[x0, x1) x [y0, y1)``."""
    return ((ys >= y0) & (ys < y1)) & ((xs >= x0) & (xs < x1))


def superellipse_mask(
    ys: np.ndarray, xs: np.ndarray, cx: float, cy: float, rx: float, ry: float, p: float
) -> np.ndarray:
    """Pixels with ``|dx/rx|^p + |dy/ry|^p <= 1`` (an ellipse for ``p = 2``)."""
    rx, ry = max(rx, 1e-3), max(ry, 1e-3)
    dx = np.abs((xs - cx) / rx)
    dy = np.abs((ys - cy) / ry)
    if p == 2.0:
        return dx * dx + dy * dy <= 1.0
    return dx**p + dy**p <= 1.0


def polygon_mask(
    ys: np.ndarray, xs: np.ndarray, points: Sequence[tuple[float, float]]
) -> np.ndarray:
    """Pixels inside a convex polygon (vertices in either orientation)."""
    pts = [(float(x), float(y)) for x, y in points]
    nxt = pts[1:] + pts[:1]
    area2 = sum(xa * yb - xb * ya for (xa, ya), (xb, yb) in zip(pts, nxt, strict=True))
    sign = 1.0 if area2 >= 0 else -1.0
    inside: np.ndarray | None = None
    for (xa, ya), (xb, yb) in zip(pts, nxt, strict=True):
        # sign * cross((b - a), (p - a)) >= 0, written as  u * ys - v * xs >= c.
        u, v = sign * (xb - xa), sign * (yb - ya)
        half = (u * ys - v * xs) >= (u * ya - v * xa)
        inside = half if inside is None else inside & half
    assert inside is not None
    return inside
