"""Apply a mapping to a raw table: canonical column names, codes, dates, numbers and units.

Work is done on the distinct values of each column (``pd.factorize``) and mapped back, so a
million-row registry with a few thousand distinct dates converts in well under a second.
A value that cannot be read, or lies outside its field's plausible range (``schema.Field``
``minimum``/``maximum``; dates from ``schema.EARLIEST_DATE`` to the export date ``today``),
becomes missing and leaves a finding; for the fields an analysis cannot do without
(``schema.REQUIRED_FOR_ANALYSIS``) the positions are handed back so that validation can
exclude those rows with the right reason instead.

How a value is compared, per kind: codes and yes/no values as written, with case, accents,
surrounding space and separators inside a word folded, never a sign or a mark at either end
(``schema.normalise_token``: "-1" is not "1"); numbers as numbers ("1." is 1, "-1" is -1 and
out of range for a count); missing-value codes by ``schema.raw_key``; ids and text as written.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.errors import CohortError
from metsurv.io.findings import FindingLog
from metsurv.io.mapping import TableMapping
from metsurv.io.read import RawTable, is_number

#: Date formats tried, in order, when the mapping names none: ISO 8601 and the dotted
#: day-first form of German-speaking registries (never ambiguous with US month-first).
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                        "%d.%m.%y", "%y-%m-%d")
#: Formats a text date column without a mapping format is tested against when the defaults
#: above do not read it (:func:`detect_date_format`): label -> strptime format. Month-first
#: forms are candidates too, so that a column whose days are all <= 12 is never guessed.
CANDIDATE_DATE_FORMATS = {"yyyy-mm-dd": "%Y-%m-%d", "dd/mm/yyyy": "%d/%m/%Y",
                          "mm/dd/yyyy": "%m/%d/%Y", "dd.mm.yyyy": "%d.%m.%Y",
                          "dd-mm-yyyy": "%d-%m-%Y", "mm-dd-yyyy": "%m-%d-%Y",
                          "yyyymmdd": "%Y%m%d"}
#: The "format" of Excel serial day numbers (days since 1899-12-30, Excel's 1900 system);
#: chosen only by detection, never a strptime format.
EXCEL_SERIAL = "excel serial day number"
_EXCEL_ORIGIN = pd.Timestamp("1899-12-30")
#: A date format with a two-digit year: its century is resolved by plausibility
#: (:func:`_two_digit_years`), never by the parser's pivot (which reads 66 as 2066).
_TWO_DIGIT_YEAR = "%y"
#: Status of a distinct raw value: read, a declared missing code, unreadable, and the ways a
#: readable value is implausible (below / above its range, a conventional missing code out of
#: range, a number that fits only under the other decimal mark, a column whose marks are
#: ambiguous).
OK, MISSING, UNREADABLE, LOW, HIGH, CODE_LIKE, OTHER_MARK, AMBIGUOUS = range(8)
#: A number under a SAS/Stata/SPSS user format whose labels are not in the file
#: (``RawTable.unlabelled``): a code nobody can read, never guessed ("1" is not R1 there).
UNLABELLED = 8
#: "1.234" / "12.500.000": dots that can group thousands. "1,234": a comma that can.
_DOT_GROUPED = r"[+-]?\d{1,3}(?:\.\d{3})+"
_COMMA_GROUPED = r"[+-]?\d{1,3},\d{3}"


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
    #: required field -> per position, why a readable value is implausible (None: unreadable)
    bad_rules: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class AmbiguousDateColumn:
    """A date column without a mapping format that several formats read, with different
    dates (:func:`detect_date_format`)."""

    source: str
    #: "patients" or "resections": the mapping block its key goes in
    table: str
    column: str
    #: the canonical field
    name: str
    #: (label, strptime format) of each candidate, e.g. ("dd/mm/yyyy", "%d/%m/%Y")
    formats: tuple[tuple[str, str], ...]
    #: a sample value with every digit shown as "#" (a patient's date is never quoted)
    shape: str

    def key(self, fmt: str) -> str:
        """The mapping entry that reads the column with ``fmt``."""
        entry = f'dates: {{{self.name}: "{fmt}"}}'
        return entry if self.table == "patients" else f"resections: {{{entry}}}"

    def text(self) -> str:
        """The column's part of the refusal: column, field, sample shape, candidates, keys."""
        labels = " or ".join(lb for lb, _ in self.formats)
        keys = " or ".join(self.key(f) for _, f in self.formats if f != EXCEL_SERIAL)
        field_name = f" ({self.name})" if self.column != self.name else ""
        return (f"column {self.column!r}{field_name}, values like {self.shape!r}, fits "
                f"{labels}: set {keys}")


