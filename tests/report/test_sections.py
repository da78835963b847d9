"""What a report says, checked on ``compose(cfg, analyse(cfg, cohort))`` without drawing or
writing a file (issue 11): one p-value per factor in caption, survival table and IRLM
battery; one n per group in legend and table; every section shown or saying why; Methods
naming only what was shown; compose deterministic and leaving the analysis alone; one
printed count per group under small-cell suppression.

Each cohort is analysed once (module-scoped fixtures); the tests read its sections."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from metsurv.format import format_p
from metsurv.report.analysis import PH_ALPHA, analyse
from metsurv.report.build import load_study
from metsurv.report.config import load_config
from metsurv.report.document import Figure, Table, figures_of, item_named, section_entries
from metsurv.report.figures import curve_drawn
from metsurv.report.sections import compose
from metsurv.report.sections._common import factor_title
from metsurv.report.tables import FACTOR_TITLES, level_label, suppress_count
from tests.report.conftest import rewrite_outcome, write_cohort, write_config

K = 5  # suppress_below of the suppressed cohort


def _analysed(config: Path) -> SimpleNamespace:
    """The study of ``config`` loaded and analysed as build() does it, a deep copy of the
    analysis's frames taken before anything composes it, and its sections."""
    cfg = load_config(config)
    analysis = analyse(cfg, load_study(cfg))
    before = copy.deepcopy(_frames_of(analysis))
    return SimpleNamespace(cfg=cfg, analysis=analysis, before=before,
                           sections=compose(cfg, analysis))


def _frames_of(analysis) -> dict[str, pd.DataFrame]:
    """The analysis's frames a section could change in place."""
    out = {"patients": analysis.patients, "battery.factors": analysis.battery.factors,
           "battery.levels": analysis.battery.levels,
           "published.figures": analysis.published.figures,
           "published.cohort_rows": analysis.published.cohort_rows}
    for f in analysis.factors:
        if f.data is not None:
            out[f"factor {f.spec.slug}"] = f.data
    if analysis.cox is not None and analysis.cox.ph is not None:
        out["cox.ph"] = analysis.cox.ph
    if analysis.competing is not None and analysis.competing.at is not None:
        out["competing.at"] = analysis.competing.at
        out["competing.table"] = analysis.competing.result.table
    return out


@pytest.fixture(scope="module")
def main(small_study: Path) -> SimpleNamespace:
    """The session's small study (300 patients, resections, recurrences, a subset factor,
    Cox, landmark at 24 months, IRLM 1997 benchmark)."""
    return _analysed(small_study)


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> SimpleNamespace:
    """No recurrence data and no resections table; the effect of an incomplete resection
    all in the first 8 months (cox.zph rejects proportional hazards for it)."""
    root = tmp_path_factory.mktemp("bare")
    p, _ = write_cohort(root / "data", n=300, seed=3)
    rewrite_outcome(p, proportional=False, drop=("recurrence_date", "recurrence_site"))
    cfg = write_config(root, data={"source": "data/patients.csv"}, landmark_times=[24],
                       factors=["complete_resection", "nodal_status"],
                       cox={"covariates": ["complete_resection", "n_metastases_group"]})
    return _analysed(cfg)


@pytest.fixture(scope="module")
def suppressed(tmp_path_factory) -> SimpleNamespace:
    """``suppress_below: 5``: a nodal level (N2) of 3 patients, 2 patients without a Cox
    covariate (conftest's suppressed_study, not built)."""
    root = tmp_path_factory.mktemp("suppressed_sections")
    p, _ = write_cohort(root / "data", n=200, seed=3)
    df = pd.read_csv(p, dtype=str)
    df["nodal_status"] = df["nodal_status"].replace("N2", "N1")
    df.loc[10:12, "nodal_status"] = "N2"
    df.loc[20:21, "n_metastases"] = None
    df.to_csv(p, index=False)
    cfg = write_config(root, suppress_below=K,
                       factors=["nodal_status", "complete_resection",
                                {"factor": "dfi_group", "subset": "complete_resection"}],
                       cox={"covariates": ["complete_resection", "n_metastases_group"]})
    return _analysed(cfg)


STUDIES = ("main", "bare", "suppressed")


