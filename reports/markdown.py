"""The Markdown twin of a report: the same sections, tables and figures, readable as text.

Figures are reference-style images whose definitions (PNG data URIs) are
gathered at the end of the file, so the body reads cleanly as plain text
and the file is still self-contained for viewers that show ``data:`` images.
"""

from __future__ import annotations

import re

from reports.document import Block, Cards, Facts, Figure, Gallery, Note, Report, Table
from tuner.outputs import GENERATOR_MARK

_TONE = {"warn": "Warning", "bad": "Warning", "good": "Good", "info": "Note"}


def _text(value: str) -> str:
    """One line of inline text with Markdown's active characters escaped."""
    value = " ".join(str(value).split())
    return re.sub(r"([\\`*\[\]<>|])", r"\\\1", value)


def _cell(value: str) -> str:
    return _text(value) if value else " "


def _table(table: Table) -> list[str]:
    head = "| " + " | ".join(_cell(c) for c in table.columns) + " |"
    rule = (
        "|"
        + "|".join("---:" if i in table.numeric else "---" for i in range(len(table.columns)))
        + "|"
    )
    lines = [head, rule]
    for i, row in enumerate(table.rows):
        cells = [_cell(c) for c in row]
        if i in table.highlight:
            cells = [f"**{c}**" if c.strip() else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"*{_text(table.caption)}*"]
    return lines


def _figure(figure: Figure, refs: dict[str, str]) -> list[str]:
    name = figure.name
    n = 2
    while name in refs and refs[name] != figure.uri:
        name, n = f"{figure.name}-{n}", n + 1
    refs[name] = figure.uri
    lines = [f"![{_text(figure.alt)}][{name}]"]
    if figure.caption:
        lines += ["", f"*{_text(figure.caption)}*"]
    return lines


def _block(block: Block, refs: dict[str, str]) -> list[str]:
    if isinstance(block, Note):
        if block.tone and block.tone != "neutral":
            return [f"> **{_TONE.get(block.tone, 'Note')}:** {_text(block.text)}"]
        return [_text(block.text)]
    if isinstance(block, Facts):
        return [f"- **{_text(k)}:** {_text(v)}" for k, v in block.items]
    if isinstance(block, Cards):
        return [
            f"- **{_text(c.label)}:** {_text(c.value)}"
            + (f" ({_text(c.detail)})" if c.detail else "")
            for c in block.cards
        ]
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block, refs)
    if isinstance(block, Gallery):
        lines: list[str] = []
        for figure in block.figures:
            if lines:
                lines.append("")
            lines += _figure(figure, refs)
        return lines
    raise TypeError(f"not a report block: {type(block).__name__}")


def _badge(report: Report) -> str:
    if report.redacted:
        return "**Redacted: no hyperparameter values.**"
    if report.private:
        return "**Private: shows hyperparameter values.**"
    return "**Public data: nothing secret.**"


def to_markdown(report: Report) -> str:
    """The report as Markdown (figure data at the end, as reference definitions)."""
    refs: dict[str, str] = {}
    lines = [
        f"<!-- {GENERATOR_MARK}: written by hyperseal; the next report may replace this file -->",
        f"# {_text(report.title)}",
        "",
        f"*{_text(report.subtitle)}*",
        "",
        _badge(report),
    ]
    if report.banner is not None:
        lines += ["", *_block(report.banner, refs)]
    lines += [
        "",
        "Contents: " + " · ".join(f"[{_text(s.title)}](#{s.id})" for s in report.sections),
    ]
    for section in report.sections:
        lines += ["", f'<a id="{section.id}"></a>', "", f"## {_text(section.title)}"]
        if section.lead:
            lines += ["", _text(section.lead)]
        for block in section.blocks:
            lines += ["", *_block(block, refs)]
    if report.footer:
        lines += ["", "---", "", f"*{_text(report.footer)}*"]
    if refs:
        lines += ["", *(f"[{name}]: {uri}" for name, uri in refs.items())]
    return "\n".join(lines) + "\n"
