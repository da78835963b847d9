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
