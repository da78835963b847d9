"""Apply a mapping to a raw table: canonical column names, codes, dates, numbers and units.

Work is done on the distinct values of each column (``pd.factorize``) and mapped back, so a
million-row registry with a few thousand distinct dates converts in well under a second.
A value that cannot be read becomes missing and leaves a finding; for the fields an analysis
cannot do without (``schema.REQUIRED_FOR_ANALYSIS``) the positions are handed back so that
validation can exclude those rows with the right reason instead.
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.errors import CohortError
from metsurv.io.findings import FindingLog
from metsurv.io.mapping import TableMapping
from metsurv.io.read import RawTable

#: Date formats tried, in order, when the mapping names none: ISO 8601 and the dotted
#: day-first form of German-speaking registries (never ambiguous with US month-first).
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
#: Dates outside these years are implausible for a metastasectomy registry.
PLAUSIBLE_YEARS = (1900, 2100)


@dataclass(frozen=True)
class Converted:
    """Canonical values of one raw table, aligned by position with the raw rows."""

    frame: pd.DataFrame
    #: canonical field -> source column name (for findings and messages)
    source_columns: dict[str, str]
    #: required field -> positions whose value was present but unreadable / unknown
    bad_required: dict[str, np.ndarray]
    #: required field -> raw values at those positions
    bad_values: dict[str, np.ndarray]


def match_columns(raw: RawTable, tm: TableMapping, table: str, log: FindingLog) -> dict[str, str]:
    """canonical field -> source column, from the mapping and canonical names in the file."""
    known = schema.PATIENTS if table == "patients" else schema.RESECTIONS
    # Excel on macOS writes decomposed umlauts (NFD); compare names in one normal form
    nfc = {unicodedata.normalize("NFC", str(c)): c for c in raw.frame.columns}
    tm = replace(tm, columns={nfc.get(unicodedata.normalize("NFC", k), k): v
                              for k, v in tm.columns.items()})
    present = list(raw.frame.columns)
    missing_sources = [c for c in tm.columns if c not in present]
    if missing_sources:
        raise CohortError(
            f"{raw.source}: the mapping names column(s) {missing_sources} that the {table} table "
            f"does not have (it has {present[:30]}); correct the mapping's 'columns'."
        )
    chosen = {dst: src for src, dst in tm.columns.items()}
    by_lower = {str(c).strip().lower(): c for c in present}
    for name in known:
        if name not in chosen and name in by_lower and by_lower[name] not in tm.columns:
            chosen[name] = by_lower[name]
    used = set(chosen.values())
    for col in present:
        if col not in used:
            log.add_table(str(col), None, "column not mapped (ignored)", "info")
    return chosen


def _raw_text(uniques: pd.Index) -> pd.Series:
    """Distinct raw values as stripped text; whole-number floats without ".0" (12.0 -> "12")."""
    s = pd.Series(uniques, dtype=object)
    is_num = s.map(type).isin([float, np.float64]).to_numpy()
    if is_num.any():
        num = s[is_num].astype(float)
        whole = np.isfinite(num.to_numpy()) & (num == np.round(num)).to_numpy()
        # "%.0f", not int(): ids such as 1e19 must not overflow into one another
        s.loc[s[is_num].index[whole]] = [f"{v:.0f}" for v in num[whole]]
    return s.astype(str).str.strip()


def _missing_status(text: pd.Series, tm: TableMapping, name: str) -> np.ndarray:
    """1 where a value is a missing-value code (compared as ``schema.raw_key``), else 0."""
    return np.where(text.str.casefold().isin(tm.missing_codes(name)).to_numpy(), 1, 0)


def _convert_uniques(kind: str, name: str, uniques: pd.Index, tm: TableMapping,
                     decimal: str) -> tuple[object, np.ndarray]:
    """(values for each distinct raw value, status: 0 ok, 1 coded missing, 2 unreadable)."""
    text = _raw_text(uniques)
    status = _missing_status(text, tm, name)
    if kind in ("id", "text"):
        return text.to_numpy(dtype=object), status
    # codes and yes/no values are looked up folded: case, accents, spaces, punctuation
    tokens = [schema.normalise_token(t) for t in text]  # distinct values only, not rows
    if kind in ("code", "bool"):
        # the mapping's code table first, then the built-in synonyms
        builtin = (schema.SYNONYMS.get(name, {}) if kind == "code" else
                   {**schema.BOOLEAN_SYNONYMS, **schema.FIELD_BOOLEAN_SYNONYMS.get(name, {})})
        table = {**builtin, **tm.codes.get(name, {})}
        vals = np.array([table.get(t) for t in tokens], dtype=object)
        status = np.where((status == 0) & (vals == None), 2, status)  # noqa: E711
        return vals, status
    if kind == "date":
        return _dates(uniques, tm.date_format(name), status)
    if kind in ("float", "int"):
        num = parse_numbers(pd.Series(uniques), decimal)
        bad = np.isnan(num) | np.isinf(num)
        if kind == "int":
            bad |= ~np.isnan(num) & (num != np.round(num))
        status = np.where((status == 0) & bad, 2, status)
        num = np.where(status == 0, num, np.nan)
        return num, status
    raise AssertionError(kind)


def parse_numbers(values: pd.Series, decimal: str = ".") -> np.ndarray:
    """Numbers from numeric or text values (NaN where unreadable), correctly rounded.

    >>> parse_numbers(pd.Series(["1.234,5", "x", " 7 ", "65.5", "2,5"]), decimal=",").tolist()
    [1234.5, nan, 7.0, 65.5, 2.5]
    """
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    text = values.astype(str).str.strip()
    if decimal == ",":
        # "1.234,5" -> 1234.5: dots go only where they group thousands; "65.5" in a
        # decimal-comma export stays 65.5 (a point decimal), never 655.
        grouped = text.str.fullmatch(r"-?\d{1,3}(\.\d{3})+(,\d*)?")
        text = text.where(~grouped, text.str.replace(".", "", regex=False))
        text = text.str.replace(",", ".", regex=False)
    num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    # pandas' fast parser can be one ulp off (it would split near-tied times apart);
    # re-read the valid ones with the correctly rounded parser.
    ok = ~np.isnan(num)
    num[ok] = text[ok].astype(float).to_numpy()
    return num


def _naive_date(v: object) -> object:
    """A typed date or datetime as local wall-clock time (a time zone dropped, not converted:
    a date recorded at local midnight stays that date); anything else None."""
    if isinstance(v, (_dt.datetime, pd.Timestamp)) and v.tzinfo is not None:
        return v.replace(tzinfo=None)
    return v if isinstance(v, (_dt.date, np.datetime64)) else None


def _dates(uniques: pd.Index, fmt: str | None, status: np.ndarray) -> tuple[object, np.ndarray]:
    values = pd.Series(uniques, dtype=object)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    is_text = values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
    typed = ~is_text
    if typed.any():  # datetimes from Excel, SAS, SPSS, Stata, DuckDB, or date objects
        native = values[typed].map(_naive_date)
        out[typed] = pd.to_datetime(native, errors="coerce")
    if is_text.any():
        text = values[is_text].str.strip()
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        for f in (fmt,) if fmt else DEFAULT_DATE_FORMATS:
            todo = parsed.isna()
            if not todo.any():
                break
            parsed[todo] = pd.to_datetime(text[todo], format=f, errors="coerce")
        out[is_text] = parsed
    year = out.dt.year
    implausible = out.notna() & ((year < PLAUSIBLE_YEARS[0]) | (year > PLAUSIBLE_YEARS[1]))
    out[implausible] = pd.NaT
    status = np.where((status == 0) & out.isna().to_numpy(), 2, status)
    out[status != 0] = pd.NaT
    return out.dt.normalize().to_numpy(dtype="datetime64[ns]"), status


def _empty(kind: str, n: int) -> object:
    if kind == "date":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if kind in ("float", "int"):
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


def typed_column(kind: str, codes: tuple[str, ...], values: object) -> pd.Series:
    """The pandas dtype metsurv uses for each field kind (codes as Categorical in schema order)."""
    if kind == "code":
        return pd.Series(pd.Categorical(values, categories=list(codes)))
    if kind == "bool":
        return pd.Series(pd.array(values, dtype="boolean"))
    if kind == "int":
        return pd.Series(pd.array(values, dtype="Float64")).astype("Int64")
    if kind == "float":
        return pd.Series(np.asarray(values, dtype=float))
    if kind == "date":
        return pd.Series(np.asarray(values, dtype="datetime64[ns]"))
    return pd.Series(pd.array(values, dtype=object)).astype(object)


def convert(raw: RawTable, tm: TableMapping, table: str, log: FindingLog) -> Converted:
    """Canonical, typed columns for one raw table; problems go to ``log``."""
    known = schema.PATIENTS if table == "patients" else schema.RESECTIONS
    chosen = match_columns(raw, tm, table, log)
    n = len(raw.frame)
    frame: dict[str, pd.Series] = {}
    bad_required: dict[str, np.ndarray] = {}
    bad_values: dict[str, np.ndarray] = {}
    required = set(schema.REQUIRED_FOR_ANALYSIS) if table == "patients" else {
        "patient_id", "operation_date"}
    for name, src in chosen.items():
        fld = known[name]
        column = raw.frame[src]
        idx, uniques = pd.factorize(column, use_na_sentinel=True)
        if len(uniques):
            decimal = tm.source.get("decimal", raw.decimal)  # the mapping knows best
            vals, status = _convert_uniques(fld.kind, name, pd.Index(uniques, dtype=object), tm,
                                            decimal)
            has = idx >= 0
            safe = np.where(has, idx, 0)
            row_vals = np.asarray(vals)[safe]
            row_status = np.where(has, status[safe], 1)
        else:  # nothing but empty cells
            row_vals, row_status = _empty(fld.kind, n), np.ones(n, dtype=np.int64)
        if fld.kind == "date":
            row_vals = np.where(row_status == 0, row_vals, np.datetime64("NaT"))
        elif fld.kind in ("float", "int"):
            row_vals = np.where(row_status == 0, row_vals, np.nan)
        else:
            row_vals = np.where(row_status == 0, row_vals, None)
        if fld.kind in ("float", "int") and name in tm.units:
            row_vals = row_vals * (schema.DAYS_PER_UNIT[tm.units[name]] / schema.DAYS_PER_MONTH)
        bad = np.flatnonzero(row_status == 2)
        raw_bad = column.to_numpy(dtype=object)[bad]
        if name in required:
            bad_required[name], bad_values[name] = bad, raw_bad
        else:
            _log_bad_optional(log, fld, str(src), bad, raw_bad)
        if fld.minimum is not None and fld.kind in ("float", "int") and name not in required:
            below = np.flatnonzero(row_vals < fld.minimum)
            if below.size:
                log.add(below, str(src), column.to_numpy(dtype=object)[below],
                        f"{name} below {fld.minimum:g} (set to missing)", "warning")
                row_vals = row_vals.copy()
                row_vals[below] = np.nan
        frame[name] = typed_column(fld.kind, fld.codes, row_vals)
    out = pd.DataFrame(frame, index=pd.RangeIndex(n))
    return Converted(out, {k: str(v) for k, v in chosen.items()}, bad_required, bad_values)


def _log_bad_optional(log: FindingLog, fld: schema.Field, src: str, positions: np.ndarray,
                      values: np.ndarray) -> None:
    if fld.kind == "code":
        rule = f"unknown {fld.name} code (set to missing; allowed: {', '.join(fld.codes)})"
    elif fld.kind == "bool":
        rule = f"not a yes/no value for {fld.name} (set to missing)"
    elif fld.kind == "date":
        rule = f"unreadable or implausible date for {fld.name} (set to missing)"
    elif fld.kind == "int":
        rule = f"not a whole number for {fld.name} (set to missing)"
    else:
        rule = f"not a number for {fld.name} (set to missing)"
    log.add(positions, src, values, rule, "warning")
