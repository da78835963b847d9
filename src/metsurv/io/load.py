"""``load_cohort``: read -> mapping -> derive -> validate -> Cohort, with every row accounted for."""

from __future__ import annotations

import os
import platform
from dataclasses import replace
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv._memory import return_freed_memory
from metsurv.cohort import FLOW_COLUMNS, Cohort, canonical_order
from metsurv.errors import CohortError
from metsurv.io import derive
from metsurv.io.convert import AmbiguousDateColumn, AmbiguousDatesError, Converted, convert
from metsurv.io.findings import EXCLUSION_REASONS, FindingLog
from metsurv.io.mapping import Mapping, TableMapping, read_mapping
from metsurv.io.read import VALUE_LIKE_NAME, RawTable, SqlSource, headerless, read_table
from metsurv.io.validate import validate_patients, validate_resections

Source = str | os.PathLike[str] | pd.DataFrame | SqlSource

#: Patient fields that the first metastasectomy's row fills when the patients table lacks them.
FROM_FIRST_RESECTION = ("resection_status", "nodal_status", "n_metastases", "approach", "extent")


def _read(source: Source, tm: TableMapping, sheet: str | int | None) -> RawTable:
    opts = dict(tm.source)
    opts.pop("century_pivot", None)  # how dates are read (io.convert), not how the file is
    if sheet is not None:
        opts["sheet"] = sheet
    return read_table(source, **opts)


def _reading_notes(raw: RawTable, log: FindingLog) -> None:
    """What the reader recorded about the table as a whole (e.g. which sheet of a workbook
    with several it read), as info findings about the table."""
    for note in raw.notes:
        log.add_table("sheet" if raw.sheet is not None else "", raw.sheet, note, "info")


def _refuse_headerless(raw: RawTable, columns: list[Any]) -> None:
    """Refuse a table whose first line looks like data (a header-less export) WITHOUT
    quoting that line: its cells are the first patient's id and dates, which an error
    message must never echo (issue 10, item 5)."""
    if any(VALUE_LIKE_NAME.fullmatch(str(c).strip()) for c in columns):
        raise headerless(raw.source)


def _require_columns(raw: RawTable, conv: Converted, table: str,
                     columns: list[Any] | None = None) -> None:
    """Refuse a table without the columns an analysis needs. ``columns``: the source's column
    names (default those of ``raw.frame``, which :func:`_slim` may have narrowed)."""
    columns = list(raw.frame.columns) if columns is None else columns
    have = set(conv.frame.columns)
    if table == "resections":
        need = [c for c in ("patient_id", "operation_date") if c not in have]
        if need:
            _refuse_headerless(raw, columns)
            raise CohortError(
                f"{raw.source}: the resections table has no column for {', '.join(need)} "
                f"(columns: {columns[:30]}); rename them or map them in the "
                "mapping file's 'resections.columns'.")
        return
    problems = []
    if "patient_id" not in have:
        problems.append("patient_id")
    if not (set(schema.DATE_OUTCOME) <= have or set(schema.TIME_OUTCOME) <= have):
        problems.append("an outcome (either metastasectomy_date + last_followup_date + "
                        "vital_status, or os_months + os_event)")
    if problems:
        _refuse_headerless(raw, columns)
        raise CohortError(
            f"{raw.source}: the table has no column for {' and '.join(problems)} "
            f"(columns: {columns[:30]}); rename them to the canonical names or "
            "give a mapping file (docs/mapping.md).")


#: Patient fields whose raw values validation quotes in findings (``validate._raw``).
QUOTED_RAW = ("last_followup_date", "registry_entry_date", "entry_months", "recurrence_date",
              "synchronous")


