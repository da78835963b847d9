"""The ``metsurv`` command: synth | validate | km | cox | irlm | report.

The shell around the functional core: it reads files, prints, and turns every file-level
problem into one line on stderr and exit status 2 (never a traceback; ``--debug`` shows one).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError

EXIT_OK, EXIT_INTERNAL, EXIT_INPUT = 0, 1, 2


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False))


def _load(args: argparse.Namespace):
    from metsurv.io import load_cohort

    return load_cohort(_source(args), mapping=args.mapping,
                       resections=getattr(args, "resections", None))


def _source(args: argparse.Namespace):
    """The SOURCE argument, as a database query when --table or --query is given."""
    from metsurv.io import SqlSource

    if args.table or args.query:
        return SqlSource(args.source, query=args.query, table=args.table)
    return args.source


def _survival_table(args: argparse.Namespace):
    """A cohort's patients, or (with --time/--event) any survival table the loader can read."""
    if args.time is None and args.event is None:
        cohort = _load(args)
        by = getattr(args, "by", None)
        if by and by not in cohort.patients:
            raise CohortError(f"{cohort.provenance['source']}: the cohort has no field {by!r} "
                              f"to group by (fields: {list(cohort.patients.columns)}).")
        return cohort.patients, "os_months", "os_event"
    from metsurv.io import read_mapping, read_table

    m = read_mapping(args.mapping)
    raw = read_table(_source(args), **m.patients.source)
    frame = raw.frame.rename(columns=m.patients.columns)
    time, event = args.time or "os_months", args.event or "os_event"
    covariates = [c for c in (getattr(args, "covariates", "") or "").split(",") if c]
    used = [time, event, *covariates,
            *(c for c in (getattr(args, "by", None), getattr(args, "strata", None),
                          getattr(args, "cluster", None)) if c)]
    for col in used:
        if col not in frame:
            raise CohortError(f"{raw.source}: there is no column {col!r} (columns: "
                              f"{list(frame.columns)[:30]}); check --time/--event/--by, "
                              "--covariates/--strata/--cluster.")
    table = _numbers_where_numeric(frame[list(dict.fromkeys(used))], raw, time, event,
                                   m.patients)
    return table, time, event


def _numbers_where_numeric(frame, raw, time: str, event: str, tm):
    """A plain survival table: the mapping's missing codes, decimal mark and time unit applied;
    numbers where a column is all numbers; the event as 0/1."""
    from metsurv.io.convert import parse_numbers
    from metsurv.schema import (
        BOOLEAN_SYNONYMS,
        DAYS_PER_MONTH,
        DAYS_PER_UNIT,
        FIELD_BOOLEAN_SYNONYMS,
        normalise_token,
        raw_key,
    )

    frame = frame.copy()
    for col in frame.columns:
        codes = tm.missing_codes(col)
        missing = frame[col].map(lambda v, codes=codes: pd.isna(v) or raw_key(v) in codes)
        frame[col] = frame[col].astype(object).where(~missing.to_numpy(dtype=bool), None)
    out = frame.copy()
    for col in out.columns:
        num = parse_numbers(out[col], tm.source.get("decimal", raw.decimal))
        present = out[col].notna() & (out[col].astype(str).str.strip() != "")
        if col == time or not (present & pd.isna(num)).any():
            out[col] = num
    yes_no = BOOLEAN_SYNONYMS | FIELD_BOOLEAN_SYNONYMS["os_event"]
    ev = frame[event].map(lambda v: yes_no.get(normalise_token(v)) if pd.notna(v) else None)
    bad = frame[event].notna() & ev.isna()
    if bad.any():
        row = int(raw.rows[np.flatnonzero(bad.to_numpy())[0]])
        raise CohortError(f"{raw.source}: row {row}, column {event!r}: {frame[event][bad].iloc[0]!r}"
                          " is not an event code (use 1/0, true/false, dead/alive).")
    out[event] = ev.astype(float)
    if time in tm.units:  # e.g. units: {os_months: days}
        out[time] = out[time] * (DAYS_PER_UNIT[tm.units[time]] / DAYS_PER_MONTH)
    for col, values in ((time, out[time]),):
        negative = values < 0
        if negative.any():
            row = int(raw.rows[np.flatnonzero(negative.to_numpy())[0]])
            raise CohortError(f"{raw.source}: row {row}, column {col!r}: negative time "
                              f"{values[negative].iloc[0]!r}; times must be >= 0.")
    return out


def cmd_validate(args: argparse.Namespace) -> int:
    cohort = _load(args)
    if args.json:
        _print_json(cohort.to_dict())
        return EXIT_OK
    print(cohort.summary())
    print("\nFlow")
    print(cohort.flow.fillna("").to_string(index=False))
    shown = cohort.findings.head(args.max_findings)
    if len(shown):
        print(f"\nFindings (first {len(shown)} of {len(cohort.findings)}; all with --json)")
        print(shown.drop(columns=["reason"]).to_string(index=False, na_rep=""))
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    from metsurv.synthetic.cli import synth_command

    out = synth_command(preset=args.preset, n=args.n, seed=args.seed, dialect=args.dialect,
                        outcome=args.outcome, out=args.out)
    print(f"wrote {out}")
    return EXIT_OK


