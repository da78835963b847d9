"""The HTML report reads on a screen: the bundled report, opened in headless Chromium at
1,280 px, fits every table in the window (no column cut, the page never scrolls
sideways), the published comparison's sources are numbered footnotes, not a column that
makes its rows tall; on a narrow window a wide table scrolls in its own box, not the page."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from metsurv.report import tables as T

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium")
REPORTS = Path(__file__).resolve().parents[2] / "reports"

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]

# Test-only: appended to a copy of the page; writes the layout it measured into the DOM.
PROBE = """<script>
window.addEventListener("load", function () {
  var out = {vw: window.innerWidth, sw: document.documentElement.scrollWidth, tables: []};
  document.querySelectorAll("table").forEach(function (t) {
    var box = t.parentElement;
    var rows = Array.from(t.querySelectorAll("tbody tr")).map(function (tr) {
      return tr.getBoundingClientRect().height; });
    out.tables.push({id: t.id, right: t.getBoundingClientRect().right,
                     boxRight: box.getBoundingClientRect().right,
                     boxScrolls: ["auto", "scroll"].indexOf(getComputedStyle(box).overflowX) >= 0,
                     maxRow: Math.max.apply(null, rows.concat([0]))});
  });
  var d = document.createElement("pre"); d.id = "layout-probe";
  d.textContent = JSON.stringify(out);
  document.body.appendChild(d);
});
</script>
"""


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    """The bundled irlm1997 report, built once for this module."""
    from metsurv.report import build

    return build(REPORTS / "irlm1997.yaml", out=tmp_path_factory.mktemp("html") / "report")


def layout(page: Path, tmp: Path, width: int) -> dict:
    """Open a copy of ``page`` (beside it, so its links resolve) at ``width`` px and return
    what the probe measured: viewport and page scroll width, and per table its right edge,
    its box's right edge and whether that box scrolls, and its tallest body row."""
    probe = page.parent / f"_layout_{width}.html"
    shutil.copy(page, probe)
    with open(probe, "a", encoding="utf-8") as fh:
        fh.write(PROBE)
    try:
        res = subprocess.run(
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp / f'profile-{width}'}",
             f"--window-size={width},900", "--virtual-time-budget=3000", "--dump-dom",
             probe.as_uri()],
            capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp)})
    finally:
        probe.unlink()
    m = re.search(r'<pre id="layout-probe">(.*?)</pre>', res.stdout, re.S)
    assert m, res.stderr[-2000:]
    return json.loads(html.unescape(m.group(1)))


@needs_chromium
def test_every_table_fits_a_1280_px_window(bundled: Path, tmp_path):
    got = layout(bundled / "index.html", tmp_path, 1280)
    assert got["vw"] == 1280
    assert got["sw"] <= 1280, "the page scrolls sideways"
    ids = {t["id"] for t in got["tables"]}
    assert {"tab-irlm_battery", "tab-published_comparison"} <= ids, ids
    cut = [(t["id"], round(t["right"])) for t in got["tables"] if t["right"] > 1280 + 0.5]
    assert not cut, f"tables cut at the window's edge: {cut}"
    # and none overflows its own box (which would hide columns behind a scroll bar)
    hidden = [t["id"] for t in got["tables"] if t["right"] > t["boxRight"] + 0.5]
    assert not hidden, hidden
    pub = next(t for t in got["tables"] if t["id"] == "tab-published_comparison")
    assert pub["maxRow"] <= 60, f"published comparison row {pub['maxRow']:.0f} px tall"


@needs_chromium
def test_a_narrow_window_scrolls_the_table_not_the_page(bundled: Path, tmp_path):
    got = layout(bundled / "index.html", tmp_path, 760)
    assert got["sw"] <= 760, "the page scrolls sideways"
    for t in got["tables"]:  # a table wider than the window: inside a box that scrolls
        assert t["right"] <= 760 + 0.5 or (t["boxScrolls"] and t["boxRight"] <= 760 + 0.5), t


def test_published_sources_are_footnotes_in_the_html_only(bundled: Path):
    page = (bundled / "index.html").read_text(encoding="utf-8")
    csv = pd.read_csv(bundled / "tables" / "published_comparison.csv", dtype=str)
    # the CSV keeps the column (whatever the case of its CSV header)
    source = next(c for c in csv.columns if c.lower() == "source")
    table = page[page.index('<table id="tab-published_comparison"'):]
    table, after = table.split("</table>", 1)
    assert "<th rowspan=\"2\">Source</th>" not in table and ">Source<" not in table
    sources = list(dict.fromkeys(csv[source].dropna()))
    listed = re.findall(r'<li id="tab-published_comparison-src(\d+)">(.*?)</li>',
                        after.split("</ol>", 1)[0])
    assert [html.unescape(s) for _, s in listed] == sources
    assert [int(k) for k, _ in listed] == list(range(1, len(sources) + 1))
    refs = re.findall(r'href="#tab-published_comparison-src(\d+)"', table)
    want = [sources.index(s) + 1 for s in csv[source] if isinstance(s, str)]
    assert [int(r) for r in refs] == want


def test_to_html_footnotes_and_paired_headers():
    df = pd.DataFrame({"Study": ["A 2001", "B 2002", "A 2001 again"],
                       "Published n": ["10", "20", ""], "Cohort n": ["11", "21", "31"],
                       "Note": ["x", "y", "z"], "Source": ["Ref A", None, "Ref A"]})
    out = T.to_html(df, table_id="t", sources="Source",
                    pairs={"Published": "Publ.", "Cohort": "Cohort"}, css_class="wide")
    assert out.startswith('<table id="t" class="wide">')
    assert '<th colspan="2" class="group" scope="colgroup">N</th>' not in out
    assert '<th colspan="2" class="group" scope="colgroup">n</th>' in out
    assert '<abbr title="Published">Publ.</abbr>' in out
    assert '<th rowspan="2">Study</th>' in out and '<th rowspan="2">Note</th>' in out
    assert ">Source<" not in out
    body = out.split("<tbody>")[1]
    assert body.count('href="#t-src1"') == 2 and "src2" not in out  # one number per source
    assert '<ol class="sources"><li id="t-src1">Ref A</li></ol>' in out
    assert "Source" in df.columns  # the caller's frame is left alone
    plain = T.to_html(df[["Study", "Note"]])
    assert "<th>Study</th>" in plain and "rowspan" not in plain and "<ol" not in plain