def _slim(raw: RawTable, conv: Converted, fields: tuple[str, ...]) -> RawTable:
    """``raw`` with only the source columns of ``fields`` (the rows stay: ``len`` is kept), so
    that the raw text of a million-row table is not held once converted."""
    keep = {conv.source_columns[f] for f in fields if f in conv.source_columns}
    slim = replace(raw, frame=raw.frame[[c for c in raw.frame.columns if str(c) in keep]])
    _release_arrow_memory()
    return slim


def _release_arrow_memory() -> None:
    """Hand the memory of freed Arrow buffers (the text of a CSV just converted) back to the
    system: Arrow's allocator otherwise keeps it for reuse, a third of a GB per million
    rows."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _rows(frame: pd.DataFrame, keep: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``frame.loc[keep, columns].reset_index(drop=True)``; when every row is kept, the
    columns themselves, not a copy (the caller drops ``frame``)."""
    if not keep.all():
        return frame.loc[keep, columns].reset_index(drop=True)
    out = pd.DataFrame({c: frame[c] for c in columns}, copy=False)
    out.index = pd.RangeIndex(len(frame))
    return out


def _with_columns(frame: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``frame.assign(**new)`` without copying the columns that stay as they are."""
    out = frame.copy(deep=False)
    for name, values in new.items():
        out[name] = values  # a new column replaces the old one; nothing is written in place
    return out


def _first_operations(r: pd.DataFrame, r_code: np.ndarray) -> pd.DataFrame:
    """Each patient's earliest dated resections row (the first such row on a tie), in id
    order; rows without an id or a date are left out. ``r_code``: the ids' codes
    (``derive.id_order``)."""
    has = r["patient_id"].notna().to_numpy() & r["operation_date"].notna().to_numpy()
    usable, code = r[has], r_code[has]
    day = usable["operation_date"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    order = np.lexsort((day, code))  # stable: ties keep the file's order
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = code[order][1:] != code[order][:-1]
    return usable.iloc[order[keep]]


def _from_first_resection(p: pd.DataFrame, first: pd.DataFrame, p_code: np.ndarray,
                          r_code: np.ndarray) -> pd.DataFrame:
    """Fill the time origin and first-operation fields from sequence 1 where the patient lacks them."""
    if first.empty or "patient_id" not in p:  # no ids to link: _require_columns says so
        return p
    # each patient's row of ``first`` (-1: none), by the shared id codes
    row_of = np.full(max(p_code.max(initial=-1), r_code.max(initial=-1)) + 2, -1,
                     dtype=np.int64)
    row_of[r_code[first.index.to_numpy()]] = np.arange(len(first))
    at = np.where(p_code >= 0, row_of[p_code], -1)
    p = p.copy()
    ids = p["patient_id"]
    fills = {"metastasectomy_date": "operation_date"} | {f: f for f in FROM_FIRST_RESECTION}
    for target, col in fills.items():
        if col not in first:
            continue
        values = _taken(first[col], at, ids)
        if target not in p:
            p[target] = values.astype(first[col].dtype) if len(values) else values
        else:
            p[target] = p[target].where(p[target].notna(), values)
    return p


def _flow(table: str, n_read: int, reasons: pd.Series) -> pd.DataFrame:
    counts = reasons.dropna().value_counts()
    rows = [(table, "read", None, n_read)]
    rows += [(table, "excluded", r, int(counts[r])) for r in EXCLUSION_REASONS if r in counts]
    rows.append((table, "analysed", None, n_read - int(counts.sum())))
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("metsurv", "pandas", "numpy", "scipy", "lifelines", "scikit-survival"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _describe(raw: RawTable) -> dict[str, Any]:
    return {"source": raw.source, "format": raw.format, "sha256": raw.sha256,
            "encoding": raw.encoding, "delimiter": raw.delimiter, "decimal": raw.decimal,
            "records": len(raw.frame)}


def load_cohort(
    source: Source,
    mapping: str | os.PathLike[str] | dict[str, Any] | Mapping | None = None,
    resections: Source | None = None,
    *,
    sheet: str | int | None = None,
    resections_sheet: str | int | None = None,
    today: str | pd.Timestamp | None = None,
) -> Cohort:
    """Load a registry export into a validated canonical :class:`~metsurv.cohort.Cohort`.

    ``source`` is a file (CSV/TSV, .xlsx, Parquet, .sas7bdat, .xpt, .dta, .sav), a pandas
    DataFrame, or a :class:`~metsurv.io.read.SqlSource` query on a DuckDB or SQLite file.
    ``mapping`` is a YAML mapping file (docs/mapping.md) or None when the columns already
    carry canonical names. ``resections`` optionally gives one row per metastasectomy.

    Rows that cannot be analysed are excluded and counted in ``cohort.flow`` by reason;
    every problem is a row of ``cohort.findings``. File-level problems raise
    :class:`~metsurv.errors.CohortError`. ``today`` is the export date (a later date is in the
    future, implausible); None takes the machine's date, recorded in ``provenance["today"]``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"patient_id": ["a", "b", "b"], "os_months": [12.0, 30.5, 4.0],
    ...                    "os_event": ["dead", "alive", "dead"], "resection_status": "R0"})
    >>> cohort = load_cohort(df)
    >>> cohort.n_read, cohort.n_analysed, cohort.excluded().to_dict("records")
    (3, 2, [{'reason': 'duplicate patient_id', 'count': 1}])
    """
    cohort = _load(source, mapping, resections, sheet, resections_sheet, today)
    if cohort.n_read >= RELEASE_MIN_ROWS:
        # the raw tables and their converted copies are garbage now: give their pages
        # back, so that the analysis (and every process forked for it) does not carry them
        return_freed_memory(collect=True)
    return cohort


#: rows read from which the memory freed by loading is handed back to the system at once
#: (a full garbage collection costs more than it returns on a small table)
RELEASE_MIN_ROWS = 100_000


def _load(source: Source, mapping: str | os.PathLike[str] | dict[str, Any] | Mapping | None,
          resections: Source | None, sheet: str | int | None,
          resections_sheet: str | int | None, today: str | pd.Timestamp | None) -> Cohort:
    m = read_mapping(mapping)
    today = _export_date(today)
    raw = _read(source, m.patients, sheet)
    log = FindingLog("patients")
    _reading_notes(raw, log)
    ambiguous: list[AmbiguousDateColumn] = []  # every ambiguous date column, refused at once
    columns = list(raw.frame.columns)
    try:
        conv = convert(raw, m.patients, "patients", log, today)
        raw = _slim(raw, conv, QUOTED_RAW)  # validation quotes these raw values only
    except AmbiguousDatesError as err:
        ambiguous.extend(err.columns)

    raw_r = conv_r = log_r = None
    if resections is not None:
        raw_r = _read(resections, m.resections, resections_sheet)
        log_r = FindingLog("resections")
        _reading_notes(raw_r, log_r)
        try:
            conv_r = convert(raw_r, m.resections, "resections", log_r, today)
        except AmbiguousDatesError as err:
            ambiguous.extend(err.columns)
    if ambiguous:
        raise AmbiguousDatesError(ambiguous)
    p = conv.frame
    p_code = r_code = None  # patient ids of both tables as shared integer codes, in id order
    if conv_r is not None and raw_r is not None:
        _require_columns(raw_r, conv_r, "resections")
        raw_r = _slim(raw_r, conv_r, ())  # its raw values are quoted by convert only
        if "patient_id" in p:
            p_code, r_code = derive.id_order(p["patient_id"], conv_r.frame["patient_id"])
            conv_r = replace(conv_r, frame=_shared_ids(conv_r.frame, p["patient_id"], p_code,
                                                       r_code))
            first = _first_operations(conv_r.frame, r_code)
            p = _from_first_resection(p, first, p_code, r_code)
        conv = replace(conv, frame=p)
    # the time origin may come from the resections
    _require_columns(raw, conv, "patients", columns)

    validate_patients(conv, raw.frame, log)
    reasons = log.excluded(len(p))
    keep = reasons.isna().to_numpy()
    kept_pos = np.flatnonzero(keep)  # raw position of each analysed patient
    p = _with_columns(p, derive.outcomes(p))
    hist_codes = m.patients.codes.get("histology")  # a registry's own terms (issue 11)
    for finding in derive.unplaced_histology(p, hist_codes, conv.source_columns):
        log.add_table(*finding)  # histology read as "other": one warning per text
    site_codes = m.patients.codes.get("primary_site")  # a registry's own site terms
    for finding in derive.primary_site_findings(p, site_codes, conv.source_columns):
        log.add_table(*finding)
    p = _with_columns(p, derive.factors(p, hist_codes, site_codes))
    p["source_row"] = np.asarray(raw.rows, dtype=np.int64)
    patients = _rows(p, keep, canonical_order(list(p.columns)))
    patients["os_event"] = patients["os_event"].astype(bool)
    # the analysed rows are in ``patients``: of every row, the findings need only the id
    del p
    conv = replace(conv, frame=conv.frame[["patient_id"]])
    flow = [_flow("patients", len(raw.frame), reasons)]
    findings: list[pd.DataFrame] = []
    provenance: dict[str, Any] = {**_describe(raw), "today": str(today.date()),
                                  "mapping": m.to_dict(),
                                  "versions": _versions()}

    res_table = cp = None
    if conv_r is not None and raw_r is not None and log_r is not None:
        kept_code = p_code[kept_pos] if p_code is not None else None
        res_table, res_code = _analysed_resections(patients, conv_r, raw_r, log_r, kept_code,
                                                   r_code)
        conv_r = replace(conv_r, frame=conv_r.frame[["patient_id"]])  # for the findings
        at = _patient_rows(patients, res_table, kept_code, res_code)
        n_res = _n_metastasectomies(patients, res_table, at)
        _check_counts(patients, n_res, conv, log, kept_pos)
        patients["n_metastasectomies"] = n_res.fillna(1).astype("Int64")
        _check_first_dates(patients, res_table, conv, log, kept_pos, at)
        _check_after_followup(patients, res_table, conv_r, log_r, raw_r.rows, at)
        cp = derive.counting_process(
            patients, res_table, id_codes=None if kept_code is None else (kept_code, res_code))
        zero = np.flatnonzero((patients["os_months"] <= 0).to_numpy())
        log.add(kept_pos[zero], conv.source_columns.get("last_followup_date", "os_months"),
                patients["os_months"].to_numpy()[zero],
                "zero follow-up: not in the counting-process table (needs stop > start)", "info")
        flow.append(_flow("resections", len(raw_r.frame), log_r.excluded(len(raw_r.frame))))
        findings.append(log_r.frame(raw_r.rows, conv_r.frame["patient_id"]))
        provenance["resections"] = _describe(raw_r)
    findings.insert(0, log.frame(raw.rows, conv.frame["patient_id"]))  # after every check
    if "n_metastasectomies" in patients:
        patients["repeat_resection"] = (patients["n_metastasectomies"] >= 2).astype("boolean")
    patients = patients[canonical_order(list(patients.columns))]
    # one block per dtype: every analysis subsets this frame by rows many times, and a frame
    # of one block per column makes each subset a take per column (measured at 1e6 patients:
    # the report's analysis 46.4 s -> 33.2 s; consolidating takes 0.2 s)
    patients._consolidate_inplace()
    return Cohort(
        patients=patients,
        resections=res_table,
        counting_process=cp,
        flow=pd.concat(flow, ignore_index=True),
        findings=pd.concat([f for f in findings if len(f)] or findings[:1], ignore_index=True),
        provenance=provenance,
    )


def _shared_ids(resections: pd.DataFrame, ids: pd.Series, p_code: np.ndarray,
                r_code: np.ndarray) -> pd.DataFrame:
    """``resections`` with each ``patient_id`` that a patient has replaced by the patients'
    own text object for it (the same text; ``p_code``/``r_code``: both tables' id codes
    from ``derive.id_order``). Why: the resections table and the counting-process table
    derived from it then hold no second copy of a million id strings (61 MB at 1e6
    patients)."""
    if not len(resections) or not len(ids):
        return resections
    at = np.full(max(int(p_code.max()), int(r_code.max())) + 2, -1, dtype=np.int64)
    known = p_code >= 0
    at[p_code[known]] = np.flatnonzero(known)  # a patient row of each id; -1: none
    src = at[r_code]  # code -1 (no id) reads the last entry: -1
    hit = src >= 0
    if not hit.any():
        return resections
    values = resections["patient_id"].to_numpy(dtype=object, copy=True)
    values[hit] = ids.to_numpy(dtype=object)[src[hit]]
    out = resections.copy(deep=False)
    out["patient_id"] = values
    return out


def _analysed_resections(patients: pd.DataFrame, conv_r: Converted, raw_r: RawTable,
                         log_r: FindingLog, kept_code: np.ndarray | None,
                         r_code: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The kept resections rows, numbered by date (a given sequence is checked, not trusted),
    in id and sequence order, with their id codes (``kept_code``/``r_code``: the analysed
    patients' and the resections rows' codes from ``derive.id_order``, or None)."""
    in_cohort = None
    if kept_code is not None and r_code is not None:
        known = np.zeros(max(kept_code.max(initial=-1), r_code.max(initial=-1)) + 2, dtype=bool)
        known[kept_code] = True
        in_cohort = known[r_code]  # code -1 (no id) reads the last entry: False
    validate_resections(conv_r, patients["patient_id"], log_r, in_cohort=in_cohort,
                        id_codes=r_code)
    kept = log_r.excluded(len(conv_r.frame)).isna().to_numpy()
    r = conv_r.frame.copy(deep=False)  # one copy below, of the kept rows only
    r["source_row"] = np.asarray(raw_r.rows, dtype=np.int64)
    r = r.loc[kept].reset_index(drop=True)
    code = r_code[kept] if r_code is not None else derive.id_order(r["patient_id"])[0]
    given_sequence = r["sequence"] if "sequence" in r else None
    r["sequence"] = derive.resection_sequence(r, codes=code)
    if given_sequence is not None:
        differs = (given_sequence.notna() & given_sequence.ne(r["sequence"])).to_numpy(dtype=bool)
        log_r.add(np.flatnonzero(kept)[differs], conv_r.source_columns["sequence"],
                  given_sequence[differs].to_numpy(dtype=object),
                  "sequence differs from the order of operation dates (dates used)", "warning")
    # by id and sequence, as sort_values would, with the ids compared as integer codes
    last = np.where(code < 0, code.max(initial=-1) + 1, code)  # a missing id last
    seq = r["sequence"].to_numpy(dtype=float, na_value=np.inf)  # a missing sequence last
    order = np.lexsort((seq, last))
    return r.iloc[order].reset_index(drop=True), code[order]


