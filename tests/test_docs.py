"""docs/schema.md is generated from metsurv.schema; this test fails when the two drift apart.

Regenerate with:  .venv/bin/python tests/test_docs.py
"""

from __future__ import annotations

from pathlib import Path

from metsurv import schema
from metsurv.io.findings import EXCLUSION_REASONS

DOC = Path(__file__).resolve().parents[1] / "docs" / "schema.md"


def schema_markdown() -> str:
    out = ["# The canonical cohort schema", "",
           "Generated from `metsurv.schema` by `tests/test_docs.py` (which also checks that it is",
           "current). Mapping files that translate a registry into it: `docs/mapping.md`.", "",
           f"Months are {schema.DAYS_PER_MONTH} days. DFI groups "
           f"{', '.join(schema.DFI_GROUPS)} months; metastases "
           f"{', '.join(schema.N_METASTASES_GROUPS)}; IRLM groups {', '.join(schema.IRLM_GROUPS)}.",
           ""]
    for title, fields in (("Patients table (one row per patient)", schema.PATIENT_FIELDS),
                          ("Resections table (one row per pulmonary metastasectomy)",
                           schema.RESECTION_FIELDS)):
        out += [f"## {title}", "", "| field | kind | codes | derived | notes |",
                "|---|---|---|---|---|"]
        out += [f"| `{f.name}` | {f.kind} | {', '.join(f.codes)} | {'yes' if f.derived else ''} "
                f"| {f.description} |" for f in fields]
        out.append("")
    out += ["A table needs `patient_id` and an outcome: either `metastasectomy_date` + "
            "`last_followup_date` + `vital_status`, or `os_months` + `os_event`. With a "
            "resections table the time origin may come from the first operation.", "",
            "Delayed entry (left truncation): a table that records `registry_entry_date` (or "
            "an analysis-ready `entry_months`) gets `entry_months`, and `metsurv.stats` "
            "analyses `os_months`/`dfs_months` of the cohort from it by default, as R "
            "`Surv(entry_months, os_months, os_event)`; `start=False` ignores it.", "",
            "Exclusion reasons, in the order a row is counted under:", ""]
    out += [f"- {r}" for r in EXCLUSION_REASONS]
    return "\n".join(out) + "\n"


def test_schema_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == schema_markdown(), (
        "docs/schema.md is stale: run .venv/bin/python tests/test_docs.py")


if __name__ == "__main__":
    DOC.write_text(schema_markdown(), encoding="utf-8")