def ambiguous_dates_message(columns: list[AmbiguousDateColumn]) -> str:
    """One line naming every ambiguous date column, file by file, so that the mapping is
    corrected once.

    Parameters
    ----------
    columns : list of AmbiguousDateColumn
        At least one, in the order the columns were read.

    Returns
    -------
    str
        e.g. ``"p.csv: 2 date columns fit more than one format with different dates (no
        day above 12 tells day from month): column 'op' (metastasectomy_date), values like
        '##/##/####', fits dd/mm/yyyy or mm/dd/yyyy: set dates: {metastasectomy_date:
        "%d/%m/%Y"} or ...; column ...; set the format of each in the mapping (docs/mapping.md)."``
        No patient's value is quoted: the sample's digits are shown as "#".
    """
    parts = []
    for source in dict.fromkeys(c.source for c in columns):
        mine = [c for c in columns if c.source == source]
        what = (f"{len(mine)} date columns fit" if len(mine) > 1 else
                "a date column fits")
        parts.append(f"{source}: {what} more than one format with different dates (no day "
                     "above 12 tells day from month): "
                     + "; ".join(c.text() for c in mine))
    return ("; ".join(parts) + "; set the format of "
            + ("each" if len(columns) > 1 else "it") + " in the mapping (docs/mapping.md).")


class AmbiguousDatesError(CohortError):
    """The refusal of one or more ambiguous date columns; ``columns`` lists them all."""

    def __init__(self, columns: list[AmbiguousDateColumn]):
        self.columns = tuple(columns)
        super().__init__(ambiguous_dates_message(list(self.columns)))


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
    if pd.api.types.infer_dtype(s, skipna=False) == "string":
        return _stripped(s)  # text only (a CSV column): no number to reformat
    is_num = s.map(type).isin([float, np.float64]).to_numpy()
    if is_num.any():
        num = s[is_num].astype(float)
        whole = np.isfinite(num.to_numpy()) & (num == np.round(num)).to_numpy()
        # "%.0f", not int(): ids such as 1e19 must not overflow into one another
        s.loc[s[is_num].index[whole]] = [f"{v:.0f}" for v in num[whole]]
    return _stripped(s.astype(str))


def _arrow_text(text: pd.Series) -> Any:
    import pyarrow as pa

    return pa.array(text.to_numpy(dtype=object), type=pa.string())


def _stripped(text: pd.Series) -> pd.Series:
    """``text.str.strip()`` of a Series of str. Only the values whose first or last character
    lies outside printable ASCII can change, and only those are stripped by Python (found
    with Arrow: a million distinct ids take 0.05 s instead of 0.2 s)."""
    import pyarrow.compute as pc

    if len(text) < _ARROW_MIN:
        return text.str.strip()
    edge = pc.match_substring_regex(_arrow_text(text), r"^[^!-~]|[^!-~]$")
    edge = edge.to_numpy(zero_copy_only=False)
    if edge.any():
        text = text.copy()
        text[edge] = text[edge].str.strip()
    return text


#: distinct values from which text is compared through Arrow (below, pandas' str is as fast)
_ARROW_MIN = 10_000


def _missing_status(text: pd.Series, tm: TableMapping, name: str) -> np.ndarray:
    """1 where a value is a missing-value code (compared as ``schema.raw_key``), else 0.

    ``text`` holds str (from :func:`_raw_text`)."""
    codes = tm.missing_codes(name)
    if len(text) < _ARROW_MIN:
        return np.where(text.str.casefold().isin(codes).to_numpy(), 1, 0)
    import pyarrow as pa
    import pyarrow.compute as pc

    # casefold() is lower() on ASCII text; other text is folded by Python
    arr = _arrow_text(text)
    ascii_ = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    hit = pc.is_in(pc.ascii_lower(arr), value_set=pa.array(sorted(codes), type=pa.string()))
    hit = hit.to_numpy(zero_copy_only=False)
    if not ascii_.all():
        other = ~ascii_
        hit[other] = text[other].str.casefold().isin(codes).to_numpy()
    return np.where(hit, 1, 0)


