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


def _refuse_headerless(raw: RawTable) -> None:
    """Refuse a table whose first line looks like data (a header-less export) WITHOUT
    quoting that line: its cells are the first patient's id and dates, which an error
    message must never echo (issue 10, item 5)."""
    if any(VALUE_LIKE_NAME.fullmatch(str(c).strip()) for c in raw.frame.columns):
        raise headerless(raw.source)


def _require_columns(raw: RawTable, conv: Converted, table: str) -> None:
    have = set(conv.frame.columns)
    if table == "resections":
        need = [c for c in ("patient_id", "operation_date") if c not in have]
        if need:
            _refuse_headerless(raw)
            raise CohortError(
                f"{raw.source}: the resections table has no column for {', '.join(need)} "
                f"(columns: {list(raw.frame.columns)[:30]}); rename them or map them in the "
                "mapping file's 'resections.columns'.")
        return
    problems = []
    if "patient_id" not in have:
        problems.append("patient_id")
    if not (set(schema.DATE_OUTCOME) <= have or set(schema.TIME_OUTCOME) <= have):
        problems.append("an outcome (either metastasectomy_date + last_followup_date + "
                        "vital_status, or os_months + os_event)")
    if problems:
        _refuse_headerless(raw)
        raise CohortError(
            f"{raw.source}: the table has no column for {' and '.join(problems)} "
            f"(columns: {list(raw.frame.columns)[:30]}); rename them to the canonical names or "
            "give a mapping file (docs/mapping.md).")


def _from_first_resection(p: pd.DataFrame, first: pd.DataFrame) -> pd.DataFrame:
    """Fill the time origin and first-operation fields from sequence 1 where the patient lacks them."""
    if first.empty or "patient_id" not in p:  # no ids to link: _require_columns says so
        return p
    first = first.set_index("patient_id")
    p = p.copy()
    ids = p["patient_id"]
    fills = {"metastasectomy_date": "operation_date"} | {f: f for f in FROM_FIRST_RESECTION}
    for target, col in fills.items():
        if col not in first:
            continue
        values = ids.map(first[col])
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
    m = read_mapping(mapping)
    today = _export_date(today)
    raw = _read(source, m.patients, sheet)
    log = FindingLog("patients")
    _reading_notes(raw, log)
    ambiguous: list[AmbiguousDateColumn] = []  # every ambiguous date column, refused at once
    try:
        conv = convert(raw, m.patients, "patients", log, today)
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
    if conv_r is not None and raw_r is not None:
        _require_columns(raw_r, conv_r, "resections")
        usable = conv_r.frame.dropna(subset=["patient_id", "operation_date"])
        first = usable.sort_values(["patient_id", "operation_date"], kind="stable")
        first = first.drop_duplicates("patient_id", keep="first")
        p = _from_first_resection(p, first)
        conv = replace(conv, frame=p)
    _require_columns(raw, conv, "patients")  # the time origin may come from the resections

    validate_patients(conv, raw.frame, log)
    reasons = log.excluded(len(p))
    keep = reasons.isna().to_numpy()
    kept_pos = np.flatnonzero(keep)  # raw position of each analysed patient
    p = p.assign(**{c: v for c, v in derive.outcomes(p).items()})
    hist_codes = m.patients.codes.get("histology")  # a registry's own terms (issue 11)
    for finding in derive.unplaced_histology(p, hist_codes, conv.source_columns):
        log.add_table(*finding)  # histology read as "other": one warning per text
    site_codes = m.patients.codes.get("primary_site")  # a registry's own site terms
    for finding in derive.primary_site_findings(p, site_codes, conv.source_columns):
        log.add_table(*finding)
    p = p.assign(**{c: v for c, v in derive.factors(p, hist_codes, site_codes).items()})
    p["source_row"] = np.asarray(raw.rows, dtype=np.int64)
    patients = p.loc[keep, canonical_order(list(p.columns))].reset_index(drop=True)
    patients["os_event"] = patients["os_event"].astype(bool)
    flow = [_flow("patients", len(raw.frame), reasons)]
    findings: list[pd.DataFrame] = []
    provenance: dict[str, Any] = {**_describe(raw), "today": str(today.date()),
                                  "mapping": m.to_dict(),
                                  "versions": _versions()}

    res_table = cp = None
    if conv_r is not None and raw_r is not None and log_r is not None:
        res_table = _analysed_resections(patients, conv_r, raw_r, log_r)
        n_res = patients["patient_id"].map(derive.n_metastasectomies(res_table))
        _check_counts(patients, n_res, conv, log, kept_pos)
        patients["n_metastasectomies"] = n_res.fillna(1).astype("Int64")
        _check_first_dates(patients, res_table, conv, log, kept_pos)
        _check_after_followup(patients, res_table, conv_r, log_r, raw_r.rows)
        cp = derive.counting_process(patients, res_table)
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
    return Cohort(
        patients=patients,
        resections=res_table,
        counting_process=cp,
        flow=pd.concat(flow, ignore_index=True),
        findings=pd.concat([f for f in findings if len(f)] or findings[:1], ignore_index=True),
        provenance=provenance,
    )


