"""The large-file paths of reading a column (issue 12: a 1,000,000-patient export).

Oracle: Python's own ``str.strip`` and ``str.casefold`` (what the per-value code did, and
still does below ``_ARROW_MIN`` distinct values), applied to the same values; for
:func:`derive._col`, the columns built from a list of missing values as before."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv import schema
from metsurv.io import convert as C
from metsurv.io import derive

#: values at the edges of "printable ASCII": Unicode spaces Python strips, control
#: characters it strips (\x1c-\x1f, \x85) or keeps (\x00, \x7f), non-ASCII letters
EDGES = [" a ", "\tb\n", "\x1cc\x1f", "\u00a0d", "e\u2003", "\x85f\x85", "\x00g", "h\x7f",
         "Straße ", " İ", "ǅ", "", " ", "  ", "x", "NA", " n/a ", "ÉCHEC", "é", "-1", "12.0"]


def _values(n: int = C._ARROW_MIN + 500) -> pd.Index:
    ids = [f"ID-{i:07d}" for i in range(n)]
    return pd.Index(ids + EDGES, dtype=object)


def test_stripped_text_equals_python_strip_above_the_arrow_threshold():
    values = _values()
    got = C._raw_text(values)
    want = pd.Series(values, dtype=object).astype(str).str.strip()
    assert got.tolist() == want.tolist()


def test_numbers_among_text_are_still_written_without_decimals():
    values = pd.Index([f"P{i}" for i in range(C._ARROW_MIN)] + [12.0, 3.5, " 7 "],
                      dtype=object)
    assert C._raw_text(values).tolist()[-3:] == ["12", "3.5", "7"]


class _Codes:
    """A mapping's missing-value codes (as ``TableMapping.missing_codes`` gives them)."""

    def missing_codes(self, name: str) -> frozenset[str]:
        raw = ["UNK", "n/a", "STRASSE", "İ", "-1", "ǅ", "échec"]
        return frozenset(schema.raw_key(v) for v in raw) | {""}


@pytest.mark.parametrize("n", [50, C._ARROW_MIN + 500])
def test_missing_codes_match_as_casefold_does(n):
    text = C._raw_text(_values(n))
    extra = pd.Series(["unk", "UNK", "Straße", "strasse", "N/A", "i̇", "ǆ", "Ǆ", "ÉCHEC"],
                      dtype=object)
    text = pd.concat([text, extra], ignore_index=True)
    got = C._missing_status(text, _Codes(), "center")
    want = np.where(text.str.casefold().isin(_Codes().missing_codes("center")), 1, 0)
    np.testing.assert_array_equal(got, want)
    assert got[-len(extra):].tolist() == [1] * len(extra)


def test_date_columns_read_by_the_defaults_are_not_searched_further():
    today = pd.Timestamp("2026-11-30")
    iso = pd.Index(pd.date_range("1990-01-01", periods=400).strftime("%Y-%m-%d"),
                   dtype=object)
    assert C.detect_date_format(iso, _Codes(), "metastasectomy_date", today, "f.csv",
                                "op") == (None, None)
    # one value no default reads (day first, a day above 12): still detected
    eu = pd.Index(["25/01/1990", "03/02/1991"], dtype=object)
    fmt, note = C.detect_date_format(eu, _Codes(), "metastasectomy_date", today, "f.csv",
                                     "op")
    assert fmt == "%d/%m/%Y" and "dd/mm/yyyy" in note


@pytest.mark.parametrize("name", ["dfi_group", "leiomyosarcoma", "center", "dfi_months",
                                  "recurrence_date", "irlm_group"])
def test_absent_columns_are_all_missing_of_the_schema_dtype(name):
    p = pd.DataFrame(index=pd.RangeIndex(5))
    got = derive._col(p, name)
    fld = schema.PATIENTS[name]
    if fld.kind == "code":
        want = pd.Series(pd.Categorical([None] * 5, categories=list(fld.codes)))
    elif fld.kind == "bool":
        want = pd.Series(pd.array([pd.NA] * 5, dtype="boolean"))
    elif fld.kind in ("float", "int"):
        want = pd.Series(np.nan, index=p.index)
    elif fld.kind == "date":
        want = pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
    else:
        want = pd.Series([None] * 5, dtype=object)
    pd.testing.assert_series_equal(got, want)


def test_resection_ids_share_the_patients_text_objects(tmp_path):
    """One text object per id: the resections and counting-process tables hold the
    patients' own id objects (same texts), and an id no patient has keeps its own."""
    from metsurv.io import load_cohort

    (tmp_path / "p.csv").write_text(
        "patient_id,metastasectomy_date,last_followup_date,vital_status,resection_status\n"
        "A1,2001-01-01,2005-01-01,dead,R0\n B2 ,2002-02-02,2006-01-01,alive,R1\n",
        encoding="utf-8")
    (tmp_path / "r.csv").write_text(
        "patient_id,operation_date\nA1,2001-01-01\nB2,2002-02-02\nB2,2003-03-03\n"
        "ZZ,2003-01-01\n", encoding="utf-8")
    cohort = load_cohort(tmp_path / "p.csv", resections=tmp_path / "r.csv",
                         today="2026-11-30")
    ids = {v: v for v in cohort.patients["patient_id"]}
    for table in (cohort.resections, cohort.counting_process):
        for v in table["patient_id"]:
            assert v is ids[v]
    assert sorted(cohort.resections["patient_id"]) == ["A1", "B2", "B2"]


def test_freed_memory_is_returned_without_error():
    """On glibc Linux (this project's CI) malloc_trim is found and called; elsewhere the
    call is a no-op that says so (False)."""
    import platform

    from metsurv import _memory

    junk = [bytes(1000) for _ in range(20_000)]
    del junk
    released = _memory.return_freed_memory(collect=True)
    assert isinstance(released, bool)
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert (_memory._malloc_trim() is not None) == glibc
    if not glibc:
        assert released is False
