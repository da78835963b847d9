"""Fixtures for the report tests: a small registry-style cohort written as CSV files, with
patient ids and exact dates, so that the tests can check none of them leaks into a report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

DAYS_PER_MONTH = 30.4375


def write_cohort(folder: Path, n: int = 300, seed: int = 7) -> tuple[Path, Path]:
    """A synthetic cohort in canonical column names: patients.csv and resections.csv."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"PT{seed:02d}-{i:05d}" for i in range(n)]
    op = pd.Timestamp("1995-01-01") + pd.to_timedelta(rng.integers(0, 3650, n), unit="D")
    dfi = rng.gamma(1.5, 20, n).round(1)
    primary = op - pd.to_timedelta(np.round(dfi * DAYS_PER_MONTH), unit="D")
    status = rng.choice(["R0", "R1", "R2"], n, p=[0.85, 0.1, 0.05])
    nmet = rng.choice([1, 2, 3, 4, 6], n, p=[0.45, 0.2, 0.15, 0.1, 0.1])
    hist = rng.choice(["adenocarcinoma", "leiomyosarcoma", "osteosarcoma", "melanoma",
                       "seminoma"], n, p=[0.45, 0.15, 0.25, 0.08, 0.07])
    rate = (1 / 60) * np.where(status == "R0", 1.0, 2.6) * np.where(nmet > 1, 1.4, 1.0)
    t_death = rng.exponential(1 / rate)
    t_cens = rng.uniform(6, 200, n)
    os_m = np.minimum(t_death, t_cens)
    dead = t_death <= t_cens
    last = op + pd.to_timedelta(np.round(os_m * DAYS_PER_MONTH), unit="D")
    t_rec = rng.exponential(40, n)
    rec = t_rec < os_m * 0.9
    rec_date = pd.Series(op + pd.to_timedelta(np.round(t_rec * DAYS_PER_MONTH), unit="D"))
    rec_date[~rec] = pd.NaT
    site = np.where(rec, rng.choice(["pulmonary", "extrathoracic", "both"], n), None)
    patients = pd.DataFrame({
        "patient_id": ids,
        "sex": rng.choice(["female", "male"], n),
        "age_at_metastasectomy": rng.normal(55, 12, n).round(1),
        "histology": hist,
        "primary_treatment_date": primary.strftime("%Y-%m-%d"),
        "metastasis_diagnosis_date": op.strftime("%Y-%m-%d"),
        "n_metastases": nmet,
        "laterality": rng.choice(["unilateral", "bilateral"], n, p=[0.7, 0.3]),
        "resection_status": status,
        "nodal_status": rng.choice(["N0", "N1", "N2", "NX"], n, p=[0.5, 0.1, 0.05, 0.35]),
        "metastasectomy_date": op.strftime("%Y-%m-%d"),
        "last_followup_date": last.strftime("%Y-%m-%d"),
        "vital_status": np.where(dead, "dead", "alive"),
        "recurrence_date": rec_date.dt.strftime("%Y-%m-%d"),
        "recurrence_site": site,
    })
    # second operations for some pulmonary recurrences
    again = rec & np.isin(site, ["pulmonary", "both"]) & (rng.uniform(size=n) < 0.5)
    second = pd.Series(op + pd.to_timedelta(np.round((t_rec + 2) * DAYS_PER_MONTH), unit="D"))
    ok = again & (second < last).to_numpy()
    res = pd.concat([
        pd.DataFrame({"patient_id": ids, "operation_date": op.strftime("%Y-%m-%d"),
                      "resection_status": status}),
        pd.DataFrame({"patient_id": np.asarray(ids)[ok],
                      "operation_date": second[ok].dt.strftime("%Y-%m-%d").to_numpy(),
                      "resection_status": "R0"}),
    ], ignore_index=True)
    p_path, r_path = folder / "patients.csv", folder / "resections.csv"
    patients.to_csv(p_path, index=False)
    res.to_csv(r_path, index=False)
    return p_path, r_path


def write_small_group_cohort(folder: Path, n: int, seed: int, n_incomplete: int = 7,
                             missing: tuple[str, slice] | None = None) -> None:
    """:func:`write_cohort` with the first ``n_incomplete`` patients (and their operations)
    incomplete resections (R1) and everyone else R0, and ``missing`` = (field, rows) blanked:
    the small groups that small-cell suppression must hide."""
    p_path, r_path = write_cohort(folder, n=n, seed=seed)
    df = pd.read_csv(p_path, dtype=str)
    df["resection_status"] = ["R1"] * n_incomplete + ["R0"] * (len(df) - n_incomplete)
    if missing is not None:
        df.loc[missing[1], missing[0]] = None
    df.to_csv(p_path, index=False)
    res = pd.read_csv(r_path, dtype=str)
    res["resection_status"] = "R0"
    res.loc[res["patient_id"].isin(df["patient_id"][:n_incomplete]), "resection_status"] = "R1"
    res.to_csv(r_path, index=False)