@pytest.fixture(params=STUDIES)
def study(request) -> SimpleNamespace:
    return request.getfixturevalue(request.param)


def _factor_rows(table: pd.DataFrame, title: str) -> pd.DataFrame:
    """The rows of the survival table's block for the factor titled ``title``."""
    starts = np.flatnonzero(table["Factor"].to_numpy() == title)
    assert len(starts) == 1, (title, list(table["Factor"]))
    ends = np.flatnonzero((table["Factor"].to_numpy() != "")
                          & (np.arange(len(table)) > starts[0]))
    return table.iloc[starts[0]:ends[0] if len(ends) else len(table)]


def _factor_figures(s: SimpleNamespace) -> list[tuple]:
    """(factor analysis, its figure) for every factor with a Kaplan-Meier figure."""
    out = [(f, item_named(s.sections, f"km_{f.spec.slug}")) for f in s.analysis.factors
           if not f.reason]
    assert out and all(isinstance(fig, Figure) for _, fig in out)
    return out


# ---------------------------------------------------------------------------------------
# one p-value per factor


def test_every_factor_quotes_one_log_rank_p_in_caption_survival_table_and_battery(study):
    """The battery's p (of the factor's subset for a subset panel) is the p of the panel,
    its caption, the survival table's cell and, for the whole cohort, the IRLM battery
    table's row."""
    survival = item_named(study.sections, "survival").frame
    battery_table = item_named(study.sections, "irlm_battery").frame
    checked = 0
    for factor, fig in _factor_figures(study):
        spec = factor.spec
        rows = study.analysis.batteries[spec.subset].factors
        row = rows[rows["factor"] == spec.factor]
        if not len(row):  # not a battery factor: log-rank over all levels, not checked here
            continue
        p = float(row["logrank_p"].iloc[0])
        trend = row["trend_p"].iloc[0]
        panel = fig.args["panel"]
        assert panel.p_logrank == pytest.approx(p), fig.name
        assert f" Log-rank {format_p(p)}" in fig.caption, fig.name
        block = _factor_rows(survival, factor_title(spec))
        assert block["Log-rank p"].iloc[0] == format_p(p, label=False), fig.name
        want_trend = format_p(trend, label=False) if np.isfinite(trend) else ""
        assert block["Trend p"].iloc[0] == want_trend, fig.name
        if np.isfinite(trend):
            assert f"test for trend {format_p(trend)}." in fig.caption, fig.name
        if spec.subset is None:
            mine = battery_table[battery_table["Factor"] == FACTOR_TITLES[spec.factor]]
            assert len(mine) == 1, fig.name
            assert mine["Log-rank p"].iloc[0] == format_p(p, label=False), fig.name
            if np.isfinite(trend):
                assert mine["Trend p"].iloc[0] == format_p(trend, label=False), fig.name
        checked += 1
    assert checked >= 2


def test_a_subset_panel_quotes_the_battery_of_its_subset_not_of_the_cohort(main):
    """DFI among complete resections: the whole cohort's battery p is another number."""
    fig = item_named(main.sections, "km_dfi_group__complete_resection")
    sub = main.analysis.batteries["complete_resection"].factors.set_index("factor")
    whole = main.analysis.battery.factors.set_index("factor")
    p_sub, p_whole = sub.loc["dfi_group", "logrank_p"], whole.loc["dfi_group", "logrank_p"]
    assert format_p(p_sub) != format_p(p_whole)
    assert f"Log-rank {format_p(p_sub)}" in fig.caption
    assert f"Log-rank {format_p(p_whole)}" not in fig.caption


# ---------------------------------------------------------------------------------------
# one n per group


def test_km_panel_n_equals_the_survival_table_n(study):
    """Each curve's n as the legend prints it (or, for a group the report hides, not drawn
    and hidden in the table too) is the survival table's n of that group."""
    survival = item_named(study.sections, "survival").frame
    k = study.cfg.suppress_below
    overall = item_named(study.sections, "km_overall").args["panel"]
    everyone = _factor_rows(survival, "All patients")
    assert [suppress_count(c.n, k) for c in overall.curves] == list(everyone["n"])
    for factor, fig in _factor_figures(study):
        panel = fig.args["panel"]
        block = _factor_rows(survival, factor_title(factor.spec)).set_index("Group")
        assert [c.label for c in panel.curves] == list(block.index), fig.name
        sizes = factor.data[factor.spec.factor].astype(object).value_counts()
        for c in panel.curves:
            assert c.n == int(sizes[c.level]), (fig.name, c.label)
            printed = block.loc[c.label, "n"]
            if curve_drawn(c, k):
                assert printed == suppress_count(c.n, k), (fig.name, c.label)
            else:
                assert printed in (f"<{k}", "suppressed"), (fig.name, c.label, printed)


