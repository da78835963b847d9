"""Small-cell suppression across the outputs of one report: a group's count is printed the
same way wherever it appears (Table 1, survival table, IRLM battery, KM legends, published
comparison), so no output's shown cell is another's hidden one; at-risk rows add up to the
all-patients row without giving a hidden count back; curves stop where fewer than k are at
risk. Oracle: a reader's attack (interval propagation over every sum the report shows, from
tests/report/test_suppression.py) on what the built report prints."""

from __future__ import annotations

import re
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report.suppression import Suppression, protect_cells
from tests.report.conftest import build_keeping_figures, write_config, write_small_group_cohort
from tests.report.printed import printed_frame
from tests.report.test_suppression import _recover

K = 11


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, dict, list]:
    """A 150-patient report of every default section with suppress_below: 11: 7 incomplete
    resections, 3 patients without a number of metastases, small histology groups."""
    root = tmp_path_factory.mktemp("across")
    write_small_group_cohort(root / "data", n=150, seed=11, missing=("n_metastases",
                                                                     slice(20, 22)))
    cfg = write_config(root, suppress_below=K, formats=["svg"],
                       factors=["complete_resection", "n_metastases_group", "histology_group",
                                "dfi_group", "nodal_status",
                                {"factor": "dfi_group", "subset": "complete_resection"}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, drawn = build_keeping_figures(cfg, root / "report")
    return out, drawn, [str(w.message) for w in caught]


def _csv(out: Path, name: str) -> pd.DataFrame:
    """Table ``name`` as printed (HTML, PDF, Word); tables/<name>.csv holds its numbers."""
    return printed_frame(out, name)


def _printed_counts(out: Path, drawn: dict) -> dict[tuple[str, str], dict[str, str]]:
    """{(factor title, level label): {output: printed n}} over every output that prints the
    count of a level of a factor among all patients."""
    seen: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    t1 = _csv(out, "table1")
    overall = t1.columns[2]
    title = None
    for _, r in t1.iloc[1:].iterrows():
        title = r["Characteristic"] or title
        if r["Level"] not in ("Missing", "median (IQR)"):
            seen[title, r["Level"]]["table1"] = re.sub(r" \(.*%\)$", "", r[overall])
    surv = _csv(out, "survival")
    title = None
    for _, r in surv.iterrows():
        title = r["Factor"] or title
        if "(" not in title:  # a subset's block counts another population
            seen[title, r["Group"]]["survival"] = r["n"]
    battery = _csv(out, "irlm_battery")
    title = None
    for _, r in battery.iterrows():
        title = r["Factor"] or title
        seen[title, r["Level"]]["battery"] = r["n"]
    for name, fig in drawn.items():
        if not name.startswith("km_") or name == "km_overall":
            continue
        factor = name[3:]
        title = T.FACTOR_TITLES.get(factor, factor)
        for text in (x.get_text() for x in fig.axes[0].get_legend().get_texts()):
            m = re.match(r"(.+?) \(n = ([^;)]+)", text)
            if m:
                seen[title, m.group(1)][f"figure {name}"] = m.group(2)
            elif "not shown" in text:
                seen[title, text.split(" (")[0]][f"figure {name}"] = "hidden"
    return seen


def test_no_output_counts_a_group_differently(report):
    out, drawn, caught = report
    assert not [w for w in caught if "suppression" in w], caught


def test_a_group_hidden_in_one_output_is_hidden_in_all(report):
    out, drawn, _ = report
    hidden = {f"<{K}", T.SECONDARY, "hidden"}
    clash = {}
    for key, texts in _printed_counts(out, drawn).items():
        kinds = {"hidden" if t in hidden else t for t in texts.values()}
        if len(kinds) > 1:
            clash[key] = texts
    assert not clash, clash
    # and the attack has something to find: the 7 incomplete resections are hidden
    seen = _printed_counts(out, drawn)
    assert seen["Completeness of resection", "Incomplete (R1/R2)"]["survival"] == f"<{K}"
    # Table 1 is not split by a factor with a group of 7: it would be a column of <11
    assert list(_csv(out, "table1").columns[2:]) == ["Overall (n = 150)"]
    assert "Not split by completeness of resection" in (out / "index.html").read_text()
    assert seen["Completeness of resection", "Complete (R0)"]["survival"] == T.SECONDARY


def test_the_union_of_outputs_recovers_no_hidden_count(report):
    """For each factor: every level's most revealing printed count, the missing count from
    Table 1, and the number analysed: nothing hidden is pinned."""
    out, drawn, _ = report
    t1 = _csv(out, "table1")
    n = int(re.search(r"n = ([\d,]+)", t1.columns[2]).group(1).replace(",", ""))
    seen = _printed_counts(out, drawn)
    missing = {}
    title = None
    for _, r in t1.iloc[1:].iterrows():
        title = r["Characteristic"] or title
        missing.setdefault(title, "0")  # a characteristic without a Missing row has none
        if r["Level"] == "Missing":
            missing[title] = r[t1.columns[2]]
    by_factor: dict[str, dict[str, str]] = defaultdict(dict)
    for (title, level), texts in seen.items():
        shown = [t for t in texts.values() if t.replace(",", "").isdigit()]
        by_factor[title][level] = shown[0] if shown else (
            f"<{K}" if f"<{K}" in texts.values() else T.SECONDARY)
    checked = 0
    for title, cells in by_factor.items():
        if title not in missing:
            continue
        cells = {**cells, "MISSING": re.sub(r" \(.*%\)$", "", missing[title]), "N": str(n)}
        eq = [[(c, 1) for c in cells if c != "N"] + [("N", -1)]]
        assert _recover(eq, cells, n) == {}, (title, cells)
        checked += 1
    assert checked >= 3


def _risk_rows(fig) -> list[list[str]]:
    """A KM figure's at-risk rows as printed: one list of texts per row, by tick."""
    ax = fig.axes[1]
    rows: dict[int, dict[float, str]] = defaultdict(dict)
    for t in ax.texts:
        x, y = t.get_position()
        if t.get_text() and t.get_text() != "Number at risk":
            rows[int(round(y))][round(float(x), 6)] = t.get_text()
    n_rows = len(ax.get_yticks())
    lo, hi = fig.axes[0].get_xlim()
    ticks = [round(float(x), 6) for x in fig.axes[0].get_xticks() if lo <= x <= hi]
    return [[rows.get(i, {}).get(x, "") for x in ticks] for i in range(n_rows)]


def test_at_risk_rows_add_up_without_giving_a_hidden_count_back(report):
    """Each factor's rows at a tick add up to the all-patients row (the cautious reading:
    plus the patients without a value, at most their count in Table 1); a blank row is a
    group not drawn (any count)."""
    out, drawn, _ = report
    overall = _risk_rows(drawn["km_overall"])[0]
    missing = _table1_missing(out)
    checked = 0
    for name, fig in drawn.items():
        if not name.startswith("km_") or name in ("km_overall",) or "dfi" in name:
            continue  # dfi_group is drawn on complete resections: another population
        rows = _risk_rows(fig)
        m = missing.get(T.FACTOR_TITLES[name[3:]], "0")
        bounds = {"": (0, 10**6), f"<{K}": (1, K - 1), F.AT_RISK_SECONDARY: (K, 10**6),
                  "missing": (0, K - 1 if m == f"<{K}" else int(m.replace(",", "")))}
        for j, total in enumerate(overall):
            if not total.replace(",", "").isdigit():
                continue
            cells = {f"r{i}": r[j] for i, r in enumerate(rows)}
            assert all(c in bounds or c.replace(",", "").isdigit() for c in cells.values())
            values = {c: v for c, v in cells.items()} | {"m": "missing"}
            eq = [[(c, 1) for c in values] + [("all", -1)]]
            got = _recover(eq, {**values, "all": total}, 10**6, known=bounds)
            assert got == {}, (name, j, cells, total)
            checked += 1
    # (the completeness-of-resection figure is not drawn here: no group of it can be)
    assert checked > 8


def _table1_missing(out: Path) -> dict[str, str]:
    """{characteristic: its Missing count as Table 1 prints it (Overall)}."""
    t1 = _csv(out, "table1")
    got, title = {}, None
    for _, r in t1.iloc[1:].iterrows():
        title = r["Characteristic"] or title
        if r["Level"] == "Missing":
            got[title] = r[t1.columns[2]]
    return got


def test_curves_stop_where_fewer_than_k_are_at_risk(report):
    """A step with fewer than k at risk is d/n of fewer than k: its size says n."""
    out, drawn, _ = report
    fig = drawn["km_overall"]
    line = [ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() != "None"][0]
    x_end = float(np.max(line.get_xdata()))
    rows = _risk_rows(fig)[0]
    lo, hi = fig.axes[0].get_xlim()
    ticks = [float(x) for x in fig.axes[0].get_xticks() if lo <= x <= hi]
    below = [x for x, text in zip(ticks, rows, strict=False) if text == f"<{K}"]
    assert below, rows  # the tail of 150 patients falls below 11 before the axis ends
    assert x_end <= below[0] + 1e-9


def test_cumulative_incidence_stops_where_fewer_than_k_are_at_risk(report):
    """The competing-risks curves stop, as the Kaplan-Meier curves do, at the first time
    fewer than k remain at risk on DFS: every drawn point lies before it, and without the
    cut the curves would run further (to the end of follow-up)."""
    out, drawn, _ = report
    fig = drawn["cif_recurrence"]
    dfs = pd.read_csv(out / "tables" / "cif_recurrence.csv")  # the section exists
    assert len(dfs)
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_linestyle() != "None"]
    assert lines
    x_end = max(float(np.max(ln.get_xdata())) for ln in lines)
    rows = _risk_rows(fig)[0]
    lo, hi = ax.get_xlim()
    ticks = [float(x) for x in ax.get_xticks() if lo <= x <= hi]
    below = [x for x, text in zip(ticks, rows, strict=False) if text in (f"<{K}", "0")]
    assert below, rows
    assert x_end <= below[0] + 1e-9, (x_end, below[0])


def test_survival_resting_on_fewer_than_k_is_not_printed(report):
    out, _, _ = report
    surv = _csv(out, "survival")
    # the all-patients row: 15-year survival of 150 patients rests on fewer than 11
    assert surv.iloc[0]["15-year % (95% CI)"] == ""


def test_partition_decides_once_and_flags_a_differing_count():
    s = Suppression(K)
    p = s.partition(("n", None, "g"), {"a": 3, "b": 40, "c": 60})
    assert (p.text("a"), p.text("b"), p.text("c")) == (f"<{K}", T.SECONDARY, "60")
    assert p.range_text("b") == "33\u201342"  # 103 - 60 - a, a in [1, 10]
    again = s.partition(("n", None, "g"), {"a": 3, "b": 41, "c": 60})
    assert s.conflicts == [("n", None, "g")]
    assert {again.text(x) for x in "abc"} == {f"<{K}", T.SECONDARY}
    with pytest.raises(ValueError, match="counted 4 here and 3"):
        p.text("a", 4)


def test_latent_cells_are_protected_too():
    """A count never printed (patients without a value) is still a group: pinned by the
    shown cells it must be hidden by a further cell."""
    values = {"a": 40, "b": 50, "missing": 2, "n": 92}
    eq = [[("a", 1), ("b", 1), ("missing", 1), ("n", -1)]]
    assert protect_cells(values, eq, K, latent=["missing"], public={"n"}) == {"a": "secondary"}
    assert protect_cells({**values, "missing": 0, "n": 90}, eq, K, latent=["missing"]) == {}


def test_the_attack_is_real_without_shared_complementary_suppression(tmp_path, monkeypatch):
    """With primary suppression only (no complement in partitions and at-risk rows), the
    same attacks give hidden counts back: the empty results above are earned."""
    import metsurv.report.suppression as S

    def primary_only(values, eqs, k, **kw):
        return {c: "primary" for c, n in values.items()
                if 0 < n < k and c not in kw.get("latent", ())}

    monkeypatch.setattr(S, "protect_cells", primary_only)
    monkeypatch.setattr(T, "protect_cells", primary_only)
    write_small_group_cohort(tmp_path / "data", n=150, seed=11)
    cfg = write_config(tmp_path, suppress_below=K, formats=["svg"], landmark_times=[],
                       factors=["resection_status"], table1={"by": "sex"}, benchmark=None,
                       cox={"covariates": ["resection_status"]})
    out, drawn = build_keeping_figures(cfg, tmp_path / "report")
    surv = _csv(out, "survival")
    block = surv.iloc[1:3]  # resection status: R0, R1 (no R2, nobody missing)
    cells = {"R0": block.iloc[0]["n"], "R1": block.iloc[1]["n"],
             "N": surv.iloc[0]["n"].replace(",", "")}
    assert _recover([[("R0", 1), ("R1", 1), ("N", -1)]], cells, 150) == {"R1": 7}, cells


@pytest.fixture(scope="module")
def nested_report(tmp_path_factory) -> tuple[Path, dict, list]:
    """80 patients: 4 melanomas among epithelial and sarcoma (LMS and other sarcoma), 7
    incomplete resections and 12 without a resection status; factors drawn under two names (completeness of resection and
    resection status) and nested ones (histology; sarcoma subtype)."""
    root = tmp_path_factory.mktemp("nested")
    write_small_group_cohort(root / "data", n=80, seed=23)
    p_path = root / "data" / "patients.csv"
    df = pd.read_csv(p_path, dtype=str)
    hist = np.array(["adenocarcinoma"] * 40 + ["leiomyosarcoma"] * 17
                    + ["osteosarcoma"] * 19 + ["melanoma"] * 4)
    df["histology"] = np.random.default_rng(4).permutation(hist)
    df.loc[60:71, "resection_status"] = None  # 12 not recorded: R0 is drawn
    df.to_csv(p_path, index=False)
    res = pd.read_csv(root / "data" / "resections.csv", dtype=str)
    res.loc[res["patient_id"].isin(df["patient_id"][60:72]), "resection_status"] = None
    res.to_csv(root / "data" / "resections.csv", index=False)
    cfg = write_config(root, suppress_below=K, formats=["svg"], landmark_times=[],
                       factors=["complete_resection", "resection_status", "histology_group",
                                "leiomyosarcoma"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, drawn = build_keeping_figures(cfg, root / "report")
    return out, drawn, [str(w.message) for w in caught]


def _events(out: Path) -> dict[tuple[str, str], set[str]]:
    """{(factor title, level): printed events} from the survival table and the battery."""
    got: dict[tuple[str, str], set[str]] = defaultdict(set)
    for name, level_col in (("survival", "Group"), ("irlm_battery", "Level")):
        t = _csv(out, name)
        title = None
        for _, r in t.iterrows():
            title = r["Factor"] or title
            got[title, r[level_col]].add(r["Events"])
    return got


def test_nested_factors_do_not_give_a_hidden_group_back(nested_report):
    """Sarcoma subtypes add up to sarcoma, histology levels to everyone: the melanoma
    deaths are not total - epithelial - (LMS + other sarcoma)."""
    out, drawn, caught = nested_report
    assert not [w for w in caught if "suppression" in w], caught
    ev = _events(out)
    assert len(ev["Histology", "Melanoma"]) == 1
    total = int(_csv(out, "survival").iloc[0]["Events"].replace(",", ""))
    cells = {"epi": ev["Histology", "Epithelial"], "sar": ev["Histology", "Sarcoma"],
             "mel": ev["Histology", "Melanoma"],
             "lms": ev["Sarcoma subtype", "Leiomyosarcoma"],
             "oth": ev["Sarcoma subtype", "Other sarcoma"]}
    for key, texts in cells.items():
        assert len(texts) == 1, (key, texts)  # printed alike in both tables
    cells = {c: t.pop() for c, t in cells.items()} | {"all": str(total)}
    eqs = [[("epi", 1), ("sar", 1), ("mel", 1), ("all", -1)],
           [("lms", 1), ("oth", 1), ("sar", -1)]]
    assert cells["mel"] == f"<{K}"
    assert _recover(eqs, cells, total) == {}
    # and Table 1 does not show the sarcoma subtypes' sum beside a hidden sarcoma count
    t1 = _csv(out, "table1")
    col = t1.columns[2]
    rows = dict(zip(t1["Level"], t1[col], strict=False))
    n = int(re.search(r"n = (\d+)", col).group(1))
    t1_cells = {c: re.sub(r" \(.*%\)$", "", rows[x]) for c, x in
                (("epi", "Epithelial"), ("sar", "Sarcoma"), ("mel", "Melanoma"),
                 ("lms", "Leiomyosarcoma"), ("oth", "Other sarcoma"))} | {"all": str(n)}
    assert _recover(eqs, t1_cells, n) == {}, t1_cells


def test_one_group_drawn_under_two_names_has_one_at_risk_row(nested_report):
    """Complete resection is R0: its at-risk counts print alike in both figures, and
    neither figure's rows give the incomplete resections back against the overall row."""
    out, drawn, _ = nested_report
    complete = _risk_rows(drawn["km_complete_resection"])
    status = _risk_rows(drawn["km_resection_status"])
    legend = [t.get_text() for t in drawn["km_resection_status"].axes[0].get_legend().get_texts()]
    r0 = next(i for i, x in enumerate(legend) if x.startswith("R0"))
    # drawn in both (R0 is shown: the 12 without a status hide the incomplete ones),
    # printed alike
    assert complete[0] == status[r0] and complete[0][0] == "61", (complete[0], status[r0])
    overall = _risk_rows(drawn["km_overall"])[0]
    # the 12 without a status are at risk in the overall row only: 0..12 of them
    bounds = {"": (0, 10**6), f"<{K}": (1, K - 1), F.AT_RISK_SECONDARY: (K, 10**6),
              "0..12": (0, 12)}
    for rows in (complete, status):
        for j, total in enumerate(overall):
            if total.replace(",", "").isdigit():
                cells = ({f"r{i}": r[j] for i, r in enumerate(rows)}
                         | {"missing": "0..12", "all": total})
                eq = [[(c, 1) for c in cells if c != "all"] + [("all", -1)]]
                assert _recover(eq, cells, 10**6, known=bounds) == {}, (j, cells)


def _num(text: str) -> int | None:
    return int(text.replace(",", "")) if text.replace(",", "").isdigit() else None


def test_a_subset_panel_minus_the_whole_cohort_gives_no_small_group(report):
    """DFI groups overall (Table 1, battery) minus DFI groups among complete resections
    (the subset panel) are DFI groups among the others, printed nowhere: never 1..k-1."""
    out, _, _ = report
    surv = _csv(out, "survival")
    starts = surv.index[surv["Factor"] != ""].tolist() + [len(surv)]
    blocks = {surv.loc[a, "Factor"]: surv.iloc[a:b]
              for a, b in zip(starts[:-1], starts[1:], strict=True)}
    subset = blocks["Disease-free interval (DFI) group (complete resections)"]
    whole = blocks["Disease-free interval (DFI) group"]
    checked = 0
    for col in ("n", "Events"):
        for (_, s), (_, w) in zip(subset.iterrows(), whole.iterrows(), strict=True):
            a, b = _num(w[col]), _num(s[col])
            if a is not None and b is not None:
                assert not 0 < a - b < K, (col, w["Group"], a, b)
                checked += 1
    assert subset["n"].isin([f"<{K}", T.SECONDARY]).any() or checked


def test_the_published_comparison_prints_a_group_as_every_output_does(report):
    """A published row of complete resections (subset: complete resection; level:
    complete) is the complete-resection group: printed as the survival table prints it."""
    out, _, _ = report
    comp = _csv(out, "published_comparison")
    surv = _csv(out, "survival")
    complete = surv.loc[surv["Group"] == "Complete (R0)", "n"].iloc[0]
    rows = comp[(comp["Factor"] == "Completeness of resection")
                & (comp["Level"] == "Complete (R0)")]
    assert len(rows) and set(rows["Cohort n"]) == {complete}, (rows["Cohort n"], complete)
