"""The report's "Hazard over time" section (issue 15 item 5): shown when the data have
recurrence, with the smoothed-hazard figure of death and of recurrence or death, the annual
hazard table (printed and as numbers) and a Methods sentence; one line saying why when the
data have no recurrence; small counts suppressed.

Oracle: :func:`metsurv.stats.hazard.smoothed_hazard` and :func:`annual_hazard` called
directly on the same patients (their numbers are checked against R in
tests/stats/test_hazard.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metsurv.report.analysis import analyse
from metsurv.report.build import load_study
from metsurv.report.config import load_config
from metsurv.report.document import Figure, Table, item_named
from metsurv.report.sections import compose
from metsurv.stats.hazard import annual_hazard, smoothed_hazard


def _build(folder, make_study, **overrides):
    write_cohort, write_config = make_study
    write_cohort(folder / "data", n=300, seed=11)
    cfg = load_config(write_config(folder, landmark_times=[], **overrides))
    cohort = load_study(cfg)
    analysis = analyse(cfg, cohort)
    return cfg, cohort, compose(cfg, analysis)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from tests.report.conftest import write_cohort, write_config

    return _build(tmp_path_factory.mktemp("hazard"), (write_cohort, write_config))


def test_section_shows_figure_table_and_methods(study):
    cfg, cohort, sections = study
    sec = next(s for s in sections if s.id == "hazard")
    assert not sec.reason and sec.title == "Hazard over time"
    ids = [s.id for s in sections]
    assert ids.index("competing") < ids.index("hazard") < ids.index("landmark")
    fig = item_named(sections, "hazard_smoothed")
    tab = item_named(sections, "hazard_annual")
    assert isinstance(fig, Figure) and fig.kind == "hazard"
    assert isinstance(tab, Table)
    methods = next(s for s in sections if s.id == "methods").intro
    assert "Ramlau-Hansen" in methods and "Mueller and Wang" in methods
    assert "tau/(4 d^(1/5)) months" in methods


def test_figure_and_table_numbers_are_the_estimators(study):
    """Oracle: smoothed_hazard / annual_hazard on the cohort's patients."""
    cfg, cohort, sections = study
    fig = item_named(sections, "hazard_smoothed")
    labels = [c[0] for c in fig.args["curves"]]
    assert labels == ["Death", "Recurrence or death"]
    direct = smoothed_hazard(cohort.patients, "dfs_months", "dfs_event").to_frame()
    pd.testing.assert_frame_equal(fig.args["curves"][1][1], direct)
    bw = smoothed_hazard(cohort.patients, "os_months", "os_event").bandwidths["bandwidth"][0]
    assert f"{bw:.1f} months (death)" in fig.caption
    data = item_named(sections, "hazard_annual").data
    ann = annual_hazard(cohort.patients, "os_months", "os_event", max_time=120).to_frame()
    os_rows = data[data["endpoint"] == "os"]
    n = len(os_rows)
    np.testing.assert_allclose(os_rows["events"], ann["events"][:n])
    np.testing.assert_allclose(os_rows["rate_per_100py"], 100 * ann["rate"][:n])
    np.testing.assert_allclose(os_rows["rate_per_100py_upper"], 100 * ann["upper"][:n])
    printed = item_named(sections, "hazard_annual").frame
    assert printed.columns[0] == "Years after operation"
    assert printed.iloc[0, 0] == "0\u20131" and len(printed) == n


def test_figure_draws_two_curves_with_bands(study):
    cfg, cohort, sections = study
    fig = item_named(sections, "hazard_smoothed").draw()
    ax = fig.axes[0]
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    assert ax.get_xlim() == (0.0, cfg.max_time)
    assert ax.get_ylabel() == "Hazard per patient-year"


def test_absent_without_recurrence(tmp_path, make_study):
    """No recurrence dates: the section is one line saying why, and Methods is silent."""
    write_cohort, write_config = make_study
    write_cohort(tmp_path / "data", n=200, seed=12)
    p = tmp_path / "data" / "patients.csv"
    pd.read_csv(p).drop(columns=["recurrence_date", "recurrence_site"]).to_csv(p, index=False)
    cfg = load_config(write_config(tmp_path, landmark_times=[], competing_risks=False))
    sections = compose(cfg, analyse(cfg, load_study(cfg)))
    sec = next(s for s in sections if s.id == "hazard")
    assert "recurrence" in sec.reason and not sec.items
    assert "Ramlau-Hansen" not in next(s for s in sections if s.id == "methods").intro


def test_small_counts_suppressed(tmp_path, make_study):
    """suppress_below 5: an annual count of 1-4 prints as <5 with no rate, and its numbers
    are empty in the CSV; the smoothed curves end where 10 remain (max(10, 5))."""
    cfg, cohort, sections = _build(tmp_path, make_study, suppress_below=5)
    tab = item_named(sections, "hazard_annual")
    ann = annual_hazard(cohort.patients, "dfs_months", "dfs_event", max_time=120).to_frame()
    small = (ann["events"] > 0) & (ann["events"] < 5)
    assert small.any()  # the test needs a small cell to check
    i = int(np.flatnonzero(small)[0])
    assert tab.frame["Recurrences or deaths"][i] == "<5"
    assert tab.frame["Recurrences or deaths per 100 patient-years (95% CI)"][i] == ""
    dfs = tab.data[tab.data["endpoint"] == "dfs"].reset_index(drop=True)
    assert np.isnan(dfs["events"][i]) and np.isnan(dfs["rate_per_100py"][i])


def test_caption_states_patients_used_and_left_out(tmp_path, make_study):
    """Break15 finding 4: the caption states the n each curve rests on and the patients
    left out for a missing time or event (oracle: HazardResult.n / n_dropped, which count
    the blanked rows); under suppress_below 5 a left-out count of 3 prints as <5 and the
    estimator's own warning (which prints 3) is not a figure note."""
    import dataclasses

    from metsurv.report.analysis import HazardAnalysis

    cfg, cohort, _ = _build(tmp_path, make_study, suppress_below=5)
    analysis = analyse(cfg, cohort)
    patients = cohort.patients.copy()
    patients.loc[patients.index[:3], "dfs_months"] = np.nan
    with pytest.warns(Warning, match="3 row"):
        dfs = smoothed_hazard(patients, "dfs_months", "dfs_event", min_at_risk=10)
    hz = dataclasses.replace(analysis.hazard, smoothed={**analysis.hazard.smoothed,
                                                       "dfs": dfs})
    assert isinstance(hz, HazardAnalysis) and (dfs.n, dfs.n_dropped) == (len(patients) - 3, 3)
    sections = compose(cfg, dataclasses.replace(analysis, hazard=hz))
    fig = item_named(sections, "hazard_smoothed")
    n_os = analysis.hazard.smoothed["os"].n
    assert f"death: n = {n_os:,}" in fig.caption
    assert "recurrence or death: n = " in fig.caption
    assert "(<5 left out for a missing follow-up time or event)" in fig.caption
    assert not any("dropped" in note for note in fig.notes)