def _taken(values: pd.Series, at: np.ndarray, like: pd.Series) -> pd.Series:
    """``values`` at positions ``at`` (missing where -1), on the index of ``like``: what
    ``like.map(values-indexed-by-id)`` gives, without matching the ids again."""
    from pandas.api.extensions import take

    return pd.Series(take(values.array if isinstance(values.dtype, pd.api.extensions.ExtensionDtype)
                          else values.to_numpy(), at, allow_fill=True),
                     index=like.index, name=like.name)


def _patient_rows(patients: pd.DataFrame, res: pd.DataFrame, kept_code: np.ndarray | None,
                  res_code: np.ndarray | None) -> np.ndarray:
    """Each resections row's position in ``patients`` (-1: none), by the shared id codes
    (else by matching the ids)."""
    if kept_code is None or res_code is None:
        return pd.Index(patients["patient_id"]).get_indexer(res["patient_id"])
    row_of = np.full(max(kept_code.max(initial=-1), res_code.max(initial=-1)) + 2, -1,
                     dtype=np.int64)
    row_of[kept_code] = np.arange(len(kept_code))
    return row_of[res_code]


def _n_metastasectomies(patients: pd.DataFrame, res: pd.DataFrame, at: np.ndarray) -> pd.Series:
    """Per patient, ``derive.n_metastasectomies`` (the highest sequence), missing for a patient
    without a row: ``patients["patient_id"].map(derive.n_metastasectomies(res))``."""
    seq = res["sequence"].to_numpy(dtype=float, na_value=np.nan)
    ok = (at >= 0) & ~np.isnan(seq)
    top = np.full(len(patients), -np.inf)
    np.maximum.at(top, at[ok], seq[ok])
    values = pd.array(np.where(np.isfinite(top), top, np.nan), dtype="Float64").astype("Int64")
    return pd.Series(values, index=patients.index, name="patient_id")


