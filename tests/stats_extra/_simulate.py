"""A small vectorised cohort in which repeat resection has NO effect on death.

Death is exponential (mean 40 months) and independent of everything else; a recurrence
comes at rate 1/18 per month; 55% of recurrences get a repeat metastasectomy 1-6 months
later (if still alive and followed); follow-up is censored uniformly in 24-120 months.
Only patients who live long enough can enter the repeat group: the immortal-time trap.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd


def null_repeat_resection_cohort(n: int = 800, seed: int = 1) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    death = rng.exponential(40.0, n)
    recurrence = rng.exponential(18.0, n)
    repeat = recurrence + rng.uniform(1.0, 6.0, n)
    operated = rng.random(n) < 0.55
    censor = rng.uniform(24.0, 120.0, n)
    os_months = np.round(np.minimum(death, censor), 3)
    os_event = death <= censor
    repeat = np.round(repeat, 3)
    has_repeat = operated & (repeat < os_months)
    ids = np.array([f"S{i:04d}" for i in range(n)])
    patients = pd.DataFrame({
        "patient_id": ids, "os_months": os_months, "os_event": os_event,
        "n_metastasectomies": 1 + has_repeat.astype(int), "repeat_resection": has_repeat,
        "age_at_metastasectomy": np.round(rng.normal(60, 10, n), 1),
    })
    first_stop = np.where(has_repeat, repeat, os_months)
    cp1 = pd.DataFrame({"patient_id": ids, "start": 0.0, "stop": first_stop,
                        "event": os_event & ~has_repeat, "resection_number": 1,
                        "repeat_resection": False})
    cp2 = pd.DataFrame({"patient_id": ids[has_repeat], "start": repeat[has_repeat],
                        "stop": os_months[has_repeat], "event": os_event[has_repeat],
                        "resection_number": 2, "repeat_resection": True})
    cp = pd.concat([cp1, cp2], ignore_index=True).sort_values(["patient_id", "start"],
                                                              ignore_index=True)
    return SimpleNamespace(patients=patients, resections=None, counting_process=cp)


def _categorical(values, codes) -> pd.Categorical:
    return pd.Categorical(values, categories=list(codes))


def irlm_like_cohort(n: int = 600, seed: int = 7) -> pd.DataFrame:
    """A patients table shaped like the loader's: IRLM factors as Categoricals in schema
    order, exponential survival with hazard ratios in the published direction."""
    from metsurv import schema

    rng = np.random.default_rng(seed)
    status = rng.choice(schema.codes("resection_status"), n, p=[0.85, 0.10, 0.05])
    dfi = rng.choice(schema.DFI_GROUPS, n, p=[0.33, 0.36, 0.31])
    nmet = rng.choice(schema.N_METASTASES_GROUPS, n, p=[0.46, 0.34, 0.20])
    hist = rng.choice(schema.codes("histology_group"), n, p=[0.43, 0.42, 0.07, 0.06, 0.02])
    lms = np.where(hist == "sarcoma", rng.random(n) < 0.3, None)
    nodal = rng.choice(schema.codes("nodal_status"), n, p=[0.6, 0.12, 0.06, 0.22])
    chemo = rng.choice(schema.codes("chemo_response"), n, p=[0.25, 0.15, 0.05, 0.55])
    complete = status == "R0"
    risk_factors = (dfi != ">=36").astype(int) + (nmet != "1").astype(int)
    irlm = np.where(~complete, "IV", np.array(["I", "II", "III"])[risk_factors])
    lp = (0.9 * ~complete + 0.35 * (dfi == "0-11") + 0.2 * (dfi == "12-35")
          + 0.25 * (nmet == "2-3") + 0.5 * (nmet == ">=4") - 0.6 * (hist == "germ_cell")
          + 0.6 * (hist == "melanoma") + 0.5 * (nodal == "N1") + 0.9 * (nodal == "N2")
          + 0.6 * (chemo == "progression") - 0.4 * (lms == True))  # noqa: E712
    death = rng.exponential(50.0 / np.exp(lp.astype(float)))
    censor = rng.uniform(6.0, 200.0, n)
    return pd.DataFrame({
        "patient_id": [f"I{i:04d}" for i in range(n)],
        "os_months": np.round(np.minimum(death, censor), 2),
        "os_event": death <= censor,
        "resection_status": _categorical(status, schema.codes("resection_status")),
        "complete_resection": complete,
        "dfi_group": _categorical(dfi, schema.DFI_GROUPS),
        "n_metastases_group": _categorical(nmet, schema.N_METASTASES_GROUPS),
        "histology_group": _categorical(hist, schema.codes("histology_group")),
        "leiomyosarcoma": pd.array(lms, dtype="boolean"),
        "nodal_status": _categorical(nodal, schema.codes("nodal_status")),
        "irlm_group": _categorical(irlm, schema.IRLM_GROUPS),
        "chemo_response": _categorical(chemo, schema.codes("chemo_response")),
    })
