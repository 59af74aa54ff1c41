"""The html report, --compress-plots and the pytest-html columns: self-contained, the markdown
table's cells, a Pareto plot per model and axis, a correct frontier."""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_compress import options
from pytest_compress.report.html import html_document
from pytest_compress.report.pareto import Point, dominates, frontier, points
from pytest_compress.report.rows import HEADERS, build_rows, cells, headers
from pytest_compress.results import Verdict
from tests.helpers import make_result

PNG = b"\x89PNG\r\n\x1a\n"
pytest.importorskip("matplotlib")


class Page(HTMLParser):
    """What the tests look at: links, images, scripts, the table's header and body cells."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.images: list[dict[str, str]] = []
        self.scripts: list[dict[str, str]] = []
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.urls += [a[k] for k in ("src", "href") if k in a]
        if tag == "img":
            self.images.append(a)
        elif tag == "script":
            self.scripts.append(a)
        elif tag == "link":
            self.urls.append(a.get("href", ""))
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell)
            (self.header if self._in_head else self.rows[-1]).append(text)
            self._cell = None


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def assert_self_contained(page: Page) -> None:
    assert all(not u.startswith(("http:", "https:", "//")) for u in page.urls), page.urls
    assert all(not s.get("src") for s in page.scripts)  # inline JS only
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]).startswith(PNG)


# -- Pareto frontier ------------------------------------------------------------------------------


def test_frontier_keeps_exactly_the_undominated_points() -> None:
    a = Point("a", x=4.0, y=1.0)  # most reduction, largest drop
    b = Point("b", x=2.0, y=0.2)
    c = Point("c", x=2.0, y=0.5)  # dominated by b (same x, more drop)
    d = Point("d", x=1.5, y=0.2)  # dominated by b (less x, same drop)
    e = Point("e", x=1.0, y=-0.1)  # least reduction, drop below zero
    f = Point("f", x=3.0, y=1.5)  # dominated by a
    assert frontier([f, e, d, c, b, a]) == [e, b, a]
    assert dominates(b, c) and dominates(b, d) and not dominates(b, b)
    assert not dominates(a, b) and not dominates(b, a)
    twins = [Point("p", 2.0, 0.1), Point("q", 2.0, 0.1)]  # equal points dominate neither
    assert frontier(twins) == twins
    assert frontier([]) == []


def test_points_carry_intervals_and_skip_cases_without_timing() -> None:
    timed = make_result(test_id="t::a", speedup=2.0, speedup_ci=(1.5, 2.5), drop_ci=(0.0, 0.03))
    untimed = make_result(test_id="t::b", speedup=None)
    rows = build_rows([timed, untimed])
    size = points(rows, "size")
    assert [p.x for p in size] == [4.0, 4.0]
    assert size[0].y == pytest.approx(1.0) and size[0].y_low == 0.0 and size[0].y_high == pytest.approx(3.0)
    (sp,) = points(rows, "speedup")  # fraction drop in points; speedup with its interval
    assert (sp.x, sp.x_low, sp.x_high) == (2.0, 1.5, 2.5)


# -- the html report from rows (no torch) ---------------------------------------------------------


def _rows() -> list:
    r1 = make_result(test_id="t::int8", method="int8-dynamic", speedup_ci=(1.8, 2.2), drop_ci=(0.0, 0.02))
    r2 = make_result(test_id="t::prune", method="prune", cmp_bytes=2000, cmp_acc=0.9, speedup=1.2)
    r2 = r2.with_verdict(Verdict("fail", failed_gates=("accuracy-drop",), reasons=("accuracy drop 8.00 pt > 5 pt",)))
    r3 = dataclasses.replace(make_result(test_id="t::other", speedup=None), model="other<model>")
    return build_rows([r1, r2, r3])


def test_html_report_is_self_contained_with_the_markdown_cells_and_plots() -> None:
    rows = _rows()
    text = html_document(rows, ["pytest-compress: 3 case(s)", "threads=1"])
    page = parse(text)
    assert_self_contained(page)
    assert page.header == list(headers(rows))
    assert page.rows == [list(cells(r)) for r in rows]  # one row per case, the md table's cells
    assert "FAIL <code>t::prune</code>: accuracy drop 8.00 pt &gt; 5 pt" in text
    assert "other&lt;model&gt;" in text and "<model>" not in text  # escaped
    axes = sorted((i["alt"], i["data-axis"]) for i in page.images)
    # model m: size and speedup; "other<model>" has no timing, so only size
    assert axes == [
        ("m: drop vs. size", "size"),
        ("m: drop vs. speedup", "speedup"),
        ("other<model>: drop vs. size", "size"),
    ]
    assert "sortable" in text and "addEventListener" in text


def test_html_report_without_cases() -> None:
    page = parse(html_document([], ["pytest-compress: 0 case(s)"]))
    assert page.rows == [] and page.images == []


def test_html_report_without_matplotlib_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_compress.report import plots

    monkeypatch.setattr(plots, "available", lambda: False)
    text = html_document(_rows(), [])
    page = parse(text)
    assert page.images == [] and len(page.rows) == 3  # the table still there
    assert plots.MISSING in text


# -- end to end ---------------------------------------------------------------------------------


def test_html_report_and_plots_end_to_end(project: pytest.Pytester) -> None:
    result = project.runpytest(
        "--compress-report=html:r/out.html", "--compress-report=md:r/out.md", f"{options.PLOTS}=plots"
    )
    result.assert_outcomes(failed=2)  # no baselines yet: the reasons must reach the page
    result.stdout.fnmatch_lines(["*report written: r/out.html*", "*report written: plots/blobs-mlp-size.png*"])
    text = (project.path / "r" / "out.html").read_text()
    page = parse(text)
    assert_self_contained(page)
    md = (project.path / "r" / "out.md").read_text().splitlines()
    md_rows = [[c.strip() for c in line.strip("|").split("|")] for line in md if line.startswith("| blobs-mlp")]
    assert len(page.rows) == 2 and page.rows == md_rows
    assert text.count("<li>FAIL <code>test_model.py::test_") == 2
    assert {i["data-axis"] for i in page.images} == {"size", "speedup"}
    pngs = sorted(p.name for p in (project.path / "plots").iterdir())
    assert pngs == ["blobs-mlp-size.png", "blobs-mlp-speedup.png"]
    for name in pngs:
        assert (project.path / "plots" / name).read_bytes().startswith(PNG)


def test_pytest_html_gets_the_columns(project: pytest.Pytester) -> None:
    pytest.importorskip("pytest_html")
    result = project.runpytest("--html=report.html", "--self-contained-html", "-k", "int8", "--compress-report=md:r.md")
    result.assert_outcomes(failed=1)
    raw = (project.path / "report.html").read_text()
    headers_html = re.findall(r'<th class="sortable" data-column-type="(compress\w+)">([^<]*)</th>', raw)
    assert headers_html == [
        ("compressSmaller", "smaller"),
        ("compressDrop", "metric drop"),
        ("compressSpeedup", "speedup"),
    ]
    blob = json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', raw).group(1)))
    (row,) = [r["resultsTableRow"] for r in blob["tests"]["test_model.py::test_int8"]]
    ours = [re.fullmatch(r'<td class="col-compress\w+">(.*)</td>', c) for c in row[2:5]]
    md = (project.path / "r.md").read_text().splitlines()
    (md_row,) = [[c.strip() for c in line.strip("|").split("|")] for line in md if line.startswith("| blobs-mlp")]
    cols = list(HEADERS)
    expected = [md_row[cols.index(c)] for c in ("smaller", "drop", "speedup")]
    assert [m.group(1) if m else None for m in ours] == expected  # the md table's cells, after Test


@pytest.mark.parametrize(("args", "registered"), [([], True), (["-p", "no:html"], False)])
def test_pytest_html_columns_only_with_pytest_html(
    pytester: pytest.Pytester, args: list[str], registered: bool
) -> None:
    pytest.importorskip("pytest_html")
    pytester.makepyfile(
        f"def test_a(pytestconfig):\n"
        f"    assert (pytestconfig.pluginmanager.get_plugin('compress-pytest-html') is not None) is {registered}\n"
    )
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=1)


def test_help_imports_neither_torch_nor_matplotlib(tmp_path: Path) -> None:
    code = (
        "import sys, pytest; pytest.main(['--help']); "
        "assert not {'torch', 'matplotlib'} & set(sys.modules), 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, capture_output=True)
