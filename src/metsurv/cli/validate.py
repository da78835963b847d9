"""``metsurv validate``: load, validate and summarise a cohort (the cohort's ``to_dict()``
with ``--json``; its summary, flow and first findings as text)."""

from __future__ import annotations

import argparse
from typing import Any

from metsurv.errors import CohortError

from ._args import add_json, add_source
from ._data import load
from ._errors import EXIT_OK
from ._output import Notes, catching, emit


def add_parser(sub: Any) -> None:
    p = sub.add_parser("validate", help="load, validate and summarise a cohort")
    add_source(p)
    add_json(p)
    p.add_argument("--max-findings", type=int, default=50, help="findings shown as text")
    p.set_defaults(func=run)


def _text(cohort: Any, max_findings: int) -> str:
    lines = [cohort.summary(), "", "Flow", cohort.flow.fillna("").to_string(index=False)]
    shown = cohort.findings.head(max_findings)
    if len(shown):
        lines += ["", f"Findings (first {len(shown)} of {len(cohort.findings)}; all with --json)",
                  shown.drop(columns=["reason"]).to_string(index=False, na_rep="")]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    notes = Notes()
    with catching(notes):
        cohort = load(args)
        if cohort.n_analysed == 0:  # exit 2: a cohort nobody can analyse is not valid
            from metsurv.io.load import no_patient_message

            raise CohortError(no_patient_message(cohort))
        payload = cohort.to_dict()
        text = "" if args.json else _text(cohort, args.max_findings)
    emit(payload, text, args.json, notes)
    return EXIT_OK
