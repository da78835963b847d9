"""Codes compare on the value as written: case, accents, surrounding space and separators
inside a word folded; a sign, a mark at either end or between digits never folded.

Oracle: the rule of issue 10 ("-1" is never "1") and the handed reproducer
``tests/data/event_minus1.csv`` (os_event -1, a common "unknown", was read as death).
"""

from __future__ import annotations

import string
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metsurv import load_cohort, schema

DATA = Path(__file__).resolve().parents[1] / "data"
TODAY = "2026-01-01"

#: Spellings of "not known" that registries use; none of them may be read as an event.
UNKNOWN_SPELLINGS = ("-1", "99", "9", ".", "unk", "unknown", "NA", "-", "?", "n/a", "N.A.",
                     "-9", "999", "1.", "-1.0", "(1)", "1?", "+1", "--", "..", "x1", "9.9",
                     "unbekannt", "?1", "1-", "1 1", "-0", "dead?", "d.", "t?")


@pytest.mark.parametrize("raw, token", [
    ("-1", "-1"), ("1.", "1."), ("2-3", "2-3"), ("0-11", "0-11"), (">=36", ">=36"),
    ("?", "?"), (".", "."), (" UNK ", "unk"), ("p-N1", "pn1"), ("R 0", "r0"), ("R-0", "r0"),
    ("not_assessed", "notassessed"), ("Vollständig", "vollstandig"), ("dead?", "dead?"),
])
def test_code_token_folds_case_and_word_separators_never_signs_or_end_marks(raw, token):
    assert schema.normalise_token(raw) == token


def test_code_minus_one_is_never_one_event_csv_handed():
    cohort = load_cohort(DATA / "event_minus1.csv", today=TODAY)
    assert cohort.patients["patient_id"].tolist() == ["A1", "A2"]
    f = cohort.findings
    bad = f[f["value"] == "-1"]
    assert bad["row"].tolist() == [4, 5] and set(bad["column"]) == {"os_event"}
    assert set(bad["severity"]) == {"error"}
    assert cohort.excluded().to_dict("records") == [{"reason": "unknown required code",
                                                     "count": 2}]


@pytest.mark.parametrize("field, raw", [
    ("resection_status", "-1"), ("resection_status", "1."), ("nodal_status", "-2"),
    ("sex", "-1"), ("sex", "1."), ("n_metastases_group", "23"), ("leiomyosarcoma", "-1"),
])
def test_code_with_sign_or_end_mark_becomes_missing_with_finding(field, raw):
    df = pd.DataFrame({"patient_id": ["a", "b"], "os_months": [5.0, 7.0], "os_event": [1, 0],
                       field: [raw, None]})
    cohort = load_cohort(df, today=TODAY)
    assert cohort.n_analysed == 2
    assert cohort.patients.loc[0, field] is pd.NA or pd.isna(cohort.patients.loc[0, field])
    assert (cohort.findings["value"] == raw).any()


def test_code_word_separators_still_match_synonyms():
    df = pd.DataFrame({"patient_id": ["a", "b", "c"], "os_months": [5.0, 7.0, 9.0],
                       "os_event": ["Dead", " alive ", "DEATH"],
                       "nodal_status": ["p-N1", "not assessed", "Not_Assessed"],
                       "resection_status": ["R-0", "r 1", "pR2"]})
    p = load_cohort(df, today=TODAY).patients
    assert p["os_event"].tolist() == [True, False, True]
    assert p["nodal_status"].tolist() == ["N1", "NX", "NX"]
    assert p["resection_status"].tolist() == ["R0", "R1", "R2"]


SPELLING = st.sampled_from(UNKNOWN_SPELLINGS).flatmap(
    lambda s: st.sampled_from([s, s.upper(), f" {s}", f"{s}  ", f"\t{s}"]))
KNOWN = st.sampled_from([("1", True), ("0", False), ("dead", True), ("alive", False),
                         ("yes", True), ("no", False), (1, True), (0, False), (1.0, True)])


@st.composite
def outcome_tables(draw):
    """Tables whose event column mixes clear codes with random unknown spellings."""
    n = draw(st.integers(min_value=1, max_value=15))
    unknown = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    events, truth = [], []
    for u in unknown:
        if u:
            events.append(draw(SPELLING))
            truth.append(None)
        else:
            raw, value = draw(KNOWN)
            events.append(raw)
            truth.append(value)
    via_status = draw(st.booleans())
    ids = [f"P{i}" for i in range(n)]
    if via_status:  # the same spellings as a vital status
        status = [{True: "dead", False: "alive"}.get(t, e) if t is not None else e
                  for e, t in zip(events, truth, strict=True)]
        df = pd.DataFrame({"patient_id": ids, "metastasectomy_date": "2010-01-01",
                           "last_followup_date": "2012-06-30", "vital_status": status},
                          dtype=object)
    else:
        df = pd.DataFrame({"patient_id": ids, "os_months": 12.0, "os_event": events},
                          dtype=object)
    noise = draw(st.text(alphabet=string.ascii_letters, max_size=6))
    df["center"] = noise
    return df, truth


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outcome_tables())
def test_code_unknown_spellings_are_never_an_event_property(case):
    df, truth = case
    cohort = load_cohort(df, today=TODAY)
    flow = cohort.flow.set_index("step")
    read, analysed = int(flow.loc["read", "n"]), int(flow.loc["analysed", "n"])
    excluded = cohort.flow.loc[cohort.flow["step"] == "excluded", "n"].sum()
    assert read == analysed + excluded == len(df)
    kept = dict(zip(cohort.patients["patient_id"], cohort.patients["os_event"], strict=True))
    rows_with_finding = set(cohort.findings["row"].dropna().astype(int))
    for i, t in enumerate(truth):
        pid = f"P{i}"
        if t is None:
            assert pid not in kept, f"{df.iloc[i].tolist()} was analysed"
            assert i + 1 in rows_with_finding  # DataFrame rows are numbered from 1
        else:
            assert kept[pid] == t
