"""Reading the input of a subcommand: a cohort (through the loader) or, for ``km`` and
``cox`` with ``--time``/``--event``, any survival table the loader can read.

A plain survival table gets the mapping's missing codes, decimal mark and time units; the
event becomes 0/1. A value that is not a number in the time, ``--start`` or ``--weights``
column, or a negative time, is refused with its row (as the file counts lines) and value
printed as a person writes it: these are data problems (exit status 2), not findings. An
infinite censoring time (``Inf``, ``inf``) is a number and is kept, as R keeps it; ``NA``
means missing, as in R.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metsurv.errors import CohortError
from metsurv.format import format_num
from metsurv.schema import ENDPOINTS

#: The default endpoint of km/cox (overall survival), and the time columns of every endpoint
#: (analysed from the loader's entry time by default).
_OS = ENDPOINTS["os"]
_ENDPOINT_TIMES = tuple(e.time for e in ENDPOINTS.values())


@dataclass(frozen=True)
class SurvivalInput:
    """What km/cox need: ``data`` (a Cohort, so that its entry time is the default start, or
    a DataFrame), the names of its time and event columns, and its columns."""

    data: Any
    time: str
    event: str
    columns: tuple[str, ...]
    name: str
    #: a cohort's records read and excluded at loading (by reason), so that the answer
    #: accounts for every record: {"read": n, "excluded": [{"reason", "count"}]}; None for a
    #: plain survival table (whose dropped rows are the result's ``n_dropped``)
    cohort_flow: dict[str, Any] | None = None


def with_flow(result: dict[str, Any], text: str, inp: SurvivalInput) -> tuple[dict, str]:
    """``result`` with the key "cohort_flow" (JSON) and ``text`` with a first line saying how
    many records the cohort read and excluded at loading, and why."""
    if inp.cohort_flow is None:
        return result, text
    flow = inp.cohort_flow
    line = f"Cohort: {flow['read']} records read"
    if flow["excluded"]:
        why = "; ".join(f"{e['reason']}: {e['count']}" for e in flow["excluded"])
        line += (f", {sum(e['count'] for e in flow['excluded'])} excluded at loading ({why};"
                 " metsurv validate lists them)")
    return {**result, "cohort_flow": flow}, f"{line}\n{text}"


def source_of(args: argparse.Namespace) -> Any:
    """The SOURCE argument, as a database query when --table or --query is given."""
    from metsurv.io import SqlSource

    if getattr(args, "table", None) or getattr(args, "query", None):
        return SqlSource(args.source, query=args.query, table=args.table)
    return args.source


def load(args: argparse.Namespace):
    """The cohort of SOURCE, through --mapping (and --resections where the command has it),
    with --today as the export date."""
    from metsurv.io import load_cohort
    from metsurv.io.read.errors import require_input

    for option in ("--mapping", "--resections"):  # one wording with `metsurv report`
        require_input(option, getattr(args, option[2:], None))
    return load_cohort(source_of(args), mapping=args.mapping,
                       resections=getattr(args, "resections", None),
                       today=getattr(args, "today", None))


def survival_input(args: argparse.Namespace, columns: list[str]) -> SurvivalInput:
    """The cohort's patients (no --time/--event) or the survival table of SOURCE, checked to
    hold the time, event and every column in ``columns`` (None entries ignored)."""
    wanted = [c for c in columns if c]
    if args.time is None and args.event is None:
        cohort = load(args)
        name = str(cohort.provenance.get("source", args.source))
        absent = [c for c in wanted if c not in cohort.patients]
        if absent:
            raise CohortError(f"{name}: the cohort has no field {absent[0]!r} (fields: "
                              f"{list(cohort.patients.columns)}); give a canonical field, or "
                              "--time/--event to read the file as a plain survival table.")
        flow = {"read": cohort.n_read,
                "excluded": cohort.excluded().to_dict(orient="records")}
        return SurvivalInput(cohort, _OS.time, _OS.event, tuple(cohort.patients.columns),
                             name, flow)
    from metsurv.io import read_mapping, read_table

    m = read_mapping(args.mapping)
    raw = read_table(source_of(args), **m.patients.source)
    frame = raw.frame.rename(columns=m.patients.columns)
    time, event = args.time or _OS.time, args.event or _OS.event
    for col in wanted:
        if col in (time, event):
            raise CohortError(f"{raw.source}: column {col!r} is the "
                              f"{'time' if col == time else 'event'} column; it cannot also be "
                              "a grouping column, covariate, stratum, start or weight.")
    start = getattr(args, "start", None)
    if start is None and time in _ENDPOINT_TIMES and "entry_months" in frame:
        # the loader's entry time: delayed entry by default, as for a loaded cohort
        start = "entry_months"
        wanted = [*wanted, start]
    used = list(dict.fromkeys([time, event, *wanted]))
    for col in used:
        if col not in frame:
            raise CohortError(f"{raw.source}: there is no column {col!r} (columns: "
                              f"{list(frame.columns)[:30]}); check --time/--event/--start/"
                              "--weights/--by/--covariates/--strata/--cluster.")
    table = _plain_table(frame[used], raw, time, event, start,
                         getattr(args, "weights", None), m.patients)
    return SurvivalInput(table, time, event, tuple(table.columns), str(raw.source))


def _plain_table(frame: pd.DataFrame, raw, time: str, event: str, start: str | None,
                 weights: str | None, tm) -> pd.DataFrame:
    """Missing codes, decimal mark and units (of time and start) applied; numbers where a
    column is all numbers, and always in time, start and weights (refusing text there); the
    event as 0/1."""
    from metsurv.io.convert import parse_numbers
    from metsurv.schema import (
        BOOLEAN_SYNONYMS,
        DAYS_PER_MONTH,
        DAYS_PER_UNIT,
        FIELD_BOOLEAN_SYNONYMS,
        normalise_token,
        raw_key,
    )

    def row_of(mask: pd.Series) -> int:
        return int(raw.rows[np.flatnonzero(mask.to_numpy())[0]])

    times = [c for c in (time, start) if c]
    numeric = [*times, *([weights] if weights else [])]
    frame = frame.copy()
    for col in frame.columns:
        # "NA" is R's missing value (read.csv na.strings): a survival table written by R
        # marks a missing time so, and R's answer drops those rows.
        codes = tm.missing_codes(col) | {raw_key("NA")}
        missing = frame[col].map(lambda v, codes=codes: pd.isna(v) or raw_key(v) in codes)
        frame[col] = frame[col].astype(object).where(~missing.to_numpy(dtype=bool), None)
    out = frame.copy()
    for col in out.columns:
        num = parse_numbers(out[col], tm.source.get("decimal", raw.decimal))
        present = out[col].notna() & (out[col].astype(str).str.strip() != "")
        text = present & pd.isna(num)
        if col in numeric and text.any():
            raise CohortError(f"{raw.source}: row {row_of(text)}, column {col!r}: "
                              f"{frame[col][text].iloc[0]!r} is not a number; correct it, or "
                              "list it under 'missing:' in a mapping (--mapping) if it means "
                              "not recorded.")
        if col in numeric or not text.any():
            out[col] = num
    yes_no = BOOLEAN_SYNONYMS | FIELD_BOOLEAN_SYNONYMS["os_event"]
    ev = frame[event].map(lambda v: yes_no.get(normalise_token(v)) if pd.notna(v) else None)
    bad = frame[event].notna() & ev.isna()
    if bad.any():
        raise CohortError(f"{raw.source}: row {row_of(bad)}, column {event!r}: "
                          f"{frame[event][bad].iloc[0]!r} is not an event code (use 1/0, "
                          "true/false, dead/alive).")
    out[event] = ev.astype(float)
    for col in times:
        if col in tm.units:  # e.g. units: {os_months: days}
            out[col] = out[col] * (DAYS_PER_UNIT[tm.units[col]] / DAYS_PER_MONTH)
    negative = out[time] < 0
    if negative.any():
        raise CohortError(f"{raw.source}: row {row_of(negative)}, column {time!r}: negative "
                          f"time {format_num(out[time][negative].iloc[0], '{:.10g}')}; times are "
                          "measured from the time origin and must be >= 0.")
    return out


#: Most groups a grouping column (km --by, cox --strata, a categorical covariate) may have:
#: a column with more is an identifier or a continuous measurement given by mistake, and
#: comparing its values would run for minutes (a log-rank test over k groups needs a k x k
#: variance matrix; --by patient_id over 20,000 patients ran past two minutes).
MAX_GROUPS = 50


def check_groups(inp: SurvivalInput, columns: dict[str | None, str],
                 categorical_only: bool = False) -> None:
    """Refuse a grouping column with more than :data:`MAX_GROUPS` distinct values, naming the
    option and the column (never a value: it may be an identifier).

    ``columns`` maps a column (None: not given) to the option that named it; with
    ``categorical_only`` numeric columns are skipped (a Cox covariate that is a number is a
    slope, not groups).

    Raises
    ------
    CohortError
        Naming the file, the option, the column, its number of values and the limit.
    """
    frame = getattr(inp.data, "patients", inp.data)
    for column, option in columns.items():
        if column is None or column not in frame:
            continue
        values = frame[column]
        if categorical_only and (pd.api.types.is_numeric_dtype(values)
                                 or pd.api.types.is_bool_dtype(values)):
            continue
        n = int(values.nunique(dropna=True))
        if n > MAX_GROUPS:
            raise CohortError(
                f"{inp.name}: {option} {column!r} has {n} different values; at most "
                f"{MAX_GROUPS} groups are compared (is it an identifier or a measurement? "
                "group its values into a new column first)")

