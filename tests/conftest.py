"""Shared fixtures: small canonical registry tables built in code, never read from the network."""

from __future__ import annotations

import pandas as pd
import pytest


def registry_rows(n: int = 6) -> pd.DataFrame:
    """A small clean registry table in canonical names, with dates (all rows analysable)."""
    base = pd.Timestamp("2001-03-01")
    return pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(1, n + 1)],
        "sex": ["F", "m", "w", "male", "female", "M"][:n],
        "histology": ["leiomyosarcoma", "adenocarcinoma", "synovial sarcoma", "melanoma",
                      "seminoma", "renal cell carcinoma"][:n],
        "primary_treatment_date": [(base - pd.Timedelta(days=400 * (i + 1))).date().isoformat()
                                   for i in range(n)],
        "metastasis_diagnosis_date": [(base - pd.Timedelta(days=20)).date().isoformat()] * n,
        "metastasectomy_date": [base.date().isoformat()] * n,
        "last_followup_date": [(base + pd.Timedelta(days=300 * (i + 1))).date().isoformat()
                               for i in range(n)],
        "vital_status": ["dead", "alive", "dead", "alive", "dead", "alive"][:n],
        "resection_status": ["R0", "complete", "R1", "radical", "R2", "0"][:n],
        "n_metastases": [1, 2, 4, 1, 3, 1][:n],
        "nodal_status": ["pN0", "N1", "NX", "N2", "N0", "pN1"][:n],
    })


@pytest.fixture
def registry() -> pd.DataFrame:
    return registry_rows()
