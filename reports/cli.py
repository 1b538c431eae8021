"""``hyperseal report ...`` (placeholder until reports land)."""

from __future__ import annotations

from tuner.cli_support import new_app

app = new_app("Tuning and audit reports (HTML + Markdown).")


@app.command("info")
def info() -> None:
    """Describe the reports."""
