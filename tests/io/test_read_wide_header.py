"""Headers of any length (issue 10, item 3): the header line is read to its end, however
long, and only a header beyond a stated bound is refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from metsurv.errors import CohortError
from metsurv.io.read import read_table

DATA = Path(__file__).parent.parent / "data" / "io"


def _wide(n_cols: int, *, name_len: int = 14) -> list[str]:
    return ["patient_id"] + [f"v_{i:0{name_len}d}" for i in range(n_cols - 1)]


def test_wide_header_80k_handed_file_is_read():
    t = read_table(DATA / "wide_header_80k.csv")
    assert t.frame.shape == (2, 5003)
    assert list(t.frame.columns[:3]) == ["patient_id", "os_months", "os_event"]
    assert t.frame["patient_id"].tolist() == ["A1", "A2"]
    assert t.rows.tolist() == [2, 3]


@pytest.mark.parametrize("delim", [",", ";", "\t"])
def test_wide_header_longer_than_the_sniffed_head_any_delimiter(tmp_path, delim):
    cols = _wide(20_000)  # a header line of about 340 KB
    row = ["id1"] + [f"{i},5" if delim != "," else str(i) for i in range(len(cols) - 1)]
    p = tmp_path / "wide.csv"
    p.write_text(delim.join(cols) + "\n" + delim.join(row) + "\n", encoding="utf-8")
    t = read_table(p)
    assert t.delimiter == delim
    assert list(t.frame.columns) == cols
    assert t.frame.iloc[0, -1] == row[-1]


def test_wide_header_with_quoted_line_break_in_a_name(tmp_path):
    cols = _wide(8_000)
    cols[4000] = '"two\nlines, quoted"'
    p = tmp_path / "quoted.csv"
    p.write_bytes((",".join(cols) + "\r\n" + ",".join(["x"] * len(cols)) + "\r\n").encode())
    t = read_table(p)
    assert t.frame.shape == (1, 8_000)
    assert t.frame.columns[4000] == "two\nlines, quoted"
    assert t.frame.columns[-1] == cols[-1]


def test_wide_header_after_blank_lines_in_cp1252(tmp_path):
    cols = ["patient_id"] + [f"Größe_{i:06d}" for i in range(12_000)]
    p = tmp_path / "latin.csv"
    p.write_bytes(("\n\n" + ";".join(cols) + "\n" + ";".join(["1"] * len(cols)) + "\n")
                  .encode("cp1252"))
    t = read_table(p)
    assert t.frame.shape == (1, len(cols))
    assert t.frame.columns[-1] == cols[-1]


def test_wide_header_beyond_the_bound_is_refused_quickly(tmp_path, monkeypatch):
    monkeypatch.setenv("METSURV_MAX_HEADER_BYTES", str(1 << 20))
    p = tmp_path / "endless.csv"
    p.write_text(",".join(_wide(200_000)) + "\n1\n")  # 3.4 MB header
    start = time.monotonic()
    with pytest.raises(CohortError, match=r"endless\.csv: the header line is longer than 1 MiB"
                                          r".*METSURV_MAX_HEADER_BYTES"):
        read_table(p)
    assert time.monotonic() - start < 5


def test_wide_header_unclosed_quote_is_refused_at_the_bound(tmp_path, monkeypatch):
    monkeypatch.setenv("METSURV_MAX_HEADER_BYTES", str(1 << 18))
    p = tmp_path / "open_quote.csv"
    p.write_text('id,"name\n' + "a,b\n" * 200_000)
    with pytest.raises(CohortError, match="quote that is never closed"):
        read_table(p)


def test_wide_header_bound_setting_must_be_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("METSURV_MAX_HEADER_BYTES", "lots")
    p = tmp_path / "ok.csv"
    p.write_text("patient_id,x\n1,2\n")
    with pytest.raises(CohortError, match="METSURV_MAX_HEADER_BYTES must be a positive"):
        read_table(p)


def test_wide_header_after_more_blank_lines_than_the_sniffed_head(tmp_path):
    cols = _wide(6_000)
    p = tmp_path / "blank_first.csv"
    p.write_text("\n" * 100_000 + ",".join(cols) + "\n" + ",".join(["1"] * len(cols)) + "\n")
    t = read_table(p)
    assert t.frame.shape == (1, 6_000) and t.frame.columns[-1] == cols[-1]
