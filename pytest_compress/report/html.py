"""The ``html`` report format: one self-contained file (inline CSS, a few lines of inline JS to
sort the table, plots as ``data:`` URIs), with the columns of the markdown table, the verdict
reasons and per model a Pareto plot of drop vs. size reduction and vs. speedup."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from html import escape

from pytest_compress.report.rows import ALSO, Row, cells, headers
from pytest_compress.report.writers import register_reporter

# column -> the quantity it sorts by (numbers sort as numbers; other columns by their text)
SORT_KEYS = {
    "size": "size.compressed",
    "smaller": "size.reduction",
    "metric": "metric.compressed",
    "drop": "metric.drop",
    "latency": "latency.compressed",
    "speedup": "latency.speedup",
}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[data-dir=asc]::after { content: " \\25B2"; } th[data-dir=desc]::after { content: " \\25BC"; }
tr.fail td { background: #fde8e8; }
.plots img { max-width: 48%; margin: 0.5em 1% 0.5em 0; border: 1px solid #eee; }
"""

# Click a header: sort by its column (data-sort numbers where both rows have one, else the text).
SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, i) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], asc = th.dataset.dir !== "asc";
    th.parentNode.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = asc ? "asc" : "desc";
    var key = function (tr) {
      var td = tr.cells[i];
      return td.dataset.sort !== undefined ? td.dataset.sort : td.textContent;
    };
    var rows = Array.prototype.slice.call(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? c : -c;
    });
    rows.forEach(function (tr) { body.appendChild(tr); });
  });
});
"""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def table_html(rows: Sequence[Row]) -> list[str]:
    cols = headers(list(rows))
    with_also = ALSO in cols
    out = ['<table class="sortable" id="cases">', "<thead><tr>"]
    out += [f"<th>{escape(c)}</th>" for c in cols]
    out += ["</tr></thead>", "<tbody>"]
    for r in rows:
        cls = ' class="fail"' if r.reasons else ""
        out.append(f'<tr{cls} data-test-id="{escape(r.test_id)}">')
        for col, text in zip(cols, cells(r, with_also), strict=True):
            key = SORT_KEYS.get(col)
            sort = f' data-sort="{r.quantities[key].value!r}"' if key in r.quantities else ""
            out.append(f"<td{sort}>{escape(text)}</td>")
        out.append("</tr>")
    out += ["</tbody>", "</table>"]
    return out


def reasons_html(rows: Sequence[Row]) -> list[str]:
    items = [f"<li>FAIL <code>{escape(r.test_id)}</code>: {escape(reason)}</li>" for r in rows for reason in r.reasons]
    return ["<h2>Failures</h2>", '<ul class="reasons">', *items, "</ul>"] if items else []


def plots_html(rows: Sequence[Row]) -> list[str]:
    from pytest_compress.report import plots  # matplotlib only now, and only through plots.py

    if not rows:
        return []
    if not plots.available():
        return [f'<p class="no-plots">{escape(plots.MISSING)}</p>']
    out = ["<h2>Pareto plots</h2>"]
    current = None
    for model, axis, png in plots.plots(rows):
        if model != current:
            if current is not None:
                out.append("</div>")
            out += [f"<h3>{escape(model)}</h3>", f'<div class="plots" data-model="{escape(model)}">']
            current = model
        alt = f"{model}: drop vs. {axis}"
        out.append(f'<img class="pareto" data-axis="{axis}" alt="{escape(alt)}" src="{data_uri(png)}">')
    if current is not None:
        out.append("</div>")
    return out


@register_reporter("html")
def html_document(rows: Sequence[Row], header: Iterable[str]) -> str:
    head = list(header)
    body = [f"<p>{escape(line)}</p>" for line in head]
    body += table_html(rows) if rows else ["<p>no compression cases ran</p>"]
    body += reasons_html(rows) + plots_html(rows)
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en">',
                "<head>",
                '<meta charset="utf-8">',
                "<title>pytest-compress report</title>",
                f"<style>{STYLE}</style>",
                "</head>",
                "<body>",
                "<h1>pytest-compress report</h1>",
                *body,
                f"<script>{SCRIPT}</script>",
                "</body>",
                "</html>",
            ]
        )
        + "\n"
    )
