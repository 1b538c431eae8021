"""``hyperseal vault ...`` (placeholder until the vault lands)."""

from __future__ import annotations

from tuner.cli_support import new_app

app = new_app("Encrypted, authenticated storage for winning configs and trial journals.")


@app.command("info")
def info() -> None:
    """Describe the vault format."""