def _check_counts(patients: pd.DataFrame, n_res: pd.Series, conv: Converted, log: FindingLog,
                  kept_pos: np.ndarray) -> None:
    """A given n_metastasectomies that the table contradicts, and patients with no row."""
    if "n_metastasectomies" in patients:
        differs = (patients["n_metastasectomies"].notna() & n_res.notna()
                   & patients["n_metastasectomies"].ne(n_res)).to_numpy(dtype=bool)
        log.add(kept_pos[differs], conv.source_columns["n_metastasectomies"],
                patients["n_metastasectomies"][differs].to_numpy(dtype=object),
                "n_metastasectomies differs from the resections table (table used)", "warning")
    without = np.flatnonzero(n_res.isna().to_numpy())
    log.add(kept_pos[without], conv.source_columns.get("patient_id", "patient_id"),
            patients["patient_id"].iloc[without].to_numpy(dtype=object),
            "no row in the resections table (counted as one metastasectomy)", "warning")


def _check_after_followup(patients: pd.DataFrame, res: pd.DataFrame, conv_r: Converted,
                          log_r: FindingLog, raw_rows: np.ndarray, at: np.ndarray) -> None:
    """An operation after the last follow-up means the last contact date is out of date.
    ``at``: each resections row's position in ``patients`` (-1: none)."""
    if "metastasectomy_date" not in patients:
        return
    t = derive.months_between(_taken(patients["metastasectomy_date"], at, res["patient_id"]),
                              res["operation_date"])
    late = (t > _taken(patients["os_months"], at, res["patient_id"])).to_numpy(dtype=bool)
    # source rows increase with position, so a row number finds its raw position
    pos = np.searchsorted(np.asarray(raw_rows), res.loc[late, "source_row"].to_numpy())
    log_r.add(pos, conv_r.source_columns["operation_date"],
              res.loc[late, "operation_date"].to_numpy(dtype=object),
              "operation after the last follow-up (the last contact date is out of date)",
              "warning")


