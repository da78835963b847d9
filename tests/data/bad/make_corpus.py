"""Write the self-made files of tests/data/bad (README.md there says what each is): small
variations of good.csv, each with one problem. Run ``python tests/data/bad/make_corpus.py``;
the files are committed, so the tests never run this."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent


def _base(rng: np.random.Generator, n: int = 24) -> pd.DataFrame:
    return pd.DataFrame({
        "patient_id": [f"P{i:02d}" for i in range(1, n + 1)],
        "os_months": np.round(rng.exponential(30, n) + 0.5, 1),
        "os_event": (rng.random(n) < 0.6).astype(int),
        "resection_status": np.where(rng.random(n) < 0.7, "R0", "R1"),
        "age_at_metastasectomy": rng.integers(35, 80, n),
        "dfi_months": np.round(rng.exponential(24, n), 1),
        "n_metastases": rng.integers(1, 6, n),
        "w": np.round(rng.uniform(0.5, 3, n), 2),
    })


def _with(df: pd.DataFrame, row: int, **values: object) -> pd.DataFrame:
    """A copy of ``df`` with the given values in one row (text allowed in number columns)."""
    out = df.astype({c: object for c in values if c in df})
    for col, value in values.items():
        out.loc[row, col] = value
    return out


def main() -> None:
    rng = np.random.default_rng(9)
    base = _base(rng)
    entry = np.round(np.minimum(rng.uniform(0, 12, len(base)), base["os_months"] / 2), 1)
    tables = {
        "good.csv": base,
        "no_events.csv": base.assign(os_event=0),
        "one_group.csv": base.assign(resection_status="R0"),
        "all_missing.csv": base.assign(os_months=np.nan, os_event=np.nan),
        "inf_event_time.csv": _with(base, 2, os_months="Inf", os_event=1),
        "inf_censoring.csv": _with(base, 2, os_months="inf", os_event=0),
        "negative_time.csv": _with(base, 4, os_months=-3),
        "text_time.csv": _with(base, 3, os_months="unknown"),
        "missing_event_column.csv": base.drop(columns="os_event"),
        "constant_covariate.csv": base.assign(age_at_metastasectomy=60),
        "aliased_covariates.csv": base.assign(age_months=base["age_at_metastasectomy"] * 12),
        "weights_negative.csv": _with(base, 1, w=-1),
        "weights_missing.csv": _with(base, 1, w=None),
        "weights_infinite.csv": _with(base, 1, w="Inf"),
        "start_ge_stop.csv": _with(base.assign(entry_months=0.0), 5,
                                   entry_months=float(base.loc[5, "os_months"]) + 1),
        "delayed_entry.csv": base.assign(entry_months=entry),
        "event_code_2.csv": _with(base, 6, os_event=2),
        "zero_times.csv": base.assign(os_months=0.0),
        "single_row.csv": base.head(1),
        "level_without_events.csv": _with(_with(base, 0, resection_status="R2", os_event=0), 1,
                                          resection_status="R2", os_event=0),
    }
    for name, df in tables.items():
        df.to_csv(OUT / name, index=False)
    (OUT / "empty.csv").write_bytes(b"")
    (OUT / "header_only.csv").write_text(",".join(base.columns) + "\n")
    (OUT / "binary_garbage.csv").write_bytes(bytes(range(256)) * 4)
    (OUT / "wrong_mapping.yaml").write_text(
        "version: 1\ncolumns: {Patient: patient_id, Survival: os_months}\n")
    (OUT / "broken_mapping.yaml").write_text("version: 1\ncolumns: {PatNr: patient_id\n  - [\n")


if __name__ == "__main__":
    main()
