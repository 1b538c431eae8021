"""``hyperseal audit ...`` (placeholder until the audit lands)."""

from __future__ import annotations

from tuner.cli_support import new_app

app = new_app("Measure how much of a training recipe released weights leak.")


@app.command("info")
def info() -> None:
    """Describe the audit."""