def _check_first_dates(patients: pd.DataFrame, res: pd.DataFrame, conv: Converted,
                       log: FindingLog, kept_pos: np.ndarray, at: np.ndarray) -> None:
    """The first resection should be the time origin; say so where the two disagree.
    ``at``: each resections row's position in ``patients`` (-1: none)."""
    if "metastasectomy_date" not in patients:
        return
    # each patient's first row of sequence 1 (in table order)
    first = (res["sequence"] == 1).fillna(False).to_numpy(dtype=bool) & (at >= 0)
    rows = np.flatnonzero(first)
    who, pick = np.unique(at[rows], return_index=True)
    op = np.full(len(patients), np.datetime64("NaT"), dtype="datetime64[ns]")
    op[who] = res["operation_date"].to_numpy(dtype="datetime64[ns]")[rows[pick]]
    has = np.zeros(len(patients), dtype=bool)
    has[who] = True
    md = patients["metastasectomy_date"].to_numpy(dtype="datetime64[ns]")
    idx = np.flatnonzero(has & ~np.isnat(md) & (op != md))
    if idx.size:
        log.add(kept_pos[idx], conv.source_columns.get("metastasectomy_date", "metastasectomy_date"),
                patients["metastasectomy_date"].iloc[idx].to_numpy(dtype=object),
                "metastasectomy_date differs from the first operation in the resections table",
                "warning")


