"""Fitness: the number the tuner maximises, from a trial's metrics.

Default ``mAP`` (COCO AP@[.5:.95]). Any arithmetic expression of metric names
may be given: ``0.1*mAP50 + 0.9*mAP``, ``val_acc - 0.01*seconds``,
``min(mAP50, mAP)``. A metric whose name is not an identifier is written in
backticks: ```metrics/mAP50-95(B)```. The expression is parsed with
:mod:`ast` and evaluated by walking a whitelist of nodes (numbers, names,
``+ - * /``, unary minus, ``min``, ``max``, ``abs``): it is never run as code.

With ``direction="minimize"`` the fitness is minus the expression, so that a
higher fitness is always better (a loss of 0.2 has fitness -0.2).
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from tuner.errors import ConfigError

DIRECTIONS = ("maximize", "minimize")

_QUOTED = re.compile(r"`([^`]+)`")
_FUNCTIONS = {"min": min, "max": max, "abs": abs}
_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}
_EXAMPLE = "e.g. '0.1*mAP50+0.9*mAP' or '`metrics/mAP50-95(B)`'"


@dataclass(frozen=True)
class Fitness:
    """A parsed fitness expression, e.g. ``Fitness.parse("0.1*mAP50+0.9*mAP")``."""

    text: str = "mAP"
    direction: str = "maximize"

    @classmethod
    def parse(cls, text: str, direction: str = "maximize") -> Fitness:
        """Check ``text`` and ``direction``; raises :class:`ConfigError` if either is malformed."""
        if direction not in DIRECTIONS:
            raise ConfigError(f"--direction {direction!r}: use maximize or minimize")
        text = text.strip()
        if not text:
            raise ConfigError(f"fitness is empty; {_EXAMPLE}")
        _compiled(text)
        return cls(text, direction)

    @property
    def metrics(self) -> list[str]:
        """Metric names the fitness needs, in order of appearance."""
        return list(_compiled(self.text)[1])

    def __call__(self, metrics: Mapping[str, float]) -> float:
        tree, names = _compiled(self.text)
        missing = [m for m in names if m not in metrics]
        if missing:
            raise ConfigError(
                f"fitness needs metric {missing[0]!r}, which the trial did not report; "
                f"reported: {', '.join(metrics) or 'none'}"
            )
        try:
            value = float(_evaluate(tree.body, tree.quoted, metrics))
        except (ZeroDivisionError, OverflowError, TypeError, ValueError):
            value = math.nan
        return -value if self.direction == "minimize" else value

    def __str__(self) -> str:
        return f"minimize {self.text}" if self.direction == "minimize" else self.text


@lru_cache(maxsize=64)
def _compiled(text: str) -> tuple[_Tree, tuple[str, ...]]:
    """The checked syntax tree of ``text`` and the metric names it needs.

    Each backticked name is replaced by ``__metric_<i>`` before parsing; the tree's
    names are then mapped back (:func:`_metric_name`).
    """
    quoted: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        quoted.append(match.group(1))
        return f"__metric_{len(quoted) - 1}"

    source = _QUOTED.sub(placeholder, text)
    bad = ConfigError(
        f"fitness {text!r} is not a weighted sum of metrics nor an expression of them"
        f" (+ - * / min max abs); {_EXAMPLE}"
    )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise bad from None
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name) or func.id not in _FUNCTIONS or node.keywords:
                raise bad
            if not node.args:
                raise bad
        elif isinstance(node, ast.Name):
            if node.id in _FUNCTIONS:
                continue
            name = _metric_name(node.id, tuple(quoted))
            if name not in found:
                found.append(name)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise bad
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise bad
        elif not isinstance(node, _ALLOWED):
            raise bad
    called = {id(c.func) for c in ast.walk(tree) if isinstance(c, ast.Call)}
    functions_as_values = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id in _FUNCTIONS and id(n) not in called
    ]
    if functions_as_values:
        raise bad
    return _Tree(tree.body, tuple(quoted)), tuple(found)


_ALLOWED = (ast.Expression, ast.Load, ast.UnaryOp, ast.USub, ast.UAdd, *_BINARY)


@dataclass(frozen=True)
class _Tree:
    body: ast.AST
    quoted: tuple[str, ...]


def _metric_name(identifier: str, quoted: tuple[str, ...]) -> str:
    if identifier.startswith("__metric_"):
        return quoted[int(identifier.removeprefix("__metric_"))]
    return identifier


def _evaluate(node: ast.AST, quoted: tuple[str, ...], metrics: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        return float(metrics[_metric_name(node.id, quoted)])
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, quoted, metrics)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, quoted, metrics), _evaluate(node.right, quoted, metrics)
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        args = [_evaluate(a, quoted, metrics) for a in node.args]
        return float(
            _FUNCTIONS[node.func.id](*args) if len(args) > 1 or node.func.id == "abs" else args[0]
        )
    raise ValueError("unsupported expression")  # unreachable: _compiled checked the tree
