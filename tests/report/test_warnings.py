"""The report shows a Cox term R reports as NA as "NA (not estimable)", never a number, and
a fit's warnings beside the table (HTML) and at its foot (PDF) they concern."""

from __future__ import annotations

import subprocess
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from metsurv.report import tables as T
from tests.report.printed import printed_frame


def test_format_cox_prints_na_terms_and_infinite_limits():
    """A NaN coefficient (aliased term) reads "NA (not estimable)" with p "NA"; an infinite
    upper limit (monotone likelihood) reads "Inf", as R prints it."""
    df = pd.DataFrame({"term": ["a", "b", "c"], "hr": [1.5, np.nan, 4e7],
                       "lower": [1.1, np.nan, 0.2], "upper": [2.0, np.nan, np.inf],
                       "p": [0.01, np.nan, 0.99]})
    out = T.format_cox({"Multivariable": df})
    assert out["Multivariable HR (95% CI)"].tolist() == [
        "1.50 (1.10\u20132.00)", "NA (not estimable)", "4e+07 (0.2\u2013Inf)"]
    assert out["Multivariable p"].tolist() == ["0.010", "NA", "0.99"]


def test_result_notes_name_the_fit_and_skip_repeats():
    fits = [("Study model", SimpleNamespace(warnings=("b is aliased",))),
            ("Univariable", SimpleNamespace(warnings=("b is aliased",))),
            ("Again", SimpleNamespace(warnings=())), ("Study model",
                                                       SimpleNamespace(warnings=("b is aliased",)))]
    assert T.result_notes(fits) == ("Study model: b is aliased", "Univariable: b is aliased")


@pytest.fixture(scope="module")
def aliased_report(tmp_path_factory, make_study_module):
    """A report whose study model has complete_resection beside resection_status: the R0
    indicator is a linear combination of the resection-status dummies, so R's coxph gives
    one of the terms NA."""
    write_cohort, write_config = make_study_module
    from metsurv.report import build

    root = tmp_path_factory.mktemp("aliased")
    write_cohort(root / "data", n=150, seed=11)
    cfg = write_config(root, factors=["complete_resection"],
                       cox={"covariates": ["resection_status", "complete_resection"]},
                       landmark_times=[], competing_risks=False, formats=["svg"])
    return build(cfg, out=root / "report")


@pytest.fixture(scope="module")
def make_study_module():
    from tests.report.conftest import write_cohort, write_config

    return write_cohort, write_config


def test_aliased_term_shows_na_and_the_warning(aliased_report):
    """Cox table (CSV, HTML) and PDF: the aliased term is "NA (not estimable)", and the
    fit's warning naming it stands under the table (HTML div.warnings, PDF foot)."""
    cox = printed_frame(aliased_report, "cox")  # tables/cox.csv holds the numbers
    data = pd.read_csv(aliased_report / "tables" / "cox.csv")
    aliased = data[(data["model"] == "Multivariable (study)")
                   & data["term"].str.startswith("Completeness of resection")]
    assert len(aliased) == 1 and aliased["hr"].isna().all()
    study = [c for c in cox.columns if c.startswith("Multivariable") and "HR" in c][0]
    na_rows = cox[cox[study] == T.NOT_ESTIMABLE]
    assert len(na_rows) == 1 and "resection" in na_rows["Term"].iloc[0].lower()
    html = (aliased_report / "index.html").read_text()
    table_html = html[html.index('id="tab-cox"'):]
    table_html = table_html[:table_html.index("</div>", table_html.index('class="warnings"'))]
    # the note names the term as the table does, not as the design matrix does
    assert 'class="warnings"' in table_html
    assert ("Study model: Completeness of resection: Incomplete (R1/R2) vs Complete (R0)"
            in table_html) and "complete_resection" not in table_html
    assert "NA (not estimable)" in table_html
    pdf_text = subprocess.run(["pdftotext", str(aliased_report / "report.pdf"), "-"],
                              capture_output=True, text=True, check=True).stdout
    assert "Warning: Study model: Completeness of resection" in pdf_text
    forest = (aliased_report / "figures" / "forest.svg").read_text()
    assert "not estimable" in forest  # the forest plot's text column, not a number


def test_infinite_estimate_is_flagged_beside_the_battery_and_cox_tables(tmp_path):
    """Monotone likelihood: every incomplete resection dies before any complete one, so
    R's coxph warns the coefficient may be infinite. The report prints no confident HR
    without that warning under the Cox table and the IRLM battery table."""
    import yaml

    from metsurv.report import build

    rng = np.random.default_rng(5)
    n = 60
    incomplete = np.arange(n) < 15
    months = np.where(incomplete, rng.uniform(1, 10, n), rng.uniform(12, 80, n))
    op = pd.Timestamp("2005-01-01")
    last = op + pd.to_timedelta(np.round(months * 30.4375), unit="D")
    (tmp_path / "data").mkdir()
    pd.DataFrame({
        "patient_id": [f"X{i}" for i in range(n)],
        "resection_status": np.where(incomplete, "R1", "R0"),
        "metastasectomy_date": op.strftime("%Y-%m-%d"),
        "last_followup_date": last.strftime("%Y-%m-%d"),
        "vital_status": np.where(incomplete | (rng.random(n) < 0.6), "dead", "alive"),
    }).to_csv(tmp_path / "data" / "patients.csv", index=False)
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({
        "title": "Monotone", "data": {"source": "data/patients.csv"},
        "factors": ["complete_resection"], "cox": {"covariates": ["complete_resection"]},
        "landmark_times": [], "competing_risks": False, "formats": ["svg"]}))
    out = build(cfg, out=tmp_path / "report")
    html = (out / "index.html").read_text()
    for table in ("tab-cox", "tab-irlm_battery"):
        part = html[html.index(f'id="{table}"'):]
        part = part[:part.index("</div>")]
        assert 'class="warnings"' in part and "infinite" in part, table
