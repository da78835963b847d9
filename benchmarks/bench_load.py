"""Load and validate a 1,000,000-patient registry CSV: wall time and peak memory.

Targets (issue 2, this 2-core machine): <= 15 s and <= 3 GB peak resident memory.
The CSV is written once into benchmarks/out/ (not committed); the load runs in a fresh
process so that its peak RSS is the loader's alone.

    .venv/bin/python benchmarks/bench_load.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).parent / "out"


def write_registry(path: Path, n: int, seed: int = 1) -> None:
    """A registry-like CSV with 25 columns, German dates and a few broken rows (1 in 1000)."""
    rng = np.random.default_rng(seed)
    op = pd.Timestamp("1995-01-01") + pd.to_timedelta(rng.integers(0, 9000, n), unit="D")
    fu = op + pd.to_timedelta(rng.integers(0, 6000, n), unit="D")
    # follow-up ends by a fixed past date: a future date is implausible (the loader excludes
    # it), and the benchmark measures loading, not how many rows the calendar has reached
    fu = fu.where(fu <= pd.Timestamp("2024-12-31"), pd.Timestamp("2024-12-31"))
    prim = op - pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
    diag = prim + pd.to_timedelta(rng.integers(-30, 3000, n), unit="D")
    rec = np.where(rng.random(n) < 0.5, (op + (fu - op) * 0.5).strftime("%d.%m.%Y"), "")
    df = pd.DataFrame({
        "patient_id": np.char.add("P", np.arange(n).astype(str)),
        "center": rng.choice([f"C{i:02d}" for i in range(18)], n),
        "sex": rng.choice(["w", "m", "99"], n, p=[.45, .54, .01]),
        "age_at_metastasectomy": np.round(rng.normal(55, 12, n), 1).astype(str),
        "primary_site": rng.choice(["colorectal", "kidney", "soft tissue", "bone"], n),
        "histology": rng.choice(["adenocarcinoma", "leiomyosarcoma", "osteosarcoma",
                                 "melanoma", "seminoma", "renal cell carcinoma"], n),
        "primary_treatment_date": prim.strftime("%d.%m.%Y"),
        "metastasis_diagnosis_date": diag.strftime("%d.%m.%Y"),
        "n_metastases": rng.integers(1, 9, n).astype(str),
        "laterality": rng.choice(["unilateral", "bilateral"], n),
        "resection_status": rng.choice(["R0", "R1", "R2", "radikal"], n),
        "nodal_status": rng.choice(["pN0", "pN1", "pN2", "NX", ""], n),
        "approach": rng.choice(["VATS", "thoracotomy", "sternotomy"], n),
        "extent": rng.choice(["wedge", "lobectomy", "segmentectomy"], n),
        "chemo_response": rng.choice(["none", "response", "progression", "stable"], n),
        "metastasectomy_date": op.strftime("%d.%m.%Y"),
        "last_followup_date": fu.strftime("%d.%m.%Y"),
        "vital_status": rng.choice(["alive", "dead"], n),
        "death_cause": rng.choice(["cancer", "other", ""], n),
        "recurrence_date": rec,
        "recurrence_site": np.where(rec != "", "pulmonary", ""),
        "synchronous": rng.choice(["ja", "nein"], n),
        "dfi_months": "",
        "comment": "",
        "registry_version": "3.1",
    })
    broken = rng.choice(n, n // 1000, replace=False)
    df.loc[broken, "metastasectomy_date"] = "31.02.2001"
    df.to_csv(path, index=False)


def run_load(path: Path) -> None:
    import metsurv

    t0 = time.perf_counter()
    cohort = metsurv.load_cohort(path)
    elapsed = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"load+validate {cohort.n_read:,} records -> {cohort.n_analysed:,} analysed, "
          f"{len(cohort.findings):,} findings: {elapsed:.2f} s, peak RSS {peak_gb:.2f} GB "
          f"(targets <= 15 s, <= 3 GB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        run_load(Path(args.child))
        return
    OUT.mkdir(exist_ok=True)
    path = OUT / f"registry_{args.n}.csv"
    if not path.exists():
        t0 = time.perf_counter()
        write_registry(path, args.n)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
    subprocess.run([sys.executable, __file__, "--n", str(args.n), "--child", str(path)],
                   check=True)


if __name__ == "__main__":
    main()
