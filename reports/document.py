"""A report as plain data: sections of blocks that both the HTML and the Markdown render.

Every text is plain text (the HTML template escapes it); every figure is a
ready PNG data URI. Building a :class:`Report` is where redaction happens:
the renderers only lay out what they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Tone = Literal["neutral", "good", "warn", "bad", "info"]


@dataclass(frozen=True)
class Note:
    """A short paragraph, optionally set apart as a call-out."""

    text: str
    tone: Tone | None = None


@dataclass(frozen=True)
class Facts:
    """Label/value pairs (the setup of a run, the identity of a model)."""

    items: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Card:
    """One headline number (or word) with a label and an optional detail line."""

    label: str
    value: str
    detail: str = ""
    tone: Tone = "neutral"


@dataclass(frozen=True)
class Cards:
    """A row of headline cards."""

    cards: tuple[Card, ...]


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells.

    Attributes:
        columns: Column headers.
        rows: Rows of cells.
        numeric: Indices of columns to right-align.
        highlight: Indices of rows to set apart (the best trial, the recommended defence).
        caption: One line under the table.
    """

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()
    highlight: frozenset[int] = frozenset()
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    """A plot as a PNG data URI.

    Attributes:
        uri: ``data:image/png;base64,...``.
        alt: Text alternative (no hyperparameter value in a redacted report).
        caption: What to read from it.
        wide: Needs a wide screen; scrolls sideways on a phone.
        name: Short unique slug (Markdown reference name).
        texts: Every text drawn on the image (not rendered; for checks).
    """

    uri: str
    alt: str
    caption: str = ""
    wide: bool = False
    name: str = "figure"
    texts: tuple[str, ...] = ()

    @property
    def png(self) -> bytes:
        """The image as PNG bytes (e.g. to save it on its own)."""
        import base64

        return base64.b64decode(self.uri.partition(",")[2])

    def _repr_png_(self) -> bytes:
        """Jupyter shows the figure itself."""
        return self.png


@dataclass(frozen=True)
class Gallery:
    """Small figures laid out side by side (one column on a phone)."""

    figures: tuple[Figure, ...]


Block = Note | Facts | Cards | Table | Figure | Gallery


@dataclass
class Section:
    """A titled part of the report; ``id`` is its anchor."""

    id: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    lead: str = ""

    def add(self, *blocks: Block | None) -> Section:
        """Append the blocks that are not None; returns self."""
        self.blocks.extend(b for b in blocks if b is not None)
        return self


@dataclass
class Report:
    """A whole report.

    Attributes:
        kind: ``tune``, ``model-audit`` or ``reproduce``.
        title: The page title.
        subtitle: One line under it (what, where, when).
        redacted: Whether hyperparameter values were left out.
        private: Whether it shows secret values (then it is written with mode 0600).
        banner: A call-out at the top (what the file holds, who may read it).
        sections: The parts, in order.
        footer: Provenance line.
    """

    kind: str
    title: str
    subtitle: str
    redacted: bool
    banner: Note | None
    sections: list[Section]
    footer: str = ""
    private: bool = True

    def figures(self) -> list[Figure]:
        """Every figure, in reading order."""
        found: list[Figure] = []
        for section in self.sections:
            for block in section.blocks:
                if isinstance(block, Figure):
                    found.append(block)
                elif isinstance(block, Gallery):
                    found.extend(block.figures)
        return found
