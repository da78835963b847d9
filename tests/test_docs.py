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
        out += [f"## {title}", "", "| field | kind | codes | plausible range | derived | notes |",
                "|---|---|---|---|---|---|"]
        out += [f"| `{f.name}` | {f.kind} | {', '.join(f.codes)} | {f.range_text()} "
                f"| {'yes' if f.derived else ''} | {f.description} |" for f in fields]
        out.append("")
    out += ["A table needs `patient_id` and an outcome: either `metastasectomy_date` + "
            "`last_followup_date` + `vital_status`, or `os_months` + `os_event`. With a "
            "resections table the time origin may come from the first operation.", "",
            "Delayed entry (left truncation): a table that records `registry_entry_date` (or "
            "an analysis-ready `entry_months`) gets `entry_months`, and `metsurv.stats` "
            "analyses `os_months`/`dfs_months` of the cohort from it by default, as R "
            "`Surv(entry_months, os_months, os_event)`; `start=False` ignores it.", "",
            "Plausibility: a number outside its plausible range, or a date before "
            f"{schema.EARLIEST_DATE} or after the export date (`load_cohort(..., today=)`, "
            "default the machine's date, recorded in the provenance), is missing with a "
            "finding in an optional field and excludes the row (\"implausible required "
            "value\") in a required one; a negative given time is \"negative time\". An "
            "out-of-range value that is a conventional missing code ("
            f"{', '.join(f'{c:g}' for c in schema.CONVENTIONAL_MISSING_CODES)}) is flagged "
            "as one; a count equal to such a code inside its range (99 metastases) is kept with a warning. A number that "
            "fits its range only under the other decimal mark (\"2.500\" months in a "
            "decimal-comma file), or a column whose dots may group thousands or mark "
            "decimals when the mapping gives no `source.decimal`, is missing with a finding, "
            "never the other number. Integers never wrap.", "",
            "Codes are compared as written: case, accents, surrounding white space and "
            "separators inside a word are folded (`p-N1` is `pN1`, `R 0` is `R0`); a sign, a "
            "mark at either end and a mark between two digits are not (`-1` is never `1`, "
            "`1.` is not `1`, `2-3` is not `23`). A code that matches nothing is unknown. "
            "Numbers are read as numbers (`1.` is 1 in a numeric field); missing-value codes "
            "of the mapping compare stripped and case-folded, punctuation kept.", "",
            "Exclusion reasons, in the order a row is counted under:", ""]
    out += [f"- {r}" for r in EXCLUSION_REASONS]
    return "\n".join(out) + "\n"


def test_schema_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == schema_markdown(), (
        "docs/schema.md is stale: run .venv/bin/python tests/test_docs.py")


if __name__ == "__main__":
    DOC.write_text(schema_markdown(), encoding="utf-8")
