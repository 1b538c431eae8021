"""``hyperseal report tune|audit``: parse options, pick the key, write the report, print paths.

Only parsing and printing live here; the work is in
:func:`reports.render_tune_report` and :func:`reports.render_audit_report`.
Nothing heavy is imported at module level, so ``hyperseal --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tuner.cli_support import new_app
from tuner.vault.cli_keys import NO_KEY_OPTIONS, ReadingKeyOptions, with_reading_key_options

if TYPE_CHECKING:
    from reports.output import ReportPaths

app = new_app("Tuning and audit reports: a self-contained HTML page and its Markdown twin.")

OutOption = typer.Option(
    None,
    "--out",
    "-o",
    help="The .html file to write (the .md goes beside it). Default: report.html inside the"
    " folder, report-redacted.html with --redact.",
    show_default=False,
)
RedactOption = typer.Option(
    False, "--redact", help="Leave out every hyperparameter value (for sharing)."
)
OpenOption = typer.Option(False, "--open", help="Open the HTML report in the browser.")


@app.command("tune")
@with_reading_key_options
def tune_cmd(
    run_dir: Path = typer.Argument(..., help="A tuning run folder (from `hyperseal tune`)."),
    out: Path | None = OutOption,
    redact: bool = RedactOption,
    open_report: bool = OpenOption,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
) -> None:
    """Report on a tuning run: setup, best against default, history, parameters, trials."""
    from reports.tune_report import render_tune_report, sealed_journal

    key = keys.key_for(sealed_journal(run_dir))
    paths = render_tune_report(run_dir, key, out=out, redact=redact)
    _finish(paths, open_report)


@app.command("audit")
@with_reading_key_options
def audit_cmd(
    result_dir: Path = typer.Argument(
        ..., help="An audit result folder (`hyperseal audit model` or `audit reproduce`)."
    ),
    out: Path | None = OutOption,
    redact: bool = RedactOption,
    open_report: bool = OpenOption,
    keys: ReadingKeyOptions = NO_KEY_OPTIONS,
) -> None:
    """Report on an audit: verdict, estimate against truth, defences; or the paper's figures."""
    from reports.audit_report import render_audit_report, sealed_result

    sealed = sealed_result(result_dir)
    key = None if sealed is None else keys.key_for(sealed)
    paths = render_audit_report(result_dir, key, out=out, redact=redact)
    _finish(paths, open_report)


def _finish(paths: ReportPaths, open_report: bool) -> None:
    """Print the paths written (and a reminder when the report is private); open it if asked."""
    typer.echo(f"report: {paths.html}")
    typer.echo(f"markdown: {paths.markdown}")
    if paths.private:
        typer.echo(
            "note: this report shows hyperparameter values (written with mode 0600); "
            "share the one made with --redact",
            err=True,
        )
    if open_report:
        import webbrowser

        if not webbrowser.open(paths.html.resolve().as_uri()):
            typer.echo(f"note: no browser found; open {paths.html} yourself", err=True)