def _convert_uniques(fld: schema.Field, uniques: pd.Index, tm: TableMapping, decimal: str,
                     today: pd.Timestamp, required: bool = False,
                     unlabelled: str | None = None) -> tuple[object, np.ndarray, np.ndarray]:
    """(values for each distinct raw value, status (``OK`` ... ``AMBIGUOUS``), and the finding's
    rule for each implausible one (None elsewhere)). A required number below its minimum is
    kept for validation, which excludes it as a "negative time"."""
    kind, name = fld.kind, fld.name
    text = _raw_text(uniques)
    status = _missing_status(text, tm, name)
    rules = np.full(len(text), None, dtype=object)
    if kind in ("id", "text"):
        return text.to_numpy(dtype=object), status, rules
    if kind in ("code", "bool"):
        # codes and yes/no values as written (schema.normalise_token: never a sign folded)
        tokens = [schema.normalise_token(t) for t in text]  # distinct values only, not rows
        # the mapping's code table first, then the built-in synonyms
        builtin = (schema.SYNONYMS.get(name, {}) if kind == "code" else
                   {**schema.BOOLEAN_SYNONYMS, **schema.FIELD_BOOLEAN_SYNONYMS.get(name, {})})
        table = {**builtin, **tm.codes.get(name, {})}
        vals = np.array([table.get(t) for t in tokens], dtype=object)
        status = np.where((status == OK) & (vals == None), UNREADABLE, status)  # noqa: E711
        if unlabelled is not None and name not in tm.codes:
            # numbers left without a label (labels arrive as text): never guessed
            bare = np.array([is_number(u) for u in uniques], dtype=bool) & (status != MISSING)
            vals[bare], status[bare] = None, UNLABELLED
            rules[bare] = (f"{name}: a numeric code under the user format {unlabelled!r}, "
                           "whose label is not in the file, is not guessed; give a code table "
                           f"('codes: {name}:' in the mapping) or export the format catalog "
                           "(value labels) with the data")
        return vals, status, rules
    if kind == "date":
        vals, status, century = _dates(uniques, tm.date_format(name), status, today,
                                       tm.source.get("century_pivot"))
        rules[status == LOW] = f"{name} before {schema.EARLIEST_DATE}: implausible"
        rules[status == HIGH] = (f"{name} after the export date {today.date()} (a future "
                                 "date): implausible")
        rules[status == AMBIGUOUS] = (
            f"{name}: a two-digit year that fits both 19xx and 20xx (both between "
            f"{schema.EARLIEST_DATE} and the export date {today.date()}); write four-digit "
            "years or give 'source: {century_pivot: NN}' in the mapping")
        for c in ("19", "20"):
            # an OK value with a rule is a note (info), not a problem: see convert()
            rules[(status == OK) & (century == c)] = (
                f"{name}: two-digit years read as {c}xx (the only century between "
                f"{schema.EARLIEST_DATE} and the export date, or the mapping's century_pivot)")
        return vals, status, rules
    if kind in ("float", "int"):
        return _numbers(fld, uniques, tm, decimal, status, rules, required)
    raise AssertionError(kind)


