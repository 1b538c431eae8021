"""``hyperseal data ...`` (placeholder until the synthetic scenes land)."""

from __future__ import annotations

from tuner.cli_support import new_app

app = new_app("Datasets: built-in synthetic driving scenes, COCO checks.")


@app.command("info")
def info() -> None:
    """Describe the datasets."""
