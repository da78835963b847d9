"""Excel read as the user sees it (issue 10, item 3): without a sheet named, the active
sheet if visible, else the first visible one, never a hidden sheet; with several sheets the
loader's findings name the sheet read; ``sheet:`` in the mapping's source chooses."""

from __future__ import annotations

import re
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from metsurv.errors import CohortError
from metsurv.io.load import load_cohort
from metsurv.io.read import read_table

DATA = Path(__file__).parent.parent / "data" / "io"
HANDED = DATA / "excel_hidden_first_sheet.xlsx"  # 'old_export' hidden, 'patients' active


def _book(path, sheets, *, active=None, states=None):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for r in rows:
            ws.append(r)
    for title, state in (states or {}).items():
        wb[title].sheet_state = state
    if active is not None:
        wb.active = wb.sheetnames.index(active)
    wb.save(path)
    return path


OLD = [["patient_id", "os_months", "os_event"], ["OLD1", 1, 1]]
NEW = [["patient_id", "os_months", "os_event"], ["NEW1", 10, 0], ["NEW2", 11, 1]]


def test_excel_hidden_first_sheet_handed_file_reads_active_visible_sheet():
    t = read_table(HANDED)
    assert t.sheet == "patients"
    assert t.frame["patient_id"].str.startswith("NEW").all() and len(t.frame) == 5
    assert len(t.notes) == 1 and "'patients'" in t.notes[0] and "'old_export' (hidden)" in t.notes[0]


def test_excel_hidden_first_sheet_finding_names_the_sheet_read():
    cohort = load_cohort(HANDED)
    assert cohort.n_read == 5
    f = cohort.findings
    note = f[(f["column"] == "sheet") & (f["value"] == "patients")]
    assert len(note) == 1 and note["severity"].iloc[0] == "info"
    assert "'old_export' (hidden)" in note["rule"].iloc[0]
    assert "sheet:" in note["rule"].iloc[0]


def test_excel_mapping_sheet_chooses_a_hidden_sheet_explicitly():
    cohort = load_cohort(HANDED, mapping={"source": {"sheet": "old_export"}})
    assert cohort.n_read == 2
    assert not (cohort.findings["column"] == "sheet").any()  # chosen, nothing to say
    assert read_table(HANDED, sheet=1).sheet == "patients"


def test_excel_active_hidden_sheet_falls_back_to_first_visible(tmp_path):
    p = tmp_path / "wb.xlsx"
    # openpyxl refuses to save a hidden active sheet, so hide it in the XML afterwards
    _book(p, {"a_hidden": OLD, "b_visible": NEW, "c_visible": OLD}, active="a_hidden")
    p = _rewrite_state(p, "a_hidden", "veryHidden")
    t = read_table(p)
    assert t.sheet == "b_visible" and t.frame["patient_id"].tolist() == ["NEW1", "NEW2"]
    assert "first visible sheet" in t.notes[0] and "'a_hidden' (veryHidden)" in t.notes[0]


def _rewrite_state(path, title, state):
    import zipfile

    out = path.with_name("re_" + path.name)
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = re.sub(rb'<sheet ([^>]*)name="' + title.encode() + rb'"([^>]*)/>',
                              lambda m: _with_state(m, state), data)
            zo.writestr(info, data)
    return out


def _with_state(m, state):
    attrs = re.sub(rb'\s*state="\w+"', b"", m.group(0)[len(b"<sheet "):-2])
    return b"<sheet " + attrs + b' state="' + state.encode() + b'"/>'


def test_excel_active_visible_sheet_not_first(tmp_path):
    p = _book(tmp_path / "wb.xlsx", {"codes": OLD, "patients": NEW}, active="patients")
    t = read_table(p)
    assert t.sheet == "patients" and "the active sheet" in t.notes[0]
    assert "'codes'" in t.notes[0]


def test_excel_single_sheet_has_no_note(tmp_path):
    p = _book(tmp_path / "one.xlsx", {"patients": NEW})
    t = read_table(p)
    assert t.sheet == "patients" and t.notes == ()


def test_excel_every_sheet_hidden_is_refused(tmp_path):
    p = _book(tmp_path / "wb.xlsx", {"a": OLD, "b": NEW}, active="b")
    p = _rewrite_state(_rewrite_state(p, "a", "hidden"), "b", "hidden")
    with pytest.raises(CohortError, match=r"every worksheet of the workbook is hidden.*sheet:"):
        read_table(p)


def test_excel_active_chartsheet_falls_back_to_first_visible_worksheet(tmp_path):
    p = tmp_path / "chart.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "patients"
    for r in NEW:
        wb.active.append(r)
    chart = BarChart()
    chart.add_data(Reference(wb.active, min_col=2, min_row=1, max_row=3), titles_from_data=True)
    wb.create_chartsheet("chart").add_chart(chart)
    wb.active = 1
    wb.save(p)
    t = read_table(p)
    assert t.sheet == "patients" and "first visible sheet" in t.notes[0]
