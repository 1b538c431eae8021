"""CLI plumbing shared by every sub-app: error mapping and a rich progress bar.

Only CLI modules import this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import typer
from typer.core import TyperGroup

from tuner.errors import HypersealError


class ErrorMappingGroup(TyperGroup):
    """A Typer group that turns any :class:`HypersealError` into one line and an exit code.

    With ``hyperseal --debug`` the traceback is shown instead. Its own flags
    and its commands' are listed in help without a value placeholder (Typer
    would print ``--export <bool>``, as if the flag took a value).
    """

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _plain_flags(command.get_params(ctx))  # click caches the help option: patched once
        return command

    def invoke(self, ctx: click.Context) -> Any:
        if ctx.parent is None:  # the whole command: a secret read from the environment
            from tuner import secret_env  # lives as long as the command, no longer

            secret_env.forget()
            try:
                with _one_line_warnings():
                    return self._invoke(ctx)
            finally:
                secret_env.forget()
        return self._invoke(ctx)

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HypersealError as exc:
            if _debug(ctx):
                raise
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # a disk that fills up or turns read-only mid-run
            if _debug(ctx):
                raise
            from tuner.errors import OutputError
            from tuner.outputs import describe_os_error

            typer.echo(f"error: {describe_os_error(exc)}", err=True)
            raise typer.Exit(OutputError.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None


@contextmanager
def _one_line_warnings() -> Iterator[None]:
    """hyperseal's own warnings (e.g. trials sent over plain TCP) as one ``warning:`` line on
    stderr, like its errors; other libraries' warnings as Python shows them."""
    import warnings

    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if category.__module__.split(".")[0] in ("tuner", "audit", "reports"):
            typer.echo(f"warning: {message}", err=True)
        else:
            original(message, category, *args, **kwargs)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _plain_flags(params: list[click.Parameter]) -> list[click.Parameter]:
    """Give on/off options an empty metavar, so that help shows no ``<bool>`` after them."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(isinstance(root.obj, dict) and root.obj.get("debug"))


def new_app(help_text: str) -> typer.Typer:
    """A sub-app with the project's conventions (no completion flags, help on no args)."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=ErrorMappingGroup,
    )


class RichProgress:
    """A :class:`tuner.progress.Progress` drawn as a rich progress bar with ETA on stderr."""

    def __init__(self, transient: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=console,
            transient=transient,
            # Off a terminal a bar that vanishes when done would leave only blank lines; a
            # lasting one still prints its final state (for logs).
            disable=transient and not console.is_terminal,
        )
        self._task: Any = None

    def start(self, description: str, total: int | None = None) -> None:
        if self._task is None:
            self._bar.start()
        else:
            self._bar.remove_task(self._task)
        self._task = self._bar.add_task(description, total=total, info="")

    def advance(self, steps: int = 1, **info: Any) -> None:
        if self._task is None:
            return
        text = "  ".join(f"{k}={_fmt(v)}" for k, v in info.items())
        self._bar.update(self._task, advance=steps, info=text)

    def finish(self) -> None:
        if self._task is not None:
            self._bar.stop()
            self._task = None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def count(n: int, noun: str) -> str:
    """``1 trial``, ``3 trials``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
