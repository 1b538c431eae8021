"""The HTML page: one self-contained file, readable on a laptop and on a phone.

Built with a jinja2 template with autoescaping on: every text of the
:class:`~reports.document.Report` is escaped; only the stylesheet (a
constant of this module) is inserted as is. The page holds no script and
fetches nothing: its Content-Security-Policy allows only inline styles and
``data:`` images, so a browser refuses any network request it might make.
"""

from __future__ import annotations

from typing import Any

from reports.document import Cards, Facts, Figure, Gallery, Note, Report, Table
from reports.output import GENERATOR_MARK

CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
    "form-action 'none'"
)

KIND_LABEL = {
    "tune": "Tuning report",
    "model-audit": "Detector audit",
    "reproduce": "Audit: Wang & Gong reproduced",
}

CSS = """
:root{--ink:#1f2933;--muted:#5f6c7b;--line:#e1e6eb;--bg:#f3f5f8;--card:#fff;--head:#102a43;
--good:#009E73;--warn:#E69F00;--bad:#D55E00;--info:#0072B2;--hl:#e3f4ee}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;color:var(--ink);background:var(--bg)}
.wrap{max-width:1120px;margin:0 auto;padding:0 24px}
header.top{background:var(--head);color:#fff;padding:26px 0 22px}
.eyebrow{margin:0;text-transform:uppercase;letter-spacing:.09em;font-size:.74rem;color:#9fb3c8}
h1{margin:4px 0 6px;font-size:1.75rem;line-height:1.2;overflow-wrap:anywhere}
.subtitle{margin:0;color:#d9e2ec;overflow-wrap:anywhere}
.badge{display:inline-block;margin-top:12px;padding:3px 11px;border-radius:999px;
font-size:.78rem;font-weight:700;letter-spacing:.02em}
.badge.private{background:#f7c46c;color:#2b1a00}
.badge.redacted,.badge.public{background:#9ed3f2;color:#06263a}
nav.toc{display:flex;flex-wrap:wrap;gap:6px;padding-top:16px}
nav.toc a{font-size:.84rem;padding:4px 11px;border:1px solid var(--line);border-radius:999px;
background:#fff;color:var(--ink);text-decoration:none;white-space:nowrap}
nav.toc a:hover{border-color:#9aa5b1}
main{padding-bottom:8px}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:20px 24px 8px;margin:16px 0;box-shadow:0 1px 2px rgba(16,42,67,.05)}
h2{margin:0 0 14px;font-size:1.22rem;line-height:1.3}
h2 a{color:inherit;text-decoration:none}
.lead{margin:-6px 0 14px;color:var(--muted)}
.callout{border-left:4px solid var(--info);background:#eaf4fb;padding:10px 14px;
border-radius:6px;margin:0 0 14px}
.callout.warn{border-color:var(--warn);background:#fff6e3}
.callout.bad{border-color:var(--bad);background:#fdece3}
.callout.good{border-color:var(--good);background:#e3f4ee}
main>.callout{margin-top:16px}
p.note{color:var(--muted);margin:0 0 14px}
dl.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,420px),1fr));
gap:2px 28px;margin:0 0 16px}
dl.facts div{display:grid;grid-template-columns:9.5em 1fr;gap:12px;padding:5px 0;
border-bottom:1px dashed var(--line)}
dl.facts dt{color:var(--muted)}
dl.facts dd{margin:0;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px;
margin:0 0 16px}
.card{border:1px solid var(--line);border-top:4px solid #9aa5b1;border-radius:10px;
padding:10px 14px}
.card.good{border-top-color:var(--good)}.card.warn{border-top-color:var(--warn)}
.card.bad{border-top-color:var(--bad)}.card.info{border-top-color:var(--info)}
.card .label{font-size:.76rem;color:var(--muted);text-transform:uppercase;letter-spacing:.05em}
.card .value{font-size:1.55rem;font-weight:700;line-height:1.3;
font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.card .detail{font-size:.84rem;color:var(--muted)}
.table-wrap{overflow-x:auto;margin:0 0 4px;border:1px solid var(--line);border-radius:8px;
max-height:36rem}
table{border-collapse:collapse;width:100%;font-size:.87rem;font-variant-numeric:tabular-nums}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid var(--line);white-space:nowrap}
td.text{white-space:normal;min-width:12em}
th{background:#eef2f6;font-weight:600;position:sticky;top:0;z-index:1}
.num{text-align:right}
tbody tr:nth-child(even) td{background:#f9fafb}
tbody tr.hl td{background:var(--hl);font-weight:600}
tbody tr:last-child td{border-bottom:0}
.caption{color:var(--muted);font-size:.82rem;margin:4px 2px 16px;min-height:.5em}
figure{margin:0 0 16px;max-width:780px}
figure.wide,.gallery figure{max-width:none}
figure img{display:block;width:100%;height:auto}
figure.wide .scroll{overflow-x:auto}
figure.wide img{min-width:660px}
figcaption{color:var(--muted);font-size:.84rem;margin-top:4px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,400px),1fr));
gap:8px 22px}
footer{color:var(--muted);font-size:.8rem;padding-top:4px;padding-bottom:36px}
@media (max-width:640px){
body{font-size:15px}
.wrap{padding:0 10px}
header.top{padding:18px 0 16px}
h1{font-size:1.32rem}
nav.toc{flex-wrap:nowrap;overflow-x:auto;padding-bottom:4px}
section{padding:14px 12px 4px;margin:12px 0;border-radius:10px}
dl.facts div{grid-template-columns:7.5em 1fr;gap:8px}
.cards{grid-template-columns:repeat(2,minmax(0,1fr));gap:8px}
.card{padding:8px 10px}
.card .value{font-size:1.25rem}
}
@media print{body{background:#fff}section{box-shadow:none;break-inside:avoid-page}
nav.toc{display:none}.table-wrap{max-height:none}}
"""

TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="{{ mark }} {{ version }}">
<title>{{ report.title }}</title>
<style>{{ css }}</style>
</head>
<body>
<header class="top"><div class="wrap">
<p class="eyebrow">hyperseal · {{ kind_label }}</p>
<h1>{{ report.title }}</h1>
<p class="subtitle">{{ report.subtitle }}</p>
{% if report.redacted %}<span class="badge redacted">Redacted: no hyperparameter values</span>
{% elif report.private %}<span class="badge private">Private: shows hyperparameter values</span>
{% else %}<span class="badge public">Public data: nothing secret</span>{% endif %}
</div></header>
<nav class="toc wrap" aria-label="Sections">
{% for s in report.sections %}<a href="#{{ s.id }}">{{ s.title }}</a>
{% endfor %}</nav>
<main class="wrap">
{% if report.banner %}
<div class="callout {{ report.banner.tone or 'info' }}">{{ report.banner.text }}</div>
{% endif %}
{% for s in report.sections %}
<section id="{{ s.id }}">
<h2><a href="#{{ s.id }}">{{ s.title }}</a></h2>
{% if s.lead %}<p class="lead">{{ s.lead }}</p>{% endif %}
{% for b in s.blocks %}{{ block(b) }}{% endfor %}
</section>
{% endfor %}
</main>
<footer class="wrap">{{ report.footer }}</footer>
</body>
</html>
"""

BLOCKS = """
{% macro figure(f) -%}
<figure{% if f.wide %} class="wide"{% endif %}>
{% if f.wide %}<div class="scroll">{% endif %}
<img src="{{ f.uri }}" alt="{{ f.alt }}">
{% if f.wide %}</div>{% endif %}
{% if f.caption %}<figcaption>{{ f.caption }}</figcaption>{% endif %}
</figure>
{%- endmacro %}
{% macro render(kind, b) -%}
{% if kind == "note" and b.tone %}<div class="callout {{ b.tone }}">{{ b.text }}</div>
{% elif kind == "note" %}<p class="note">{{ b.text }}</p>
{% elif kind == "facts" %}<dl class="facts">
{% for label, value in b.items %}<div><dt>{{ label }}</dt><dd>{{ value }}</dd></div>
{% endfor %}</dl>
{% elif kind == "cards" %}<div class="cards">
{% for c in b.cards %}<div class="card {{ c.tone }}">
<div class="label">{{ c.label }}</div><div class="value">{{ c.value }}</div>
{% if c.detail %}<div class="detail">{{ c.detail }}</div>{% endif %}
</div>
{% endfor %}</div>
{% elif kind == "table" %}<div class="table-wrap"><table>
<thead><tr>{% for text, cls in b.head %}<th class="{{ cls }}" scope="col">{{ text }}</th>
{%- endfor %}</tr></thead>
<tbody>
{% for hl, cells in b.rows %}<tr class="{{ hl }}">{% for text, cls in cells %}
<td class="{{ cls }}">{{ text }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>
<p class="caption">{{ b.caption }}</p>
{% elif kind == "figure" %}{{ figure(b) }}
{% elif kind == "gallery" %}<div class="gallery">
{% for f in b.figures %}{{ figure(f) }}{% endfor %}</div>
{% endif %}
{%- endmacro %}
"""

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


def to_html(report: Report) -> str:
    """The report as one self-contained HTML page (plots inline, no script, no network)."""
    import jinja2
    from markupsafe import Markup

    from tuner import __version__

    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    blocks = env.from_string(BLOCKS).module

    def block(b: Any) -> Any:
        kind = _kind(b)
        render = blocks.render  # type: ignore[attr-defined]
        return render(kind, _table_view(b) if kind == "table" else b)

    page = env.from_string(TEMPLATE).render(
        report=report,
        css=Markup(CSS),
        csp=Markup(CSP),
        mark=GENERATOR_MARK,
        version=__version__,
        kind_label=KIND_LABEL.get(report.kind, "Report"),
        block=block,
    )
    return page
