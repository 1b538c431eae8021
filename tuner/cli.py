"""The tuner's commands: ``data``, ``train``, ``tune``, ``demo``.

Commands only parse, prompt and map errors; the work is done by public
functions in the tuner package.
"""

from __future__ import annotations

import typer

from tuner.data.cli import app as data_app


def register(app: typer.Typer) -> None:
    """Add the tuner's commands to the root app."""
    app.add_typer(data_app, name="data")