def test_drawn_legends_print_the_survival_table_n(suppressed):
    """The drawn legend itself (suppressed study: a group of 3 not drawn)."""
    survival = item_named(suppressed.sections, "survival").frame
    hidden = 0
    for factor, fig in _factor_figures(suppressed):
        block = _factor_rows(survival, factor_title(factor.spec)).set_index("Group")
        drawn = fig.draw()
        texts = [t.get_text() for t in drawn.axes[0].get_legend().get_texts()]
        plt.close(drawn)
        for label, n in block["n"].items():
            mine = [t for t in texts if t.startswith(f"{label} (")]
            assert len(mine) == 1, (fig.name, label, texts)
            if n.replace(",", "").isdigit():
                assert mine[0].startswith(f"{label} (n = {n}"), (fig.name, mine[0])
            else:
                assert "n = " not in mine[0], (fig.name, mine[0])
                hidden += 1
    assert hidden  # N2 (3 patients) at least


# ---------------------------------------------------------------------------------------
# sections shown or saying why


@pytest.mark.parametrize("name, absent", [
    ("main", {"compare"}), ("bare", {"competing", "landmark", "compare", "hazard"}),
    ("suppressed", {"compare"})])  # no config asks for a treatment comparison
def test_every_section_is_shown_or_says_why(request, name, absent):
    s = request.getfixturevalue(name)
    entries = section_entries(s.sections)
    ids = [e["id"] for e in entries]
    assert len(ids) == len(set(ids))
    assert {"cohort", "survival", "cox", "irlm", "published", "methods"} <= set(ids)
    for e in entries:
        assert e["shown"] is (e["reason"] is None), e
        assert e["shown"] or e["reason"].strip(), e
    assert {e["id"] for e in entries if not e["shown"]} == absent
    for sec in s.sections:  # a section not shown has nothing in it
        assert bool(sec.reason) is (sec.id in absent), sec.id
        if sec.reason:
            assert not sec.items, sec.id


def test_competing_risks_absent_with_its_reason_without_recurrence_data(bare):
    assert bare.cfg.competing_risks  # asked for: absent because of the data
    sec = next(s for s in bare.sections if s.id == "competing")
    # the loader derives first events (all "death or censored" here): no recurrence recorded
    assert sec.reason.startswith("no recurrence is recorded"), sec.reason
    assert "recurrence cannot be set against death" in sec.reason
    assert not [f for f in figures_of(bare.sections) if f.kind == "cif"]
    with pytest.raises(KeyError):
        item_named(bare.sections, "cif_recurrence")


def test_landmark_absent_with_its_reason_without_a_resections_table(bare, main):
    assert list(bare.cfg.landmark_times) == [24]  # asked for: absent because of the data
    sec = next(s for s in bare.sections if s.id == "landmark")
    assert "no resections table" in sec.reason
    assert not [i for s in bare.sections for i in s.items if i.name.startswith("landmark")]
    # with one: shown, a figure per landmark
    assert isinstance(item_named(main.sections, "landmark_24m"), Figure)


# ---------------------------------------------------------------------------------------
# Cox


def test_cox_ph_check_column_agrees_with_the_cox_ph_test_table(study):
    cox = item_named(study.sections, "cox").frame
    ph_tab = item_named(study.sections, "cox_ph_test").frame.set_index("Term")
    zph = study.analysis.cox.ph.set_index("term")["p"]
    covariates = study.analysis.cox.covariates
    seen = set()
    for term, cell in zip(cox["Term"], cox["PH check p (cox.zph)"], strict=True):
        cov = [c for c in covariates if term == FACTOR_TITLES.get(c, c)
               or term.startswith(f"{FACTOR_TITLES.get(c, c)}:")]
        assert len(cov) == 1, term
        title = FACTOR_TITLES.get(cov[0], cov[0])
        p = zph[cov[0]]
        assert ph_tab.loc[title, "p"] == format_p(p, label=False), term
        want = ph_tab.loc[title, "p"] + (" (not proportional)" if p < PH_ALPHA else "")
        assert cell == want, term
        seen.add(cov[0])
    assert seen == set(covariates)


