"""The root ``hyperseal`` command: mounts the sub-apps of tuner, audit and reports.

Each package owns its commands in its own ``cli.py``; this module only puts
them together. Heavy libraries (torch, torchvision, nevergrad) are imported
inside the commands that use them, so ``hyperseal --help`` stays fast.
"""

from __future__ import annotations

import typer

from audit.cli import app as audit_app
from reports.cli import app as report_app
from tuner import __version__
from tuner.cli import register as register_tuner
from tuner.cli_support import ErrorMappingGroup
from tuner.vault.cli import app as vault_app

app = typer.Typer(
    help="Tune object detectors, seal their recipes, audit what the weights leak.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=ErrorMappingGroup,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"hyperseal {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    debug: bool = typer.Option(
        False, "--debug", help="Show tracebacks instead of one-line errors."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """hyperseal: tune detectors, keep the winning recipe sealed, audit what releases leak."""
    ctx.obj = {"debug": debug}


register_tuner(app)
app.add_typer(vault_app, name="vault")
app.add_typer(audit_app, name="audit")
app.add_typer(report_app, name="report")


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