def write_config(folder: Path, **overrides) -> Path:
    cfg = {
        "title": "Test cohort",
        "data": {"source": "data/patients.csv", "resections": "data/resections.csv"},
        "factors": ["complete_resection", {"factor": "dfi_group", "subset": "complete_resection"},
                    "n_metastases_group", "irlm_group"],
        "table1": {"by": "complete_resection"},
        "cox": {"covariates": ["complete_resection", "dfi_group", "n_metastases_group"]},
        "landmark_times": [24],
        "benchmark": "IRLM 1997",
        "formats": ["png", "svg", "pdf"],
    }
    cfg.update(overrides)
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def small_study(tmp_path_factory) -> Path:
    """A folder with data/patients.csv, data/resections.csv and study.yaml."""
    root = tmp_path_factory.mktemp("study")
    write_cohort(root / "data")
    return write_config(root)


@pytest.fixture(scope="session")
def built_report(small_study: Path, tmp_path_factory) -> Path:
    """The small study built once per session (shared by the build and browser tests)."""
    from metsurv.report import build

    return build(small_study, out=tmp_path_factory.mktemp("out") / "report")


@pytest.fixture
def make_study():
    """(write_cohort, write_config) for tests that need a cohort of their own."""
    return write_cohort, write_config


#: Small-cell threshold of the suppressed study.
SUPPRESS_BELOW = 5


@pytest.fixture(scope="session")
def suppressed_study(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A study with ``suppress_below: 5`` and small cells everywhere: 2 patient records and
    2 resections excluded, a nodal level (N2) of 3 patients, 2 patients without a Cox
    covariate. Returns (config, report folder, {figure name: matplotlib figure})."""
    root = tmp_path_factory.mktemp("suppressed")
    p_path, _ = write_cohort(root / "data", n=200, seed=3)
    df = pd.read_csv(p_path, dtype=str)
    df.loc[:1, "patient_id"] = None                       # excluded: 2 records
    df["nodal_status"] = df["nodal_status"].replace("N2", "N1")
    df.loc[10:12, "nodal_status"] = "N2"                  # a level of 3 patients
    df.loc[20:21, "n_metastases"] = None                  # 2 left out of the Cox model
    df.to_csv(p_path, index=False)
    cfg = write_config(root, suppress_below=SUPPRESS_BELOW,
                       factors=["nodal_status", "complete_resection"],
                       cox={"covariates": ["complete_resection", "n_metastases_group"]})
    out, drawn = build_keeping_figures(cfg, root / "report")
    return cfg, out, drawn


def build_keeping_figures(cfg: Path, out: Path) -> tuple[Path, dict]:
    """build(cfg, out=out), keeping every figure it saves: (report folder, {figure name:
    matplotlib figure})."""
    import importlib

    B = importlib.import_module("metsurv.report.build")
    F = importlib.import_module("metsurv.report.figures")
    drawn: dict = {}
    real_save = F.save_figure

    def save(fig, stem, *args, **kwargs):
        drawn[Path(stem).name] = fig
        return real_save(fig, stem, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(F, "save_figure", save)
        mp.setenv("METSURV_WORKERS", "1")  # saved here, where the figures are kept
        return B.build(cfg, out=out), drawn


def rewrite_outcome(patients_csv: Path, proportional: bool, drop: tuple[str, ...] = ()
                    ) -> None:
    """Rewrite a write_cohort patients.csv with a known effect of incomplete resection:
    proportional (hazard 60/25 months) or all in the first 8 months (cox.zph rejects PH);
    ``drop`` columns are removed (e.g. the recurrence columns). Oracle of the PH tests."""
    df = pd.read_csv(patients_csv, dtype=str).drop(columns=list(drop))
    rng = np.random.default_rng(1)
    op = pd.to_datetime(df["metastasectomy_date"])
    inc = (df["resection_status"] != "R0").to_numpy()
    if proportional:
        t = rng.exponential(np.where(inc, 25, 60))
    else:  # incomplete resections die early or not at all faster than the others
        t = np.where(inc, rng.exponential(8, len(df)), rng.exponential(60, len(df)))
        t = np.where(inc & (t > 8), 8 + rng.exponential(200, len(df)), t)
    c = rng.uniform(10, 150, len(df))
    df["last_followup_date"] = (op + pd.to_timedelta(np.round(np.minimum(t, c) * DAYS_PER_MONTH),
                                                     unit="D")).dt.strftime("%Y-%m-%d")
    df["vital_status"] = np.where(t <= c, "dead", "alive")
    df.to_csv(patients_csv, index=False)