def test_rejected_proportional_hazards_are_said_beside_the_hr(bare, main):
    cox = item_named(bare.sections, "cox").frame
    marks = dict(zip(cox["Term"], cox["PH check p (cox.zph)"], strict=True))
    assert [t for t, m in marks.items() if m.endswith("(not proportional)")] == [
        t for t in marks if t.startswith("Completeness of resection")]
    assert isinstance(item_named(bare.sections, "ph_complete_resection"), Figure)
    assert isinstance(item_named(bare.sections, "ph_rmst_complete_resection"), Table)
    main_cox = item_named(main.sections, "cox").frame
    assert not main_cox["PH check p (cox.zph)"].str.contains("not proportional").any()


def test_the_two_multivariable_models_are_named_with_n_and_events(main):
    """The Cox section's model (config cox.covariates) and the battery's (its own factors,
    sparse levels left out) differ: each table header and caption says which is which
    (moved from test_build: it read cox.csv, irlm_battery.csv and index.html)."""
    from metsurv.stats import cox
    from metsurv.stats.irlm import irlm_comparisons

    cohort = main.analysis.cohort
    battery = irlm_comparisons(cohort)
    study = cox(cohort.patients, ["complete_resection", "dfi_group", "n_metastases_group"])
    assert set(battery.multivariable_factors) > {"complete_resection", "dfi_group",
                                                 "n_metastases_group"}
    cox_head = ",".join(item_named(main.sections, "cox").frame.columns)
    assert (f"Multivariable, study model (n = {study.n:,}, events = {study.events:,}) "
            "HR (95% CI)") in cox_head
    irlm_head = ",".join(item_named(main.sections, "irlm_battery").frame.columns)
    assert (f"Multivariable HR (95% CI), battery model (n = {battery.multivariable_n:,}, "
            f"events = {battery.multivariable_events:,})") in irlm_head
    intros = {s.id: s.intro for s in main.sections}
    study_text = ("study model (config cox.covariates): completeness of resection, "
                  "disease-free interval (DFI) group, number of metastases; "
                  f"n = {study.n:,}, events = {study.events:,}")
    assert study_text in intros["cox"]
    assert all(f in battery.multivariable_factors for f in ("nodal_status", "histology_group"))
    for sec in ("cox", "irlm"):
        assert "the battery model: completeness of resection, " in intros[sec], sec
        assert ("histology, nodal status"
                in intros[sec].split("the battery model: ")[1].split(".")[0]), sec


# ---------------------------------------------------------------------------------------
# Methods


#: A sentence of Methods for each section it may describe.
METHODS_SAYS = {
    "cox": "Cox proportional-hazards models",
    "irlm": "International Registry of Lung Metastases",
    "competing": "Aalen-Johansen",
    "landmark": "landmarks of",
    "published": "published series",
}


def test_methods_mentions_only_the_sections_shown(study):
    methods = next(s for s in study.sections if s.id == "methods").intro
    shown = {s.id for s in study.sections if not s.reason}
    for sec_id, phrase in METHODS_SAYS.items():
        assert (phrase in methods) is (sec_id in shown), (sec_id, phrase)
    rmst = any(i.name.startswith("ph_rmst_") for s in study.sections for i in s.items)
    assert ("restricted mean survival time" in methods) is rmst
    assert (f"Counts from 1 to {K - 1} were suppressed" in methods) is bool(
        study.cfg.suppress_below)


def test_methods_of_a_bare_cohort_leave_out_competing_risks_and_landmarks(bare):
    methods = next(s for s in bare.sections if s.id == "methods").intro
    assert "Aalen-Johansen" not in methods and "landmark" not in methods
    assert "restricted mean survival time" in methods  # PH rejected there


# ---------------------------------------------------------------------------------------
# compose: deterministic, the analysis untouched