def cmd_km(args: argparse.Namespace) -> int:
    from metsurv.stats.cli import format_km, km_json

    data, time, event = _survival_table(args)
    times = [float(t) for t in args.times.split(",")] if args.times else None
    result = km_json(data, time=time, event=event, by=args.by, times=times,
                     conf_type=args.conf_type, extend=args.extend)
    if args.json:
        _print_json(result)
    else:
        print(format_km(result))
    return EXIT_OK


def cmd_cox(args: argparse.Namespace) -> int:
    from metsurv.stats.cli import cox_json, format_cox

    data, time, event = _survival_table(args)
    covariates = [c.strip() for c in args.covariates.split(",") if c.strip()]
    absent = [c for c in (*covariates, args.strata, args.cluster) if c and c not in data]
    if absent:
        raise CohortError(f"{args.source}: there is no column {absent[0]!r} (columns: "
                          f"{list(data.columns)[:30]}); check --covariates/--strata/--cluster.")
    result = cox_json(data, time=time, event=event, covariates=covariates, ties=args.ties,
                      strata=args.strata, robust=args.robust, cluster=args.cluster)
    if args.json:
        _print_json(result)
    else:
        print(format_cox(result))
    return EXIT_OK


def cmd_irlm(args: argparse.Namespace) -> int:
    from metsurv.stats.cli_irlm import battery_json, format_battery

    cohort = _load(args)
    result = battery_json(cohort)
    if args.json:
        _print_json(result)
    else:
        print(format_battery(result))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from metsurv.report.build import report_command

    out = report_command(args.config, out=args.out)
    print(f"report written to {out}")
    return EXIT_OK


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _add_source(p: argparse.ArgumentParser, resections: bool = True) -> None:
    p.add_argument("source", help="registry export: CSV/TSV, .xlsx, Parquet, SAS, Stata, SPSS, "
                                  "or a DuckDB/SQLite database file")
    p.add_argument("--mapping", help="mapping YAML (docs/mapping.md)")
    p.add_argument("--table", help="database file: the table to read")
    p.add_argument("--query", help="database file: the SQL query to run")
    if resections:
        p.add_argument("--resections", help="resections table (one row per metastasectomy)")


def _add_survival(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time", help="time column of any survival table (default os_months)")
    p.add_argument("--event", help="event column (1/0, true/false; default os_event)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metsurv", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="load, validate and summarise a cohort")
    _add_source(p)
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("--max-findings", type=int, default=50, help="findings shown as text")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("synth", help="write a synthetic registry cohort")
    p.add_argument("--preset", required=True, choices=["irlm1997", "sarcoma"])
    p.add_argument("--n", type=_positive_int, default=None, help="number of patients")
    p.add_argument("--seed", type=_non_negative_int, default=0)
    p.add_argument("--dialect", default=None, choices=["de_registry", "it_xlsx"],
                   help="write as a messy registry export")
    p.add_argument("--outcome", choices=["calibrated", "ph"], default="calibrated")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("km", help="Kaplan-Meier estimates and log-rank tests")
    _add_source(p, resections=False)
    _add_survival(p)
    p.add_argument("--by", help="grouping column")
    p.add_argument("--times", help="comma-separated times, e.g. 12,36,60; a time after a "
                   "group's last follow-up is left out (R summary(fit, times))")
    p.add_argument("--extend", action="store_true",
                   help="keep times after the last follow-up: at risk 0, last estimate "
                   "carried forward (R extend = TRUE)")
    p.add_argument("--conf-type", choices=["log", "log-log", "plain"], default="log-log")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_km)

    p = sub.add_parser("cox", help="Cox proportional-hazards model and PH test")
    _add_source(p, resections=False)
    _add_survival(p)
    p.add_argument("--covariates", required=True,
                   help="comma-separated columns; a categorical one is coded against the "
                   "reference level the JSON lists under 'references' (R: relevel())")
    p.add_argument("--ties", choices=["efron", "breslow"], default="efron")
    p.add_argument("--strata", default=None)
    p.add_argument("--robust", action="store_true",
                   help="robust (sandwich) SE, as R coxph(robust = TRUE)")
    p.add_argument("--cluster", default=None, metavar="COL",
                   help="robust SE clustered on COL, as R cluster(COL); implies --robust")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_cox)

    p = sub.add_parser("irlm", help="the IRLM comparison battery")
    _add_source(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_irlm)

    p = sub.add_parser("report", help="build the study report (HTML, PDF, figures, tables)")
    p.add_argument("config", nargs="?", default=None,
                   help="study config YAML or a data file; none = the bundled irlm1997 cohort")
    p.add_argument("--out", default=None, help="output directory")
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except CohortError as exc:
        if args.debug:
            raise
        print(f"metsurv: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and closed early: not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # the shell never shows a raw traceback (use --debug for one)
        if args.debug:
            raise
        print(f"metsurv: internal error ({type(exc).__name__}: {exc}); rerun with --debug and "
              "report it.", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
