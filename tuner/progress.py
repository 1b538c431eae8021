"""One small callback interface for progress of long work.

Core functions never print. They accept an optional :class:`Progress` and call
it; the CLI passes a rich progress bar, a notebook user may pass their own or
nothing at all.
"""

from __future__ import annotations

from typing import Any, Protocol


class Progress(Protocol):
    """Receives progress of a long task.

    ``start`` opens a task with an optional total number of steps, ``advance``
    moves it on (``info`` is a short status such as the current loss), and
    ``finish`` closes it.
    """

    def start(self, description: str, total: int | None = None) -> None: ...

    def advance(self, steps: int = 1, **info: Any) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """The default: reports nothing."""

    def start(self, description: str, total: int | None = None) -> None:
        return None

    def advance(self, steps: int = 1, **info: Any) -> None:
        return None

    def finish(self) -> None:
        return None


def or_null(progress: Progress | None) -> Progress:
    """Return ``progress`` or a :class:`NullProgress` when it is ``None``."""
    return progress if progress is not None else NullProgress()
