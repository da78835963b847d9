"""``metsurv report``: build the study report (:func:`metsurv.report.build.report_command`)."""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import EXIT_OK
from ._output import Notes, catching


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="build the study report (HTML, PDF, figures, tables)",
        description="Build the study report into --out. The report is built beside the "
                    "folder and swapped in at the end, so a failed or killed build leaves the "
                    "previous report (the next build restores it and removes what the killed "
                    "build left). An existing --out is replaced only if it is empty or a "
                    "metsurv report; files in it that metsurv did not write (your notes.txt) "
                    "are kept in the new report, and a build that would overwrite one of "
                    "them is refused with their list. One build per folder at a time.")
    p.add_argument("config", nargs="?", default=None,
                   help="study config YAML or a data file; none = the bundled irlm1997 cohort")
    p.add_argument("--out", default=None,
                   help="output directory (your own files in it are kept)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from metsurv.report.build import report_command

    notes = Notes()
    with catching(notes):
        out = report_command(args.config, out=args.out)
    for w in notes.texts:
        print(f"metsurv: warning: {w}", file=sys.stderr)
    print(f"report written to {out}")
    return EXIT_OK