def _said(sections) -> list:
    """Everything sections print, figures' panels included, as comparable values."""
    out = []
    for sec in sections:
        out.append((sec.id, sec.title, sec.intro, sec.reason))
        for item in sec.items:
            out.append((type(item).__name__, item.name, item.title, item.caption, item.notes))
            if isinstance(item, Figure) and "panel" in item.args:
                p = item.args["panel"]
                out.append(([(c.label, c.n, c.suppressed, c.surv_5y) for c in p.curves],
                            p.at_risk_printed, p.p_logrank, p.p_trend))
    return out


def test_compose_is_deterministic_and_leaves_the_analysis_alone(study):
    again = compose(study.cfg, study.analysis)
    assert _said(again) == _said(study.sections)
    tables = [(a, b) for s1, s2 in zip(study.sections, again, strict=True)
              for a, b in zip(s1.items, s2.items, strict=True) if isinstance(a, Table)]
    assert tables
    for a, b in tables:
        pd.testing.assert_frame_equal(a.frame, b.frame, obj=a.name)
    assert study.analysis.counts is None
    now = _frames_of(study.analysis)
    assert sorted(now) == sorted(study.before)
    for name, frame in study.before.items():
        pd.testing.assert_frame_equal(now[name], frame, obj=name)


# ---------------------------------------------------------------------------------------
# small-cell suppression: one group, one printed count


def test_a_group_prints_one_count_in_table1_survival_table_and_published(suppressed):
    """Nodal status (N2: 3 patients) in Table 1, the survival table and the published
    comparison (Veronesi 2007, all histologies): every level printed alike."""
    t1 = item_named(suppressed.sections, "table1").frame
    overall = next(c for c in t1.columns if c.startswith("Overall"))
    start = np.flatnonzero(t1["Characteristic"].to_numpy() == "Nodal status")[0]
    rows = t1.iloc[start:]
    following = np.flatnonzero(rows["Characteristic"].to_numpy()[1:] != "")
    rows = rows.iloc[:following[0] + 1 if len(following) else len(rows)]
    rows = rows[rows["Level"] != "Missing"]  # a Missing row only where some are missing
    table1 = {lev: cell.split(" (")[0] for lev, cell in zip(rows["Level"], rows[overall],
                                                            strict=True)}
    survival = _factor_rows(item_named(suppressed.sections, "survival").frame,
                            "Nodal status").set_index("Group")["n"].to_dict()
    pub = item_named(suppressed.sections, "published_comparison").frame
    pub = pub[(pub["Factor"] == "Nodal status")
              & pub["Population"].str.startswith("All histologies")]
    published = dict(zip(pub["Level"], pub["Cohort n"], strict=True))
    levels = [level_label("nodal_status", v) for v in ("N0", "N1", "N2")]
    assert set(levels) <= set(table1) & set(survival) & set(published)
    for lev in levels:
        assert table1[lev] == survival[lev] == published[lev], lev
    assert table1[level_label("nodal_status", "N2")] == f"<{K}"
    for lev in set(table1) & set(survival):
        assert table1[lev] == survival[lev], lev


def test_a_section_not_asked_for_says_so(tmp_path):
    """Competing risks and landmarks switched off in the config are still sections, each
    one line saying it was not asked for (as Cox without covariates), in provenance too."""
    write_cohort(tmp_path / "data", n=120, seed=5)
    s = _analysed(write_config(tmp_path, landmark_times=[], competing_risks=False,
                               factors=["complete_resection"], benchmark=None))
    entries = {e["id"]: e for e in section_entries(s.sections)}
    for sec_id, key in (("competing", "competing_risks"), ("landmark", "landmark_times")):
        assert entries[sec_id]["shown"] is False
        assert entries[sec_id]["reason"].startswith("not asked for"), entries[sec_id]
        assert key in entries[sec_id]["reason"]


