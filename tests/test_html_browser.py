"""The html report in a real browser: headless Chromium (the Debian package) loads the page with
the network off, runs its inline script, clicks a header and dumps the DOM; and it screenshots the
page. Skipped where no Chromium is installed (the parser-level checks in test_html_report.py run
everywhere)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from pytest_compress.report.html import html_document
from pytest_compress.report.rows import headers
from tests.test_html_report import _rows, parse

pytest.importorskip("matplotlib")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed (apt install chromium)")

# --host-resolver-rules makes every host name unresolvable: a page that fetched anything would
# render without it (and the dumped DOM would still pass), so self-containment is checked by the
# parser tests; here the point is that the page works with nothing but itself.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND")


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=120, check=True)


def _click(page: str, column: int, times: int) -> str:
    """The page with a script appended that clicks header ``column`` ``times`` times."""
    click = (
        f"var th = document.querySelectorAll('table.sortable th')[{column}];"
        f"for (var k = 0; k < {times}; k++) th.click();"
    )
    return page.replace("</body>", f"<script>{click}</script></body>")


def test_the_browser_sorts_the_table_by_a_clicked_numeric_column(tmp_path: Path) -> None:
    rows = _rows()
    page = html_document(rows, ["pytest-compress: 3 case(s)"])
    column = list(headers(rows)).index("smaller")
    reductions = [r.quantities["size.reduction"].value for r in rows if "size.reduction" in r.quantities]
    assert len(set(reductions)) > 1  # the order is informative
    orders = {}
    for times, direction in ((1, "asc"), (2, "desc")):
        path = tmp_path / f"{direction}.html"
        path.write_text(_click(page, column, times), encoding="utf-8")
        dom = _chromium("--dump-dom", path.as_uri()).stdout
        assert f'data-dir="{direction}"' in dom  # the script ran and marked the header
        shown = parse(dom).rows
        assert sorted(map(tuple, shown)) == sorted(map(tuple, parse(page).rows))  # same rows, reordered
        orders[direction] = [row[column] for row in shown]
    assert orders["desc"] == orders["asc"][::-1]
    by_text = {row[column]: r.quantities["size.reduction"].value for row, r in zip(parse(page).rows, rows, strict=True)}
    numbers = [by_text[t] for t in orders["asc"]]
    assert numbers == sorted(numbers)  # sorted as numbers (data-sort), not as text


def _png_colours(png: bytes) -> int:
    """How many distinct pixel rows a PNG has (8-bit RGB/RGBA, non-interlaced): a blank page has 1."""
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, width, channels = 8, b"", 0, 0
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind, data = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    return len({raw[i + 1 : i + stride] for i in range(0, len(raw), stride)})


def test_the_browser_renders_a_screenshot_with_the_table_and_plots(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    path.write_text(html_document(_rows(), ["pytest-compress: 3 case(s)"]), encoding="utf-8")
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1200,900", f"--screenshot={shot}", path.as_uri())
    assert _png_colours(shot.read_bytes()) > 50  # text, table rules and plots, not a blank page
