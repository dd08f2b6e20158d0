"""HTML assembly: one self-contained page, plotly.js inlined once in <head> (works offline, no CDN).

Each figure is a ``<div class="plotly-graph-div">`` followed by its plotly JSON in a
``<script type="application/json" class="figure-data">`` that one loader script draws, so the
figure data is plain JSON a test (or a notebook) can read back. Each section holds one figure
(or the trial table) plus optional notes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1320px;
       padding: 12px 24px 48px; color: #222; }
header h1 { margin: 8px 0 4px; font-size: 24px; }
header p { margin: 2px 0; color: #555; }
nav a { margin-right: 14px; }
section { border-top: 1px solid #ddd; padding-top: 8px; margin-top: 18px; }
section h2 { font-size: 18px; margin: 6px 0; }
p.note { color: #8a5a00; background: #fff7e0; padding: 4px 8px; margin: 4px 0; font-size: 13px; }
p.caption { color: #555; font-size: 13px; margin: 2px 0 6px; }
table.trials { border-collapse: collapse; font-size: 12.5px; width: 100%; }
table.trials th { background: #f3f3f3; cursor: pointer; position: sticky; top: 0; text-align: left;
                  padding: 4px 6px; border-bottom: 2px solid #ccc; vertical-align: bottom; }
table.trials th[aria-sort=ascending]::after { content: " \\25B2"; }
table.trials th[aria-sort=descending]::after { content: " \\25BC"; }
table.trials td { padding: 3px 6px; border-bottom: 1px solid #eee; white-space: nowrap; }
table.trials td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.trials tr:hover td { background: #f7fbff; }
span.dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin-right: 5px; }
.table-wrap { overflow-x: auto; max-height: 640px; }
"""

LOADER_JS = """
document.querySelectorAll("script.figure-data").forEach(function (s) {
  var fig = JSON.parse(s.textContent);
  Plotly.newPlot(s.getAttribute("data-target"), fig.data, fig.layout, {responsive: true, displaylogo: false});
});
"""


@dataclass
class Section:
    id: str
    title: str
    body: str  # one figure_html(...) or the table's HTML
    caption: str = ""
    notes: list[str] = field(default_factory=list)


def figure_html(fig, div_id: str) -> str:
    """The figure's div and its JSON (``</`` escaped so the JSON cannot close the script element)."""
    height = fig.layout.height or 480
    data = fig.to_json().replace("</", "<\\/")
    return (f'<div id="{div_id}" class="plotly-graph-div figure" style="height:{int(height)}px"></div>\n'
            f'<script type="application/json" class="figure-data" data-target="{div_id}">{data}</script>')


def render_page(title: str, header_lines: list[str], sections: list[Section], scripts: tuple[str, ...] = ()) -> str:
    """The whole report as one string; ``header_lines`` are already-escaped HTML fragments, ``scripts``
    inline JS run after the figures are drawn."""
    from plotly.offline import get_plotlyjs

    nav = " ".join(f'<a href="#{s.id}">{escape(s.title)}</a>' for s in sections)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>", f"<style>{CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>', "</head><body>",
        f"<header><h1>{escape(title)}</h1>", *(f"<p>{line}</p>" for line in header_lines), f"<nav>{nav}</nav></header>",
    ]
    for s in sections:
        parts.append(f'<section id="{escape(s.id, quote=True)}"><h2>{escape(s.title)}</h2>')
        if s.caption:
            parts.append(f'<p class="caption">{escape(s.caption)}</p>')
        parts += [f'<p class="note">{escape(n)}</p>' for n in s.notes]
        parts.append(s.body)
        parts.append("</section>")
    parts += [f"<script>{js}</script>" for js in (LOADER_JS, *scripts)]
    parts.append("</body></html>")
    return "\n".join(parts)