def test_a_level_nobody_in_the_model_has_is_left_out_of_the_cox_table(tmp_path):
    """Sarcomas all lack the number of metastases: the study model (histology, number of
    metastases) has no sarcoma, so R coxph gives histology_group[sarcoma] NA with the
    warning "no patient at this level". The report leaves the level out of the Cox table,
    the forest plot and the notes, as it leaves empty levels out everywhere; the fit keeps
    R's NA."""
    patients_csv, _ = write_cohort(tmp_path / "data", n=200, seed=9)
    df = pd.read_csv(patients_csv, dtype=str)
    df.loc[df["histology"].str.contains("sarcoma"), "n_metastases"] = None
    df.to_csv(patients_csv, index=False)
    s = _analysed(write_config(tmp_path, factors=["complete_resection"], benchmark=None,
                               cox={"covariates": ["histology_group", "n_metastases_group"],
                                    "univariable": False}))
    multi = s.analysis.cox.multi
    terms = multi.to_frame().set_index("term")
    assert "histology_group[sarcoma]" in terms.index  # R's NA stays in the fit
    assert np.isnan(terms.loc["histology_group[sarcoma]", "hr"])
    assert "histology_group[sarcoma]" in s.analysis.cox.empty_levels
    table = item_named(s.sections, "cox")
    assert not table.frame["Term"].str.contains("Sarcoma").any(), table.frame["Term"].tolist()
    assert not any("no patient at this level" in n for n in table.notes)
    assert table.frame["Term"].str.contains("Melanoma").any()  # levels with patients stay
    forest = item_named(s.sections, "forest")
    assert not any(t.str.contains("Sarcoma").any() for t in
                   (m["term"] for m in forest.args["tables"].values()))


def test_a_study_model_with_few_events_per_coefficient_is_flagged(tmp_path):
    """Fewer than 10 events per coefficient (Peduzzi 1995): a warning under the Cox table."""
    write_cohort(tmp_path / "data", n=40, seed=2)
    s = _analysed(write_config(tmp_path, factors=["complete_resection"], benchmark=None,
                               cox={"covariates": ["complete_resection", "n_metastases_group",
                                                   "histology_group", "nodal_status"]}))
    multi = s.analysis.cox.multi
    k = int(np.isfinite(multi.coef).sum())
    assert multi.events < 10 * k
    notes = item_named(s.sections, "cox").notes
    assert any(f"events for {k} coefficients, fewer than 10" in n for n in notes), notes


def test_a_zero_survival_after_the_curve_was_cut_is_not_printed_under_suppression():
    """Everyone dies within 8 years: 10- and 15-year survival are 0% resting on nobody at
    risk. Under suppression (k = 5) that 0% is the last step of a curve cut where fewer
    than 5 remained and says they died: blank, as the figure stops there (a new user's
    12-patient report printed it). Without suppression it prints 0."""
    from metsurv.report.sections._common import survival_rows
    from metsurv.stats import km

    df = pd.DataFrame({"os_months": np.linspace(6, 90, 12), "os_event": True})
    fit = km(df, time="os_months", event="os_event", times=[60.0, 120.0, 180.0])
    labels = {"all": "All patients"}
    hidden = survival_rows(fit, "All patients", None, None, 5, labels=labels).iloc[0]
    shown = survival_rows(fit, "All patients", None, None, 0, labels=labels).iloc[0]
    assert hidden["10-year % (95% CI)"] == hidden["15-year % (95% CI)"] == ""
    assert shown["10-year % (95% CI)"].startswith("0")


def test_a_median_resting_on_fewer_than_k_at_risk_is_not_printed():
    """Twelve patients die one by one: the median (R: 6.5 months) rests on 6 at risk.
    With k = 8 it is withheld as the 5-year survival would be; with k = 5 it prints."""
    from metsurv.report.sections._common import survival_table
    from metsurv.stats import km

    df = pd.DataFrame({"os_months": np.arange(1.0, 13.0), "os_event": True})
    fit = km(df, time="os_months", event="os_event", times=[60.0, 120.0, 180.0])
    labels = {"all": "All patients"}
    col = "Median (95% CI), months"
    assert 5 <= fit.curves[0].at([fit.curves[0].median])["n_risk"].iloc[0] < 8
    printed, data = survival_table(fit, "All patients", None, None, 8, labels=labels)
    assert printed[col].iloc[0] == "" and np.isnan(data["median_months"].iloc[0])
    assert "median not shown" in data["suppressed"].iloc[0]
    printed, _ = survival_table(fit, "All patients", None, None, 5, labels=labels)
    assert printed[col].iloc[0].startswith("6.")
