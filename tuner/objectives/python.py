"""A Python function as the objective: ``objective(params, trial) -> metrics``.

The function is named ``path/to/file.py:function`` or ``package.module:function``
and loaded in whichever process runs the trial (a spawned worker, a Dask worker),
so :class:`PythonObjective` itself is plain data. ``params`` is a dict that notes
which parameters the function reads: reading one the space does not define, or
never reading one it does, fails the trial with a message that names it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import ConfigError
from tuner.objectives.workdir import new_trial_dir, remove
from tuner.search.trial import TrialContext

_LOADED: dict[str, Callable[..., Any]] = {}


class ObjectiveImportError(ConfigError):
    """The objective named by ``--objective`` cannot be imported or is not a function."""


class UndefinedParameterError(KeyError):
    """The objective read a parameter the search space does not define."""

    def __str__(self) -> str:
        return str(self.args[0])


class SpaceMismatchError(ConfigError):
    """The objective never read a parameter the search space defines."""


def load_objective(ref: str) -> Callable[..., Any]:
    """The function ``ref`` (``file.py:name`` or ``module:name``) names.

    Raises:
        ObjectiveImportError: no such file, module or function; or importing it raised.
    """
    if ref in _LOADED:
        return _LOADED[ref]
    where, sep, name = ref.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise ObjectiveImportError(
            f"--objective {ref!r} is not FILE.py:FUNCTION or MODULE:FUNCTION;"
            " e.g. --objective train.py:objective"
        )
    try:
        module = _import_file(where) if where.endswith(".py") else importlib.import_module(where)
    except ObjectiveImportError:
        raise
    except Exception as exc:  # the user's module raised while being imported
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise ObjectiveImportError(
            f"--objective {ref!r}: importing {where} raised {type(exc).__name__}: {first}"
        ) from None
    function = getattr(module, name, None)
    if not callable(function):
        raise ObjectiveImportError(
            f"--objective {ref!r}: {where} has no function {name!r}; check the name after ':'"
        )
    _LOADED[ref] = function
    return function


def _import_file(path: str) -> Any:
    file = Path(path).resolve()
    if not file.is_file():
        raise ObjectiveImportError(f"--objective: there is no file {path}; check the path")
    name = "hyperseal_objective_" + hashlib.sha256(str(file).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ObjectiveImportError(f"--objective: {path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))  # so that it imports its neighbours
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def reference_of(function: Callable[..., Any]) -> str | None:
    """``module:name`` for a function importable by name, else None (a notebook's)."""
    module, name = getattr(function, "__module__", None), getattr(function, "__qualname__", "")
    if not module or module == "__main__" or not name.isidentifier():
        return None
    return f"{module}:{name}"


class TrackedParams(dict):  # type: ignore[type-arg]
    """The trial's parameters; remembers which ones the objective read."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        if name not in self:
            raise UndefinedParameterError(
                f"the objective read parameter {name!r}, which the search space does not"
                " define; add it to the space file"
            )
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self:
            self.read.add(name)
        return super().get(name, default)

    def __iter__(self) -> Iterator[str]:  # makes ``**params`` and ``dict(params)`` read each
        return iter(list(super().keys()))

    def items(self) -> Any:
        self.read.update(super().keys())
        return super().items()

    def values(self) -> Any:
        self.read.update(super().keys())
        return super().values()

    def copy(self) -> dict[str, Any]:
        self.read.update(super().keys())
        return dict(super().items())


@dataclass(frozen=True)
class PythonObjective:
    """Calls ``objective(params, trial)``; picklable (the function is loaded by reference).

    Args:
        ref: ``file.py:name`` (absolute path) or ``module:name``.
        function: The function itself (from Python), used instead of loading ``ref``.
        metric: The metric name a float result stands for (the fitness's single metric).
        optional: Parameters the objective may leave unread (conditional ones).
    """

    ref: str | None = None
    function: Callable[..., Any] | None = field(default=None, compare=False)
    metric: str = "value"
    optional: tuple[str, ...] = ()

    def __call__(self, params: dict[str, Any], trial: TrialContext) -> dict[str, float]:
        from tuner.objectives.artifacts import pack

        function = self.function or load_objective(str(self.ref))
        workdir = new_trial_dir(trial.number)
        trial.workdir = str(workdir)
        tracked = TrackedParams(params)
        try:
            result = function(tracked, trial)
            metrics = self._metrics(result)
            unread = sorted(set(params) - tracked.read - set(self.optional))
            if unread:
                raise SpaceMismatchError(
                    f"the objective never read searched parameter(s) {', '.join(unread)}: remove"
                    " them from the space file (or give them a 'when')"
                )
            if trial.artifact_paths and not trial.pruned:
                trial.artifacts["files"] = pack(trial.artifact_paths, Path.cwd())
            return metrics
        finally:
            remove(workdir)

    def _metrics(self, result: Any) -> dict[str, float]:
        if isinstance(result, bool) or result is None:
            raise TypeError("the objective must return a dict of metrics or a number")
        if isinstance(result, (int, float)):
            return {self.metric: float(result)}
        if not isinstance(result, dict):
            raise TypeError(
                f"the objective returned a {type(result).__name__}; return a dict of metrics"
                " or a number"
            )
        out = {}
        for name, value in result.items():
            try:
                out[str(name)] = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"metric {str(name)[:60]!r} is not a number") from None
            if math.isinf(out[str(name)]):
                out[str(name)] = math.nan
        return out
