"""``metsurv report``: build the study report (:func:`metsurv.report.build.report_command`)."""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import EXIT_OK
from ._output import Notes, catching


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="build the study report (HTML, PDF, figures, tables)")
    p.add_argument("config", nargs="?", default=None,
                   help="study config YAML or a data file; none = the bundled irlm1997 cohort")
    p.add_argument("--out", default=None, help="output directory")
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
