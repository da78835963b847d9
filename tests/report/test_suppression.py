"""Small-cell suppression that holds: no count below k can be recovered from what a report
shows (percentages times shown denominators, totals minus shown cells, legends, at-risk
rows, curves). Unit tests per rule, and one attack on a whole built report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.report import figures as F
from metsurv.report import tables as T
from tests.report.conftest import build_keeping_figures, write_config, write_small_group_cohort
from tests.report.printed import printed_frame

K = 11
HIDDEN = (f"<{K}", T.SECONDARY)


# ---------------------------------------------------------------------------------------
# a reader's attack on a printed table


def _count(cell: str) -> int | None:
    m = re.fullmatch(r"([\d,]+)(?: \(([\d.]+)%\))?", cell.strip())
    return None if m is None else int(m.group(1).replace(",", ""))


def _pct(cell: str) -> tuple[int, float] | None:
    m = re.fullmatch(r"([\d,]+) \(([\d.]+)%\)", cell.strip())
    return None if m is None else (int(m.group(1).replace(",", "")), float(m.group(2)))


def _denominators(n: int, p: float, top: int) -> set[int]:
    """Every denominator d a printed "n (p%)" allows (one decimal)."""
    return {d for d in range(max(n, 1), top + 1) if f"{100 * n / d:.1f}" == f"{p:.1f}"}


def _bounds(cell: str, top: int) -> tuple[int, int]:
    """What a reader knows of a printed count: exact, <k, or "suppressed" (not below k:
    it would read <k; not 0: zero is shown)."""
    if cell == f"<{K}":
        return 1, K - 1
    if cell == T.SECONDARY:
        return K, top
    n = _count(cell)
    assert n is not None, cell
    return n, n


def _recover(equations: list[list[tuple[str, int]]], cells: dict[str, str],
             top: int, known: dict[str, tuple[int, int]] | None = None) -> dict[str, int]:
    """Interval propagation over the visible sums (each equation: signed cells add to 0,
    the cells named by key in ``cells``); returns the hidden cells pinned to a value below
    k. ``known``: what a reader knows of other printed texts (an at-risk "*", a blank row:
    any count), as (low, high)."""
    known = known or {}
    lo, hi = {}, {}
    for key, text in cells.items():
        lo[key], hi[key] = known[text] if text in known else _bounds(text, top)
    for _ in range(100):
        moved = False
        for eq in equations:
            for key, s in eq:
                rest_lo = sum(s2 * (lo[c] if s2 > 0 else hi[c]) for c, s2 in eq if c != key)
                rest_hi = sum(s2 * (hi[c] if s2 > 0 else lo[c]) for c, s2 in eq if c != key)
                a, b = (-rest_hi, -rest_lo) if s > 0 else (rest_lo, rest_hi)
                if a > lo[key]:
                    lo[key], moved = a, True
                if b < hi[key]:
                    hi[key], moved = b, True
        if not moved:
            break
    assert all(lo[c] <= hi[c] for c in cells), "the attack's equations contradict the table"
    # a count below k pinned discloses; a "suppressed" cell (k or more) pinned does not
    return {key: lo[key] for key, text in cells.items()
            if (text in HIDDEN or text in known) and lo[key] == hi[key] and 0 < lo[key] < K}


def _attack_table1(t: pd.DataFrame) -> dict[str, int]:
    """Every hidden count of a printed Table 1 that its totals, percentages and headers
    give back (Overall = sum of the groups: no patient lacks the ``by`` value here)."""
    cols = list(t.columns[2:])
    cells: dict[str, str] = {}
    eqs: list[list[tuple[str, int]]] = []
    top = max(_count(x) or 0 for x in t.iloc[0, 2:])
    header = t.iloc[0]
    for c in cols:
        cells[f"N|{c}"] = header[c]
    if len(cols) > 1:
        eqs.append([(f"N|{cols[0]}", 1)] + [(f"N|{c}", -1) for c in cols[1:]])
    var, block = None, []
    blocks = []
    for i in range(1, len(t)):
        if t.iloc[i, 0]:
            var = t.iloc[i, 0]
            block = []
            blocks.append((var, block))
        if t.iloc[i, 1] != "median (IQR)":
            block.append(i)
    for var, rows in blocks:
        if len(rows) < 2:  # a number: only its missing count is printed
            continue
        for c in cols:
            keys = [f"{var}|{t.iloc[i, 1]}|{c}" for i in rows]
            for key, i in zip(keys, rows, strict=True):
                cells[key] = t.iloc[i][c]
            eqs.append([(key, 1) for key in keys] + [(f"N|{c}", -1)])
            # percentages give the count with a value, so the missing count and any
            # single hidden level: try every denominator they allow (a variable without a
            # Missing row has none missing)
            valued = [i for i in rows if not str(t.iloc[i, 1]).startswith("Missing")]
            ds = None
            for i in valued:
                got = _pct(t.iloc[i][c])
                if got:
                    d = _denominators(*got, top)
                    ds = d if ds is None else ds & d
            if ds is not None and len(ds) == 1:
                d = ds.pop()
                cells[f"{var}|d|{c}"] = str(d)
                eqs.append([(f"{var}|{t.iloc[i, 1]}|{c}", 1) for i in valued]
                           + [(f"{var}|d|{c}", -1)])
        for i in rows if len(cols) > 1 else ():
            level = t.iloc[i, 1]
            eqs.append([(f"{var}|{level}|{cols[0]}", 1)]
                       + [(f"{var}|{level}|{c}", -1) for c in cols[1:]])
    return _recover(eqs, cells, top)


# ---------------------------------------------------------------------------------------
# rule 1: Table 1


def _cohort(n_small_group: int = 7, n_missing: int = 2, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    sex = pd.Categorical(rng.choice(["female", "male"], n), categories=["female", "male"])
    sex[:n_missing] = np.nan
    status = np.array([False] * n_small_group + [True] * (n - n_small_group))
    return pd.DataFrame({
        "sex": sex,
        "age_at_metastasectomy": rng.normal(55, 10, n).round(1),
        "laterality": pd.Categorical(rng.choice(["unilateral", "bilateral"], n, p=[.8, .2]),
                                     categories=["unilateral", "bilateral"]),
        "complete_resection": pd.array(status, dtype="boolean"),
    })


def test_table1_hides_the_percentages_that_give_a_missing_count_back():
    """50 (86.2%) of a shown 60 says 58 have a value, so 2 are missing."""
    t = T.table1(_cohort(n_small_group=0), suppress_below=K)
    sex = t[t["Characteristic"].eq("Sex").cumsum().astype(bool)].head(3)
    overall = sex.iloc[:, 2].tolist()
    assert overall[2] == f"<{K}"
    assert not any("%" in x for x in overall), overall
    assert _attack_table1(t) == {}


def test_table1_complementary_suppression_hides_a_second_cell():
    """One hidden cell in a column would be its total minus the shown ones."""
    t = T.table1(_cohort(n_small_group=0), suppress_below=K)
    sex = t[t["Characteristic"].eq("Sex").cumsum().astype(bool)].head(3).iloc[:, 2].tolist()
    assert sum(x in HIDDEN for x in sex) >= 2 and T.SECONDARY in sex


def test_table1_group_of_fewer_than_k_cannot_be_derived_from_overall():
    t = T.table1(_cohort(), by="complete_resection", suppress_below=K)
    assert t.columns[-1].endswith(f"(n = <{K})")
    assert _attack_table1(t) == {}


def test_table1_median_of_fewer_than_k_values_is_not_shown():
    t = T.table1(_cohort(), by="complete_resection", suppress_below=K)
    age = t[t["Level"] == "median (IQR)"].iloc[0]
    assert age.iloc[-1] == "" and age.iloc[2] != ""


def test_the_attack_recovers_cells_that_only_primary_suppression_hides(monkeypatch):
    """The attack is real: without complementary suppression it gives the group of 7 and
    the 2 missing back (so an empty result below means the rules hold)."""
    monkeypatch.setattr(T, "protect_cells", lambda values, eqs, k, **kw: {
        c: "primary" for c, n in values.items() if 0 < n < k})
    got = _attack_table1(T.table1(_cohort(), by="complete_resection", suppress_below=K))
    assert got["N|Incomplete (R1/R2) (n = <11)"] == 7
    assert got["Sex|Missing|Overall (n = 60)"] == 2


def test_protect_cells_pins_nothing_it_shows_and_stops():
    values = {"a": 1, "b": 1, "n": 2}  # two cells of 1 under a total of 2: both pinned
    hidden = T.protect_cells(values, [[("a", 1), ("b", 1), ("n", -1)]], K)
    assert hidden == {"a": "primary", "b": "primary", "n": "primary"}
    assert T.protect_cells({"a": 20, "b": 30}, [[("a", 1), ("b", 1)]], K) == {}
    assert T.protect_cells({"a": 3}, [[("a", 1)]], 0) == {}


# ---------------------------------------------------------------------------------------
# rule 2: curves, legends, at-risk rows


def _panel(sizes: dict[str, int]) -> F.KMPanel:
    from metsurv.stats import km

    rng = np.random.default_rng(2)
    frames = [pd.DataFrame({"g": g, "os_months": rng.exponential(60, n).round(1),
                            "os_event": rng.uniform(size=n) < 0.7})
              for g, n in sizes.items()]
    df = pd.concat(frames, ignore_index=True)
    fit = km(df, by="g", time="os_months", event="os_event", times=[60.0])
    return F.panel_from_km(fit, at_risk_times=[12.0 * x for x in F.time_ticks(15)],
                           labels={g: g for g in sizes})


def test_km_group_of_fewer_than_k_is_not_drawn_and_says_so():
    fig = F.km_figure(_panel({"big": 40, "small": 7}), suppress_below=K)
    ax, risk_ax = fig.axes[0], fig.axes[1]
    drawn = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
    assert len(drawn) == 1  # only "big": steps of 1/7 would say 7
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"small ({F.too_few_text(K)})" in legend
    assert not [x for x in legend if "small" in x and "n =" in x]
    small_row = [t.get_text() for t in risk_ax.texts
                 if t.get_text() and t.get_color() == F.style.colour(1)]
    assert small_row == []


def test_at_risk_counts_below_k_print_as_less_than_k():
    fig = F.km_figure(_panel({"big": 40}), suppress_below=K)
    shown = {t.get_text() for t in fig.axes[1].texts}
    assert not any(s.isdigit() and 0 < int(s) < K for s in shown)


# ---------------------------------------------------------------------------------------
# the whole report


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> tuple[Path, dict]:
    """A 90-patient report with suppress_below: 11, an incomplete-resection group of 7
    and 2 patients without a sex."""
    root = tmp_path_factory.mktemp("suppression")
    write_small_group_cohort(root / "data", n=90, seed=5, missing=("sex", slice(10, 11)))
    cfg = write_config(root, suppress_below=K, factors=["complete_resection"],
                       cox={"covariates": ["complete_resection"]}, landmark_times=[],
                       benchmark=None, formats=["svg"])
    return build_keeping_figures(cfg, root / "report")


def test_suppressed_cells_cannot_be_recovered(small_report):
    out, drawn = small_report
    # Table 1 as printed (HTML, PDF, Word): totals, percentages, headers
    t1 = printed_frame(out, "table1")
    assert len(t1.columns) == 3  # not split by completeness: a group of 7
    sex = t1[t1["Characteristic"].eq("Sex").cumsum().astype(bool)].head(3)
    assert sex.iloc[2, 1] == "Missing" and sex.iloc[2, 2] == f"<{K}"  # the 2 without a sex
    assert t1.columns[2] == "Overall (n = 90)"
    assert _attack_table1(t1) == {}
    # the survival table: groups add up to the factor's patients
    surv = printed_frame(out, "survival")  # its CSV holds numbers: hidden counts empty
    assert pd.read_csv(out / "tables" / "survival.csv")["n"].iloc[1:3].isna().any()
    block = surv[surv["Factor"].eq("Completeness of resection").cumsum().astype(bool)]
    block = block.head(2)
    total = int(surv.iloc[0]["n"].replace(",", ""))
    for col in ("n", "Events"):
        cells = {f"g{i}": v for i, v in enumerate(block[col])}
        all_row = surv.iloc[0][col]
        cells["all"] = all_row
        eq = [[(k, 1) for k in cells if k != "all"] + [("all", -1)]]
        assert _recover(eq, cells, total) == {}, (col, cells)
    # figures: the group of 7 cannot be drawn, nor the 83 complete resections (90 analysed
    # - 83 would say 7): a figure of no curve says nothing, so the line saying why stands
    # in its place, in the report and its provenance
    assert "km_complete_resection" not in drawn
    entry = next(e for e in json.loads((out / "provenance.json").read_text())["sections"]
                 if e["id"] == "km_complete_resection")
    assert entry["shown"] is False and "small-cell suppression" in entry["reason"]
    assert "no group of completeness of resection can be drawn" in (
        out / "index.html").read_text()
    for name, f in drawn.items():
        for ax in f.axes:
            texts = [x.get_text() for x in ax.texts]
            if ax.get_legend() is not None:
                texts += [x.get_text() for x in ax.get_legend().get_texts()]
            for x in texts:
                counts = re.findall(r"\bn = ([\d,]+)", x) + ([x] if x.strip().isdigit() else [])
                assert not [c for c in counts if 0 < int(c.replace(",", "")) < K], (name, x)
    # the flow: read minus analysed does not give an excluded count back
    flow = pd.read_csv(out / "tables" / "flow.csv", dtype=str, keep_default_na=False)
    for _, r in flow.iterrows():
        assert not (r["n"].isdigit() and 0 < int(r["n"]) < K), r.to_dict()
    # and the HTML prints no percentage beside a suppressed Table 1 cell's variable
    html = (out / "index.html").read_text()
    assert f"&lt;{K}" in html