def _numbers(fld: schema.Field, uniques: pd.Index, tm: TableMapping, decimal: str,
             status: np.ndarray, rules: np.ndarray,
             required: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numbers in the field's unit (months for times), checked against the field's range,
    and against the other reading of a decimal mark where a value has one."""
    # the distinct raw values as an object Series, as the whole column was before (pandas
    # would infer a dtype from an object Index, with a FutureWarning)
    values = pd.Series(np.asarray(uniques, dtype=object), dtype=object)
    num = parse_numbers(values, decimal)
    other = _other_reading(values, decimal)
    unreadable = np.isnan(num)
    if fld.kind == "int":
        unreadable |= np.isfinite(num) & (num != np.round(num))
    status = np.where((status == OK) & unreadable, UNREADABLE, status)
    factor = (schema.DAYS_PER_UNIT[tm.units[fld.name]] / schema.DAYS_PER_MONTH
              if fld.name in tm.units else 1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # 1e308 days: inf, out of range
        months, other_months = num * factor, other * factor
    lo = -np.inf if fld.minimum is None or required else fld.minimum
    hi = np.inf if fld.maximum is None else fld.maximum
    fits = np.isfinite(months) & (months >= lo) & (months <= hi)
    fits_other = np.isfinite(other_months) & (other_months >= lo) & (other_months <= hi)
    if fld.kind == "int":
        fits_other &= other == np.round(other)
    todo = status == OK
    rng = fld.range_text()
    mark = "," if decimal == "." else "."
    only_other = todo & ~fits & fits_other
    status[only_other] = OTHER_MARK
    rules[only_other] = (f"{fld.name} outside its plausible range ({rng}) as read with '{decimal}'"
                         f" as decimal mark, inside it with '{mark}': the marks are ambiguous, "
                         "give source.decimal in the mapping")
    code_like = todo & ~fits & ~fits_other & np.isin(num, schema.CONVENTIONAL_MISSING_CODES)
    status[code_like] = CODE_LIKE
    rules[code_like] = [f"{v:g} looks like a missing-value code: outside the plausible range "
                        f"of {fld.name} ({rng}); list it under 'missing:' in the mapping"
                        for v in num[code_like]]
    if fld.kind == "int":
        # a count of 99 is possible but rare; say so, keep it (the "undeclared 99")
        suspect = todo & fits & np.isin(num, [c for c in schema.CONVENTIONAL_MISSING_CODES
                                              if c >= 99])
        rules[suspect] = [f"{v:g} may be a missing-value code (kept as {v:g}; list it under "
                          "'missing:' in the mapping if it means not recorded)"
                          for v in num[suspect]]
    rest = todo & ~fits & ~fits_other & ~code_like
    below = rest & (months < lo)
    status[below], status[rest & ~below] = LOW, HIGH
    rules[below] = f"{fld.name} below its plausible range ({rng})"
    rules[rest & ~below] = f"{fld.name} above its plausible range ({rng})"
    if decimal == "." and "decimal" not in tm.source and _thousands_dots(values):
        # A column of whole numbers whose larger values carry "1.234"-shaped dots: the dots
        # group thousands as often as they mark decimals (a German export read as '.').
        both = todo & fits & fits_other
        status[both] = AMBIGUOUS
        rules[both] = (f"{fld.name}: the column's '.' may group thousands or mark decimals and "
                       "both readings are plausible; give source.decimal in the mapping")
    return np.where(status == OK, months, np.nan), status, rules


def _is_text(values: pd.Series) -> np.ndarray:
    """Which values are text (the others are numbers, dates or missing)."""
    return values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)


def _other_reading(values: pd.Series, decimal: str) -> np.ndarray:
    """The number a text value would be under the other decimal mark, where its marks allow
    both readings ("2.500": 2.5 or 2500); NaN elsewhere."""
    out = np.full(len(values), np.nan)
    is_text = _is_text(values)
    if not is_text.any():
        return out
    text = values[is_text].str.strip()
    dots = text.str.fullmatch(_DOT_GROUPED).to_numpy(dtype=bool)
    if decimal == ",":
        commas = text.str.fullmatch(_COMMA_GROUPED).to_numpy(dtype=bool)
        alt = np.where(dots, text, np.where(commas, text.str.replace(",", "", regex=False), ""))
    else:
        alt = np.where(dots, text.str.replace(".", "", regex=False), "")
    out[is_text] = pd.to_numeric(pd.Series(alt), errors="coerce").to_numpy(dtype=float)
    return out


def _thousands_dots(values: pd.Series) -> bool:
    """True for a text column whose dotted values all look like grouped thousands and which
    also holds plain whole numbers (a fixed-precision column of "12.345" has no plain ones)."""
    is_text = _is_text(values)
    if not is_text.any():  # dates or numbers (a DataFrame source): no marks to read
        return False
    # astype(object): a Series pandas inferred as datetime keeps .str usable on its text
    text = values[is_text].astype(object).str.strip()
    dotted = text.str.contains(".", regex=False)
    if not dotted.any():
        return False
    grouped = text[dotted].str.fullmatch(_DOT_GROUPED).all()
    return bool(grouped and text[~dotted].str.fullmatch(r"[+-]?\d+").any())


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


def _dates(uniques: pd.Index, fmt: str | None, status: np.ndarray, today: pd.Timestamp,
           pivot: int | None = None) -> tuple[object, np.ndarray, np.ndarray]:
    """(dates, status, century) of the distinct raw values; ``century`` is "19" or "20" where a
    two-digit year was resolved to that century, else None."""
    century = np.full(len(uniques), None, dtype=object)
    values = pd.Series(uniques, dtype=object)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    serial = fmt == EXCEL_SERIAL  # chosen by detect_date_format: numbers (or text) as days
    if serial:
        fmt = None
        as_days = values.map(_naive_date).isna().to_numpy(dtype=bool)
        out[as_days] = _excel_serials(values[as_days])
    if fmt:
        # dates stored as numbers (20120304 under "%Y%m%d"): read as the text they show
        is_num = values.map(is_number).to_numpy(dtype=bool)
        if is_num.any():
            values = values.copy()
            values[is_num] = _raw_text(pd.Index(values[is_num], dtype=object)).to_numpy()
    is_text = _is_text(values) & ~as_days if serial else _is_text(values)
    typed = ~is_text & ~as_days if serial else ~is_text
    if typed.any():  # datetimes from Excel, SAS, SPSS, Stata, DuckDB, or date objects
        native = values[typed].map(_naive_date)
        out[typed] = pd.to_datetime(native, errors="coerce")
    if is_text.any():
        text = values[is_text].str.strip()
        parsed = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
        short = pd.Series(False, index=text.index)
        for f in (fmt,) if fmt else DEFAULT_DATE_FORMATS:
            todo = parsed.isna()
            if not todo.any():
                break
            parsed[todo] = pd.to_datetime(text[todo], format=f, errors="coerce")
            if _TWO_DIGIT_YEAR in f:
                short |= todo & parsed.notna()
        out[is_text] = parsed
        if short.any():
            pos = np.flatnonzero(is_text)[short.to_numpy()]
            fixed, cent, amb = _two_digit_years(parsed[short].dt.normalize(), today, pivot)
            out.iloc[pos] = fixed.to_numpy()
            century[pos] = cent
            status[pos[amb & (status[pos] == OK)]] = AMBIGUOUS
    out = out.dt.normalize()
    status = np.where((status == OK) & out.isna().to_numpy(), UNREADABLE, status)
    early = (status == OK) & (out < pd.Timestamp(schema.EARLIEST_DATE)).to_numpy()
    late = (status == OK) & (out > today).to_numpy()
    status[early], status[late] = LOW, HIGH
    out = out.where(status == OK)
    return out.to_numpy(dtype="datetime64[ns]"), status, century


def detect_date_format(uniques: pd.Index, tm: TableMapping, name: str, today: pd.Timestamp,
                       source: str, column: str,
                       table: str = "patients") -> tuple[str | None, str | None]:
    """The one format that reads a date column the mapping gives no format for.

    Only text and numbers are looked at (typed dates are used as they are), and only when
    :data:`DEFAULT_DATE_FORMATS` do not already read every value that some format reads
    (then nothing changes). Each format of :data:`CANDIDATE_DATE_FORMATS` and Excel serial
    day numbers (numbers between ``schema.EARLIEST_DATE`` and ``today``) is tried on the
    column's distinct values; a format is a candidate when it reads every value that any
    format reads (values no format reads stay unreadable, a finding per row).

    Parameters
    ----------
    uniques : pd.Index
        The column's distinct raw values (missing codes and blanks are skipped).
    tm : TableMapping
        For the missing-value codes of ``name``.
    name, source, column : str
        Canonical field, file and source column, for the messages.
    today : pd.Timestamp
        The export date (the last plausible Excel serial).
    table : str
        "patients" or "resections": which block of the mapping the key to set is in.

    Returns
    -------
    (format, note) : tuple of str or None
        The strptime format (or :data:`EXCEL_SERIAL`) and the finding's text saying which
        format was assumed; (None, None) when the defaults apply or no single format reads
        the column.

    Raises
    ------
    AmbiguousDatesError
        A :class:`~metsurv.errors.CohortError`: when more than one format reads every value
        and they give different dates (e.g. dd/mm/yyyy and mm/dd/yyyy with every day <= 12),
        naming the file, the column, a sample value's shape, the candidate formats and the
        mapping key to set (:func:`ambiguous_dates_message`).
    """
    values = pd.Series(uniques, dtype=object)
    plain = (_is_text(values) | values.map(is_number).to_numpy(dtype=bool))
    if not plain.any():
        return None, None
    text = _raw_text(pd.Index(values[plain], dtype=object))
    text = text[(text != "") & (_missing_status(text, tm, name) == OK)].reset_index(drop=True)
    if text.empty:
        return None, None
    read_by_default = np.zeros(len(text), dtype=bool)
    for f in DEFAULT_DATE_FORMATS:
        todo = ~read_by_default
        read_by_default[todo] = pd.to_datetime(text[todo], format=f,
                                               errors="coerce").notna().to_numpy()
        if read_by_default.all():
            # no other format can read more than every value: the defaults apply (the
            # common case, and at 1e6 patients 0.14 s per date column saved)
            return None, None
    default = pd.Series(read_by_default, index=text.index)
    parsed: dict[str, pd.Series] = {}
    for label, f in CANDIDATE_DATE_FORMATS.items():
        shape = r"\d{8}" if f == "%Y%m%d" else r"\d{1,4}\D\d{1,2}\D\d{1,4}"
        dates = pd.to_datetime(text, format=f, errors="coerce")
        parsed[label] = dates.where(text.str.fullmatch(shape))
    serial = pd.Series(_excel_serials(text), index=text.index)
    numeric = text.str.fullmatch(r"\d+(\.\d+)?")
    plausible = (serial >= pd.Timestamp(schema.EARLIEST_DATE)) & (serial <= today)
    parsed["Excel serial day numbers"] = serial.where(numeric & plausible)
    read = default.copy()
    for dates in parsed.values():
        read |= dates.notna()
    if not read.any() or default[read].all():
        return None, None  # the defaults read the column as before (or nothing does)
    fits = {label: dates for label, dates in parsed.items() if dates[read].notna().all()}
    if not fits:
        return None, None  # mixed formats: each value as the defaults read it, or a finding
    labels = list(fits)
    first = fits[labels[0]][read]
    same = all(first.equals(d[read]) for d in fits.values())
    fmt_of = {**CANDIDATE_DATE_FORMATS, "Excel serial day numbers": EXCEL_SERIAL}
    if len(labels) > 1 and not same:
        sample = str(text[read].iloc[0])
        raise AmbiguousDatesError([AmbiguousDateColumn(
            source, table, column, name,
            tuple((lb, fmt_of[lb]) for lb in labels), re.sub(r"\d", "#", sample))])
    label = labels[0]
    why = ("the only format that reads every value" if len(labels) == 1 else
           f"{' and '.join(labels)} give the same dates here")
    swapped = {"dd/mm/yyyy": "mm/dd/yyyy", "mm/dd/yyyy": "dd/mm/yyyy",
               "dd-mm-yyyy": "mm-dd-yyyy", "mm-dd-yyyy": "dd-mm-yyyy"}.get(label)
    if len(labels) == 1 and swapped and parsed[swapped].notna().any():
        why += f"; a value above 12 in the {label[:2]} place rules out {swapped}"
    if label == "Excel serial day numbers":
        what = ("read as Excel serial day numbers (days since 1899-12-30; every value between "
                f"{schema.EARLIEST_DATE} and the export date {today.date()})")
    else:
        what = f"read as {label} ({fmt_of[label]}, {why})"
    note = (f"{name}: dates without a format in the mapping {what}; if that is wrong set "
            f"dates: {{{name}: \"...\"}} in the mapping")
    return fmt_of[label], note


def _excel_serials(values: pd.Series) -> np.ndarray:
    """Excel serial day numbers (numbers or their text) as dates: days since 1899-12-30 in
    Excel's 1900 date system, a fraction of a day dropped; NaT where not a number. (Serials
    below 61 fall before Excel's phantom 29 Feb 1900 and are one day off; they lie before
    any plausible date of a registry.)"""
    days = np.floor(parse_numbers(pd.Series(values, dtype=object).astype(object)))
    # 0 .. 100,000 days (1899 .. 2173): inside datetime64[ns]; others unreadable (NaT)
    ok = np.isfinite(days) & (days >= 0) & (days < 100_000)
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[ns]")
    out[ok] = (np.datetime64(_EXCEL_ORIGIN.date(), "D")
               + days[ok].astype(np.int64)).astype("datetime64[ns]")
    return out


def _two_digit_years(parsed: pd.Series, today: pd.Timestamp, pivot: int | None
                     ) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """The century of dates read with a two-digit year (the parser's own pivot put 66 in
    2066): (dates, century "19"/"20" or None, ambiguous). With a ``pivot`` (the mapping's
    ``century_pivot``) a year below it is 20yy, else 19yy. Without one, the century that puts
    the date between ``schema.EARLIEST_DATE`` and ``today``; where both do, ambiguous (NaT);
    where neither does, 19yy (then refused as implausible by the caller's range check)."""
    yy = (parsed.dt.year % 100).to_numpy()
    month, day = parsed.dt.month.to_numpy(), parsed.dt.day.to_numpy()

    def in_century(base: int) -> pd.Series:
        # 29.02.00 exists in 2000, not in 1900: NaT there
        return pd.to_datetime(pd.DataFrame({"year": base + yy, "month": month, "day": day},
                                           index=parsed.index), errors="coerce")

    d19, d20 = in_century(1900), in_century(2000)
    if pivot is not None:
        use20 = yy < int(pivot)
        ambiguous = np.zeros(len(yy), dtype=bool)
    else:
        lo = pd.Timestamp(schema.EARLIEST_DATE)
        ok19 = ((d19 >= lo) & (d19 <= today)).to_numpy()
        ok20 = ((d20 >= lo) & (d20 <= today)).to_numpy()
        ambiguous = ok19 & ok20
        use20 = ok20 & ~ok19
    dates = d20.where(use20, d19)
    dates[ambiguous] = pd.NaT
    century = np.where(use20, "20", "19").astype(object)
    century[ambiguous] = None
    return dates, century, ambiguous


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


def _blank_unless_ok(kind: str, vals: object, status: np.ndarray) -> np.ndarray:
    """The distinct values with a missing value where their status is not ``OK``, and one
    missing value appended (the empty cell, selected by a factorize code of -1)."""
    ok = np.append(status == OK, False)
    if kind == "date":
        v = np.append(np.asarray(vals, dtype="datetime64[ns]"), np.datetime64("NaT"))
        return np.where(ok, v, np.datetime64("NaT"))
    if kind in ("float", "int"):
        return np.where(ok, np.append(np.asarray(vals, dtype=float), np.nan), np.nan)
    v = np.empty(len(ok), dtype=object)
    v[:-1] = np.asarray(vals, dtype=object)
    return np.where(ok, v, None)


def _take(distinct: pd.Series, idx: np.ndarray) -> pd.Series:
    """Rows of a typed column of distinct values: ``idx`` positions (-1: the last)."""
    values = distinct.array
    if isinstance(values, pd.arrays.NumpyExtensionArray):
        return pd.Series(distinct.to_numpy()[idx], copy=False)
    pos = np.where(idx < 0, len(distinct) - 1, idx)
    return pd.Series(values.take(pos), copy=False)


def _raw_at(column: pd.Series, positions: np.ndarray) -> np.ndarray:
    """The raw values at ``positions`` as objects (never the whole column converted)."""
    if positions.size == 0:
        return np.empty(0, dtype=object)
    return column.iloc[positions].to_numpy(dtype=object)


def convert(raw: RawTable, tm: TableMapping, table: str, log: FindingLog,
            today: pd.Timestamp | None = None) -> Converted:
    """Canonical, typed columns for one raw table; problems go to ``log``.

    ``today`` is the export date: a later date is in the future (implausible). None takes
    the machine's date; tests and reproducible runs pass it.
    """
    today = pd.Timestamp.today().normalize() if today is None else pd.Timestamp(today)
    known = schema.PATIENTS if table == "patients" else schema.RESECTIONS
    chosen = match_columns(raw, tm, table, log)
    n = len(raw.frame)
    frame: dict[str, pd.Series] = {}
    bad_required: dict[str, np.ndarray] = {}
    bad_values: dict[str, np.ndarray] = {}
    bad_rules: dict[str, np.ndarray] = {}
    required = set(schema.REQUIRED_FOR_ANALYSIS) if table == "patients" else {
        "patient_id", "operation_date"}
    ambiguous: list[AmbiguousDateColumn] = []  # refused together, after every column
    for name, src in chosen.items():
        fld = known[name]
        column = raw.frame[src]
        idx, uniques = pd.factorize(column, use_na_sentinel=True)
        row_rules = None
        if len(uniques):
            decimal = tm.source.get("decimal", raw.decimal)  # the mapping knows best
            tm_col = tm
            if fld.kind == "date" and tm.date_format(name) is None:
                try:
                    fmt, note = detect_date_format(pd.Index(uniques, dtype=object), tm, name,
                                                   today, str(raw.source), str(src), table)
                except AmbiguousDatesError as err:
                    ambiguous.extend(err.columns)
                    fmt = note = None
                if fmt is not None:
                    tm_col = replace(tm, dates={**tm.dates, name: fmt})
                    log.add_table(str(src), None, str(note), "info")
            vals, status, rules = _convert_uniques(fld, pd.Index(uniques, dtype=object), tm_col,
                                                   decimal, today, name in required,
                                                   raw.unlabelled.get(str(src)))
            # everything per distinct value, then taken to the rows: position k (one past
            # the last distinct value) stands for an empty cell, which idx -1 selects
            status_u = np.append(status, MISSING)
            vals_u = _blank_unless_ok(fld.kind, vals, status)
            rules_u = np.append(rules, None)
            row_status = status_u[idx]
            column_out = _take(typed_column(fld.kind, fld.codes, vals_u), idx)
            bad = (np.flatnonzero((status_u >= UNREADABLE)[idx])
                   if (status >= UNREADABLE).any() else np.empty(0, dtype=np.int64))
            noted_u = (status_u == OK) & (rules_u != None)  # noqa: E711
            noted = (np.flatnonzero(noted_u[idx]) if noted_u.any()
                     else np.empty(0, dtype=np.int64))
            row_rules = True
        else:  # nothing but empty cells
            row_status, row_rules = np.ones(n, dtype=np.int64), None
            column_out = typed_column(fld.kind, fld.codes, _empty(fld.kind, n))
            bad = noted = np.empty(0, dtype=np.int64)
        raw_bad = _raw_at(column, bad)
        if name in required:
            bad_required[name], bad_values[name] = bad, raw_bad
            if row_rules is not None:
                bad_rules[name] = rules_u[idx[bad]]
        else:
            unreadable = row_status[bad] == UNREADABLE
            _log_bad_optional(log, fld, str(src), bad[unreadable], raw_bad[unreadable])
            if row_rules is not None:
                log_by_rule(log, str(src), bad[~unreadable], raw_bad[~unreadable],
                            rules_u[idx[bad[~unreadable]]], " (set to missing)", "warning")
        if row_rules is not None and fld.kind in ("date", "int"):
            # read values with a rule: a column-wide note (dates), a per-row warning (counts)
            if fld.kind == "date":
                _note_once(log, str(src), noted, rules_u[idx[noted]])
            else:
                log_by_rule(log, str(src), noted, _raw_at(column, noted),
                            rules_u[idx[noted]], "", "warning")
        frame[name] = column_out
    if ambiguous:
        raise AmbiguousDatesError(ambiguous)
    out = pd.DataFrame(frame, index=pd.RangeIndex(n))
    return Converted(out, {k: str(v) for k, v in chosen.items()}, bad_required, bad_values,
                     bad_rules)


def log_by_rule(log: FindingLog, src: str, positions: np.ndarray, values: np.ndarray,
                rules: np.ndarray, suffix: str, severity: str,
                reason: str | None = None) -> None:
    """Add one finding per position, grouped into one ``log.add`` per distinct rule.

    Parameters
    ----------
    positions, values, rules : arrays of equal length
        Raw-table positions, the raw values shown, and each one's rule text.
    suffix : str
        Appended to every rule, e.g. " (set to missing)".
    severity, reason : str
        As :meth:`FindingLog.add`; ``reason`` is required for ``"error"``.
    """
    if positions.size == 0:
        return
    codes, uniq = pd.factorize(pd.Series(rules, dtype=object))
    for i, rule in enumerate(uniq):
        hit = codes == i
        log.add(positions[hit], src, values[hit], str(rule) + suffix, severity, reason)


def _note_once(log: FindingLog, src: str, positions: np.ndarray, rules: np.ndarray) -> None:
    """One ``info`` finding per distinct rule (at its first row, with the count of rows): a
    note about how a whole column was read, not one finding per row."""
    if positions.size == 0:
        return
    codes, uniq = pd.factorize(pd.Series(rules, dtype=object))
    for i, rule in enumerate(uniq):
        hit = positions[codes == i]
        log.add(hit[:1], src, np.array([None], dtype=object),
                f"{rule} ({hit.size} row{'s' if hit.size != 1 else ''})", "info")


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
