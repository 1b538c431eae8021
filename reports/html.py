"""The HTML page: one self-contained file, readable on a laptop and on a phone.

Rendered from the jinja2 templates in ``reports/templates`` (``report.html.j2``
lays out the page, ``blocks.html.j2`` each kind of block, ``report.css`` is its
stylesheet) with autoescaping on: every text of the
:class:`~reports.document.Report` is escaped; only the stylesheet is inserted
as is. The page holds no script and fetches nothing: its
Content-Security-Policy allows only inline styles and ``data:`` images, so a
browser refuses any network request it might make.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from reports.document import Cards, Facts, Figure, Gallery, Note, Report, Table
from tuner.outputs import GENERATOR_MARK

if TYPE_CHECKING:
    import jinja2

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)

KIND_LABEL = {
    "tune": "Tuning report",
    "model-audit": "Detector audit",
    "reproduce": "Audit: Wang & Gong reproduced",
}

#: Cells longer than this may wrap (a failure reason); shorter ones stay on one line.
WRAP_AFTER = 28


def _table_view(table: Table) -> dict[str, Any]:
    """A table with each cell's CSS class decided (numbers right, long text wrapping)."""

    def cls(i: int, text: str) -> str:
        if i in table.numeric:
            return "num"
        return "text" if len(text) > WRAP_AFTER else ""

    return {
        "head": [(c, "num" if i in table.numeric else "") for i, c in enumerate(table.columns)],
        "rows": [
            ("hl" if r in table.highlight else "", [(c, cls(i, c)) for i, c in enumerate(row)])
            for r, row in enumerate(table.rows)
        ],
        "caption": table.caption,
    }


_KINDS: tuple[tuple[type, str], ...] = (
    (Note, "note"),
    (Facts, "facts"),
    (Cards, "cards"),
    (Table, "table"),
    (Figure, "figure"),
    (Gallery, "gallery"),
)


def _kind(block: Any) -> str:
    for cls, name in _KINDS:
        if isinstance(block, cls):
            return name
    raise TypeError(f"not a report block: {type(block).__name__}")


def _view(block: Any) -> Any:
    """What a block's macro is given: a table with its cell classes decided, else the block."""
    return _table_view(block) if isinstance(block, Table) else block


@cache
def _environment() -> jinja2.Environment:
    """The templates of ``reports/templates``, HTML-escaping every value."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (plots inline, no script, no network)."""
    from markupsafe import Markup

    from tuner import __version__

    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            report=report,
            csp=Markup(CSP),
            mark=GENERATOR_MARK,
            version=__version__,
            kind_label=KIND_LABEL.get(report.kind, "Report"),
            kind=_kind,
            view=_view,
        )
    )
