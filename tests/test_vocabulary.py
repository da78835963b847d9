"""The vocabulary lives once, in metsurv.schema (issue 11, item 7): factor titles, level labels,
endpoints, time units, horizons and first-event labels. The report, stats and CLI names are
the schema's objects or are derived from them, and moving the tables there changed no number.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import re
from pathlib import Path

import numpy as np
import pytest

from metsurv import schema
from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.stats import competing, irlm

SRC = Path(__file__).resolve().parents[1] / "src" / "metsurv"


def test_report_names_are_the_schema_tables():
    assert T.FACTOR_TITLES is schema.FACTOR_TITLES
    assert T.level_label is schema.level_label
    assert "FACTOR_TITLES" in T.__all__ and "level_label" in T.__all__
    assert not hasattr(T, "_CODE_LABELS")
    assert F.ENDPOINT_LABELS == {k: e.axis_label for k, e in schema.ENDPOINTS.items()}
    assert F.ENDPOINT_LABELS == {"os": "Overall survival (%)", "dfs": "Disease-free survival (%)"}
    assert F.UNIT_SCALE == {"months": 1.0, "years": 1.0 / 12.0}
    assert F.UNIT_LABEL == {"months": "Months", "years": "Years"}
    assert set(F.UNIT_SCALE) == set(F.UNIT_LABEL) == set(schema.TIME_UNITS)


def test_stats_names_are_derived_from_schema():
    assert irlm.ENDPOINTS == {"os": ("os_months", "os_event"), "dfs": ("dfs_months", "dfs_event")}
    assert irlm.ENDPOINTS == {k: (e.time, e.event) for k, e in schema.ENDPOINTS.items()}
    # the labels and their order (status code order) as the report prints them
    assert list(competing.STATUS_LABELS.items()) == [
        (competing.PULMONARY_RECURRENCE, "pulmonary recurrence"),
        (competing.DEATH, "death without recurrence"),
        (competing.EXTRATHORACIC_RECURRENCE, "extrathoracic recurrence"),
        (competing.RECURRENCE_SITE_UNKNOWN, "recurrence, site unknown"),
    ]
    for first_event, code in competing.FIRST_EVENT_STATUS.items():
        if code != competing.CENSORED:
            assert competing.STATUS_LABELS[code] is schema.FIRST_EVENT_LABELS[first_event]


def test_every_factor_has_a_title_and_known_levels():
    factors = set(schema.ORDERED_FACTORS) | set(schema.REFERENCE_LEVELS) | set(schema.BOOL_LABELS)
    assert not factors - set(schema.FACTOR_TITLES)
    for factor, labels in schema.LEVEL_LABELS.items():
        assert set(labels) <= set(schema.codes(factor)), factor
    for factor, labels in schema.BOOL_LABELS.items():
        assert schema.PATIENTS[factor].kind == "bool" and set(labels) == {True, False}, factor
    assert set(schema.FIRST_EVENT_LABELS) == set(schema.FIRST_EVENTS)


@pytest.mark.parametrize(("factor", "level", "text"), [
    ("complete_resection", True, "Complete (R0)"),
    ("leiomyosarcoma", np.False_, "Other sarcoma"),
    ("synchronous", False, "Metachronous"),
    ("os_event", np.True_, "Yes"),
    ("os_event", False, "No"),
    ("dfi_group", ">=36", "DFI \u226536 mo"),
    ("dfi_group", "0-11", "DFI 0-11 mo"),
    ("n_metastases_group", "1", "Single"),
    ("irlm_group", "IV", "Group IV"),
    ("histology_group", "germ_cell", "Germ cell"),
    ("chemo_response", "none", "No chemotherapy"),
    ("resection_status", "R1", "R1"),
    ("dfi_group", "unrecorded", "unrecorded"),
])
def test_level_label(factor, level, text):
    assert schema.level_label(factor, level) == text


def test_endpoints():
    for key, e in schema.ENDPOINTS.items():
        assert e.key == key
        assert schema.PATIENTS[e.time].kind == "float" and schema.PATIENTS[e.time].unit == "months"
        assert schema.PATIENTS[e.event].kind == "bool"
        assert e.axis_label == f"{e.name} (%)"
    os_, dfs = schema.ENDPOINTS["os"], schema.ENDPOINTS["dfs"]
    assert (os_.name, os_.events_word, dfs.events_word) == ("Overall survival", "deaths", "events")
    assert "metastasectomy" in os_.description and "censored" in dfs.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        os_.time = "dfs_months"


def test_months_scalars_and_arrays():
    assert schema.MONTHS_PER_YEAR == 12.0
    assert schema.months(5) == 60.0 and type(schema.months(5)) is float
    assert type(schema.months(np.float64(2.5))) is float
    assert schema.months([1, 2.5]).tolist() == [12.0, 30.0]
    assert schema.months((5, 10, 15)).tolist() == [60.0, 120.0, 180.0]
    grid = np.random.default_rng(1).exponential(3.0, size=(4, 7))
    out = schema.months(grid)
    assert out.shape == (4, 7) and out.dtype == float
    assert np.array_equal(out, 12.0 * grid)  # bit for bit what the literal gave
    years = schema.TIME_UNITS["years"]
    assert schema.months(np.array(7.0)) * years.scale == pytest.approx(7.0)
    assert schema.TIME_UNITS["months"].scale == 1.0


def test_survival_horizons():
    C = importlib.import_module("metsurv.synthetic.calibration")
    assert schema.SURVIVAL_HORIZONS_YEARS == (5, 10, 15)
    assert C._YEARS == {"surv_5y": 5, "surv_10y": 10, "surv_15y": 15}


#: Modules that read months-from-years from schema: no literal 12 conversion is left in them.
_CONVERTED = ("synthetic", "stats", "cli", "report/tables.py", "report/figures.py")
_LITERAL = re.compile(r"(?<![\w.\-])12(?:\.0*)?\s*\*|\*\s*12(?:\.0*)?\b"
                      r"|/\s*12(?:\.0*)?(?![\d\-.])")


def test_no_literal_twelve_conversions():
    found = []
    for part in _CONVERTED:
        files = [SRC / part] if part.endswith(".py") else sorted((SRC / part).rglob("*.py"))
        for path in files:
            for i, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if code.strip().startswith((">>>", "...")):
                    continue
                if _LITERAL.search(code):
                    found.append(f"{path.relative_to(SRC)}:{i}: {line.strip()}")
    assert not found, found


def test_literal_check_finds_conversions():
    for text in ("t = 12.0 * y", "t = y * 12", "x = grid / 12.0", "tau / 12:g"):
        assert _LITERAL.search(text), text
    for text in ("DFI 0-11 / 12-35", "[9.0, 12.0, 15.0]", "rtol=1e-12", "len(text) <= 12",
                 "1e-12 * n", "0.12 * (n + 1)"):
        assert not _LITERAL.search(text), text


#: sha256 of the patients and resections CSV of generate(preset, n=300, seed=7), recorded
#: before the vocabulary moved to schema (the generator's `12.0 *` became schema.months).
_SYNTHETIC_SHA256 = {
    ("irlm1997", "calibrated"): "4987839b9b0a348383c75afa2343165c3d929006aa6a24266d83765d53152f9d",
    ("irlm1997", "ph"): "eab6f5101acb532176963dd9dd2ea98fc75192cc9ee95dc74ee7d36a30f974a0",
    ("sarcoma", "calibrated"): "001b23b754aca6d09605ae24548355c2b0ac7a54b7d95d1d746c094328c77d2b",
    ("sarcoma", "ph"): "09071531522469df44744b4b211712d5cd58413e7a939b7d6db93907c43cab66",
}


@pytest.mark.parametrize(("preset", "outcome"), sorted(_SYNTHETIC_SHA256))
def test_synthetic_cohort_unchanged(preset, outcome):
    from metsurv.synthetic import generate
    from metsurv.synthetic.cli import csv_text

    cohort = generate(preset, n=300, seed=7, outcome=outcome)
    digest = hashlib.sha256(csv_text(cohort.patients) + csv_text(cohort.resections)).hexdigest()
    assert digest == _SYNTHETIC_SHA256[preset, outcome]