def _analysed_resections(patients: pd.DataFrame, conv_r: Converted, raw_r: RawTable,
                         log_r: FindingLog) -> pd.DataFrame:
    """The kept resections rows, numbered by date (a given sequence is checked, not trusted)."""
    validate_resections(conv_r, patients["patient_id"], log_r)
    kept = log_r.excluded(len(conv_r.frame)).isna().to_numpy()
    r = conv_r.frame.assign(source_row=np.asarray(raw_r.rows, dtype=np.int64))
    r = r.loc[kept].reset_index(drop=True)
    given_sequence = r["sequence"] if "sequence" in r else None
    r["sequence"] = derive.resection_sequence(r)
    if given_sequence is not None:
        differs = (given_sequence.notna() & given_sequence.ne(r["sequence"])).to_numpy(dtype=bool)
        log_r.add(np.flatnonzero(kept)[differs], conv_r.source_columns["sequence"],
                  given_sequence[differs].to_numpy(dtype=object),
                  "sequence differs from the order of operation dates (dates used)", "warning")
    return r.sort_values(["patient_id", "sequence"], kind="stable").reset_index(drop=True)


def _check_counts(patients: pd.DataFrame, n_res: pd.Series, conv: Converted, log: FindingLog,
                  kept_pos: np.ndarray) -> None:
    """A given n_metastasectomies that the table contradicts, and patients with no row."""
    if "n_metastasectomies" in patients:
        differs = (patients["n_metastasectomies"].notna() & n_res.notna()
                   & patients["n_metastasectomies"].ne(n_res)).to_numpy(dtype=bool)
        log.add(kept_pos[differs], conv.source_columns["n_metastasectomies"],
                patients["n_metastasectomies"].to_numpy(dtype=object)[differs],
                "n_metastasectomies differs from the resections table (table used)", "warning")
    without = np.flatnonzero(n_res.isna().to_numpy())
    log.add(kept_pos[without], conv.source_columns.get("patient_id", "patient_id"),
            patients["patient_id"].iloc[without].to_numpy(dtype=object),
            "no row in the resections table (counted as one metastasectomy)", "warning")


def _check_after_followup(patients: pd.DataFrame, res: pd.DataFrame, conv_r: Converted,
                          log_r: FindingLog, raw_rows: np.ndarray) -> None:
    """An operation after the last follow-up means the last contact date is out of date."""
    if "metastasectomy_date" not in patients:
        return
    ends = patients.set_index("patient_id")
    t = derive.months_between(res["patient_id"].map(ends["metastasectomy_date"]),
                              res["operation_date"])
    late = (t > res["patient_id"].map(ends["os_months"])).to_numpy(dtype=bool)
    # source rows increase with position, so a row number finds its raw position
    pos = np.searchsorted(np.asarray(raw_rows), res.loc[late, "source_row"].to_numpy())
    log_r.add(pos, conv_r.source_columns["operation_date"],
              res.loc[late, "operation_date"].to_numpy(dtype=object),
              "operation after the last follow-up (the last contact date is out of date)",
              "warning")


def _check_first_dates(patients: pd.DataFrame, res: pd.DataFrame, conv: Converted,
                       log: FindingLog, kept_pos: np.ndarray) -> None:
    """The first resection should be the time origin; say so where the two disagree."""
    if "metastasectomy_date" not in patients:
        return
    first = res[res["sequence"] == 1].drop_duplicates("patient_id").set_index("patient_id")[
        "operation_date"]
    differs = patients["patient_id"].map(first).ne(patients["metastasectomy_date"])
    differs &= patients["patient_id"].isin(first.index) & patients["metastasectomy_date"].notna()
    idx = np.flatnonzero(differs.to_numpy())
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