def _code_example(rows: pd.DataFrame, reason: str) -> str:
    """For an unknown code: the commonest value and the codes allowed (a code such as
    "maybe" for vital status names no patient; dates and ids are never shown)."""
    if "code" not in reason or "value" not in rows or not rows["value"].notna().any():
        return ""
    value = str(rows["value"].dropna().astype(str).value_counts().index[0])[:30]
    allowed = rows["rule"].astype(str).str.extract(r"\((allowed: [^)]*)\)")[0].dropna()
    return f", e.g. {value!r}" + (f"; {allowed.iloc[0]}" if len(allowed) else "")


def no_patient_message(cohort: Cohort, name: str | None = None, top: int = 3) -> str:
    """Why no patient of ``cohort`` can be analysed, as one line for a CohortError.

    Names the file, the records read, and the ``top`` exclusion reasons (from
    ``cohort.flow``) with their counts, each with the source column its error findings
    name most often; for an unknown code, its commonest value and the codes allowed; never
    another value (a date or an id may identify a patient).

    Parameters
    ----------
    cohort : Cohort
        A loaded cohort, normally with ``cohort.n_analysed == 0``.
    name : str, optional
        The file as the caller names it; default ``cohort.provenance["source"]``.
    top : int
        How many reasons to name (most records first).

    Returns
    -------
    str
        e.g. ``"x.csv: no patient could be analysed (0 of 300 records): unreadable required
        date: 300 (column 'op_datum'); ..."``.
    """
    name = str(cohort.provenance.get("source", "data")) if name is None else str(name)
    n = cohort.n_read
    head = f"{name}: no patient could be analysed (0 of {n} record{'s' if n != 1 else ''})"
    if n == 0:
        return f"{head}: the table has no records; check the file and its sheet or query."
    ex = cohort.excluded().sort_values("count", ascending=False, kind="stable").head(top)
    f = cohort.findings
    errors = f[(f["table"] == "patients") & (f["severity"] == "error")]
    parts = []
    for reason, count in zip(ex["reason"], ex["count"], strict=True):
        rows = errors[errors["reason"] == reason]
        cols = rows["column"].dropna().astype(str)
        where = ""
        if len(cols):
            col = cols.value_counts().index[0]
            where = f" (column {col!r}{_code_example(rows[rows['column'] == col], reason)})"
        parts.append(f"{reason}: {count}{where}")
    why = "; ".join(parts) if parts else "no exclusion recorded"
    return (f"{head}: {why}; correct these in the data or the mapping (docs/mapping.md); "
            "every finding is in load_cohort(...).findings.")


def _export_date(today: Any) -> pd.Timestamp:
    """``today`` as a day (midnight); None is the machine's date. A value that is not a
    date (or has no year from 1900 on) is the caller's mistake: a CohortError."""
    if today is None:
        return pd.Timestamp.today().normalize()
    try:
        value = pd.Timestamp(today)
    except (TypeError, ValueError, OverflowError):
        value = pd.NaT
    if pd.isna(value) or value.year < 1900:
        raise CohortError(
            f"today: the export date must be a date from 1900 on, e.g. '2024-06-30' "
            f"(got {str(today)[:40]!r}); pass the date the data were exported."
        )
    return value.tz_localize(None).normalize() if value.tz is not None else value.normalize()
