"""Validation rules: which rows can be analysed, and a finding for every problem.

Rules for the patients table (an ``error`` excludes the row; reasons in
``findings.EXCLUSION_REASONS``):

- missing patient_id; duplicate patient_id (the first occurrence is kept, later ones are
  excluded: the registry must say which record is right);
- no usable time origin or outcome: neither complete dates (metastasectomy date, last
  follow-up date, vital status) nor an analysis-ready ``os_months`` + ``os_event``; when the
  cause is an unreadable date or an unknown vital-status code, that is the reason given, and
  when it is a readable but implausible value (a date before ``schema.EARLIEST_DATE`` or after
  the export date, a time beyond its range, a follow-up from the dates longer than
  ``schema.MAX_MONTHS``), the reason is "implausible required value";
- follow-up before metastasectomy; a negative given time;
- registry entry on or after the end of follow-up (``entry_months >= os_months``): a
  left-truncated analysis, ``Surv(entry, os, status)``, has no time at risk for the row
  (R refuses such an interval), so it is excluded with the entry it has.

Warnings (the row stays): a bad optional value (set to missing, see ``convert``), given
``os_months`` disagreeing with the dates, DFS or DFI conflicts, recurrence after the last
follow-up, an unknown entry time where the registry records entry, a given ``entry_months``
disagreeing with the dates, a DFS that ended before registry entry (DFS set to missing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.io.convert import Converted, log_by_rule
from metsurv.io.derive import entry_months, months_between, os_from_dates, records_entry
from metsurv.io.findings import FindingLog

#: Given times and times from dates may differ by rounding; more than a day is a conflict.
OS_AGREEMENT_MONTHS = 1.0 / schema.DAYS_PER_MONTH


def _src(conv: Converted, name: str) -> str:
    return conv.source_columns.get(name, name)


def _raw(conv: Converted, raw_frame: pd.DataFrame, name: str, positions: np.ndarray) -> np.ndarray:
    col = conv.source_columns.get(name)
    if col is None:
        return np.full(len(positions), None, dtype=object)
    if len(positions) == 0:
        return np.empty(0, dtype=object)
    return raw_frame[col].iloc[positions].to_numpy(dtype=object)  # never the whole column


def _col_or_na(p: pd.DataFrame, name: str) -> pd.Series:
    """True where field ``name`` is missing (or the column absent altogether)."""
    return p[name].isna() if name in p else pd.Series(True, index=p.index)


def _ids_present(conv: Converted, log: FindingLog) -> pd.Series:
    """Rule shared by both tables: a row without a patient_id is excluded."""
    ids = conv.frame["patient_id"]
    log.add(np.flatnonzero(ids.isna().to_numpy()), _src(conv, "patient_id"), None,
            "patient_id is missing", "error", "missing patient_id")
    return ids


def validate_patients(conv: Converted, raw_frame: pd.DataFrame, log: FindingLog) -> None:
    """Add the patients-table findings (errors exclude rows) to ``log``."""
    p = conv.frame
    where = np.flatnonzero

    ids = _ids_present(conv, log)
    dup = (ids.duplicated(keep="first") & ids.notna()).to_numpy()
    log.add(where(dup), _src(conv, "patient_id"), ids.to_numpy(dtype=object)[dup],
            "patient_id occurs on an earlier row (first occurrence kept)", "error",
            "duplicate patient_id")

    months, died = os_from_dates(p)
    # a follow-up longer than any plausible one (an operation in 1901 followed to 2015)
    too_long = (months > schema.PATIENTS["os_months"].maximum).to_numpy(dtype=bool)
    months = months.mask(too_long)
    dates_ok = (months.notna() & died.notna()).to_numpy()
    given_time = p["os_months"] if "os_months" in p else pd.Series(np.nan, index=p.index)
    given_event = p["os_event"] if "os_event" in p else pd.Series(pd.NA, index=p.index)
    given_ok = (given_time.notna() & given_event.notna()).to_numpy()
    unusable = ~dates_ok & ~given_ok

    # The reason a row has no outcome: an unreadable value where one was given, else missing.
    explained = np.zeros(len(p), dtype=bool)
    for name, pos in conv.bad_required.items():
        fld = schema.PATIENTS[name]
        values = conv.bad_values[name]
        on_unusable = unusable[pos] if pos.size else np.zeros(0, dtype=bool)
        if fld.kind == "date":
            reason, rule = "unreadable required date", f"unreadable date in {name}"
        elif fld.kind in ("code", "bool"):
            allowed = ", ".join(fld.codes) if fld.codes else "yes/no"
            reason, rule = "unknown required code", f"unknown {name} code (allowed: {allowed})"
        elif name == "patient_id":
            continue
        else:
            reason, rule = "no usable time origin or outcome", f"unreadable number in {name}"
        why = conv.bad_rules.get(name, np.full(pos.size, None, dtype=object))
        plain = np.array([w is None for w in why], dtype=bool)
        for sel, severity, suffix in ((on_unusable, "error", ""),
                                      (~on_unusable, "warning",
                                       " (the other outcome columns were used)")):
            log.add(pos[sel & plain], _src(conv, name), values[sel & plain], rule + suffix,
                    severity, reason if severity == "error" else None)
            implausible = sel & ~plain
            log_by_rule(log, _src(conv, name), pos[implausible], values[implausible],
                             why[implausible], suffix, severity,
                             "implausible required value" if severity == "error" else None)
        explained[pos[on_unusable]] = True
    # excluded even where os_months is given: the outcome derivation prefers the dates
    long_pos = where(too_long & ~explained)
    log.add(long_pos, _src(conv, "last_followup_date"),
            _raw(conv, raw_frame, "last_followup_date", long_pos),
            f"follow-up from the dates longer than {schema.MAX_MONTHS:g} months: implausible",
            "error", "implausible required value")
    explained[long_pos] = True
    rest = where(unusable & ~explained)
    have = [c for c in (*schema.DATE_OUTCOME, *schema.TIME_OUTCOME) if c in p]
    log.add(rest, ",".join(_src(conv, c) for c in have), None,
            "no complete date outcome (metastasectomy_date, last_followup_date, vital_status) "
            "and no os_months + os_event", "error", "no usable time origin or outcome")

    before = (months < 0).to_numpy() & dates_ok
    log.add(where(before), _src(conv, "last_followup_date"),
            _raw(conv, raw_frame, "last_followup_date", where(before)),
            "last follow-up is before the metastasectomy", "error",
            "follow-up before metastasectomy")
    negative = (given_time < 0).to_numpy() & ~dates_ok
    log.add(where(negative), _src(conv, "os_months"), given_time.to_numpy()[negative],
            "os_months is negative", "error", "negative time")

    both = dates_ok & given_ok & ~before
    disagree = both & (np.abs(months.to_numpy() - given_time.to_numpy(dtype=float))
                       > OS_AGREEMENT_MONTHS)
    same_event = died.astype("boolean").eq(given_event.astype("boolean")).fillna(True)
    disagree |= both & ~same_event.to_numpy(dtype=bool)
    log.add(where(disagree), _src(conv, "os_months"), given_time.to_numpy()[disagree],
            "os_months/os_event disagree with the dates (the dates were used)", "warning")
    _check_entry(conv, raw_frame, log, months.where(dates_ok, given_time),
                 unusable | before | negative)
    _warn_timeline(conv, raw_frame, log)


def _check_entry(conv: Converted, raw_frame: pd.DataFrame, log: FindingLog,
                 os_months: pd.Series, excluded: np.ndarray) -> None:
    """Registry entry (delayed entry): exclude rows with no follow-up after entry, say where
    the entry time is unknown or the given one disagrees with the dates."""
    p = conv.frame
    if not records_entry(p):
        return
    where = np.flatnonzero
    entry = entry_months(p)
    by_date = "registry_entry_date" in p and p["registry_entry_date"].notna().any()
    col = "registry_entry_date" if "registry_entry_date" in p else "entry_months"
    late = (entry >= os_months).to_numpy(dtype=bool) & ~excluded
    shown = _raw(conv, raw_frame, col, where(late))
    log.add(where(late), _src(conv, col), shown,
            "registry entry on or after the last follow-up or death: no time at risk after "
            "entry, so the row cannot enter a left-truncated analysis", "error",
            "no follow-up after registry entry")
    unknown = entry.isna().to_numpy() & ~excluded
    log.add(where(unknown), _src(conv, col), _raw(conv, raw_frame, col, where(unknown)),
            "entry time unknown (no registry entry date, or no metastasectomy date to measure "
            "it from): left out of left-truncated analyses (entry_months missing)", "warning")
    if by_date and "entry_months" in p and "metastasectomy_date" in p:
        dated = months_between(p["metastasectomy_date"], p["registry_entry_date"]).clip(lower=0)
        given = p["entry_months"].astype(float).clip(lower=0)
        clash = where((np.abs(dated - given) > OS_AGREEMENT_MONTHS).to_numpy(dtype=bool)
                      & ~excluded)
        log.add(clash, _src(conv, "entry_months"), given.to_numpy()[clash],
                "entry_months disagrees with registry_entry_date (the date was used)", "warning")
    # DFS that ended at or before entry (derive.outcomes sets it missing): a recurrence date,
    # else a registry's own dfs_months
    rec = months_between(p["metastasectomy_date"], p["recurrence_date"]) if {
        "metastasectomy_date", "recurrence_date"} <= set(p) else pd.Series(np.nan, index=p.index)
    rec = rec.where((rec >= 0) & (rec <= os_months))
    given_dfs = p["dfs_months"].astype(float) if "dfs_months" in p else rec * np.nan
    rule = ("disease-free survival ended at or before registry entry: not at risk for DFS "
            "when entered, DFS set to missing (OS kept)")
    keep = ~late & ~excluded
    by_rec = where((rec <= entry).to_numpy(dtype=bool) & keep)
    log.add(by_rec, _src(conv, "recurrence_date"),
            _raw(conv, raw_frame, "recurrence_date", by_rec), rule, "warning")
    by_given = where((rec.isna() & (given_dfs <= entry)).to_numpy(dtype=bool) & keep)
    log.add(by_given, _src(conv, "dfs_months"), given_dfs.to_numpy()[by_given], rule, "warning")


def _warn_timeline(conv: Converted, raw_frame: pd.DataFrame, log: FindingLog) -> None:
    p = conv.frame
    where = np.flatnonzero
    if "recurrence_date" in p and "metastasectomy_date" in p:
        rec = months_between(p["metastasectomy_date"], p["recurrence_date"])
        early = where((rec < 0).to_numpy())
        log.add(early, _src(conv, "recurrence_date"),
                _raw(conv, raw_frame, "recurrence_date", early),
                "recurrence before the metastasectomy (DFS set to missing)", "warning")
    if "recurrence_date" in p and "last_followup_date" in p:
        late = where((p["recurrence_date"] > p["last_followup_date"]).to_numpy())
        log.add(late, _src(conv, "recurrence_date"),
                _raw(conv, raw_frame, "recurrence_date", late),
                "recurrence after the last follow-up (DFS set to missing)", "warning")
    if "recurrence_date" in p:
        no_origin = p["recurrence_date"].notna() & _col_or_na(p, "metastasectomy_date")
        pos = where(no_origin.to_numpy())
        log.add(pos, _src(conv, "recurrence_date"), _raw(conv, raw_frame, "recurrence_date", pos),
                "recurrence date without a metastasectomy date (DFS set to missing)", "warning")
    if "synchronous" in p and {"primary_treatment_date", "metastasis_diagnosis_date"} <= set(p):
        dfi = months_between(p["primary_treatment_date"], p["metastasis_diagnosis_date"])
        said_no = (p["synchronous"] == False).fillna(False).to_numpy(dtype=bool)  # noqa: E712
        pos = where(said_no & (dfi <= 0).to_numpy())
        log.add(pos, _src(conv, "synchronous"), _raw(conv, raw_frame, "synchronous", pos),
                "not synchronous, but the metastasis was diagnosed on or before the day the "
                "primary was treated (DFI 0 kept)", "warning")
    if "synchronous" in p and "dfi_months" in p:
        clash = where((p["synchronous"].fillna(False).astype(bool)
                       & (p["dfi_months"] > 0)).to_numpy())
        log.add(clash, _src(conv, "dfi_months"), p["dfi_months"].to_numpy()[clash],
                "synchronous but dfi_months > 0 (DFI set to 0)", "warning")


def validate_resections(conv: Converted, kept_ids: pd.Series, log: FindingLog, *,
                        in_cohort: np.ndarray | None = None,
                        id_codes: np.ndarray | None = None) -> None:
    """Resections rows need a patient in the analysed cohort and a readable operation date.

    ``in_cohort`` (per row: the id is one of ``kept_ids``) and ``id_codes`` (per row: the
    id as an integer code, ``derive.id_order``) may be given to spare matching a million
    text ids again; they do not change the findings.
    """
    r = conv.frame
    where = np.flatnonzero
    ids = _ids_present(conv, log)
    if in_cohort is None:
        in_cohort = ids.isin(kept_ids).to_numpy(dtype=bool)
    orphan = ~in_cohort & ids.notna().to_numpy()
    log.add(where(orphan), _src(conv, "patient_id"), ids.to_numpy(dtype=object)[orphan],
            "no analysed patient with this patient_id (absent or excluded)", "error",
            "resection of a patient not in the cohort")
    bad = np.zeros(len(r), dtype=bool)
    if "operation_date" in conv.bad_required:
        pos = conv.bad_required["operation_date"]
        bad[pos] = True
        log.add(pos, _src(conv, "operation_date"), conv.bad_values["operation_date"],
                "unreadable operation date", "error", "resection without a usable operation date")
    no_date = (r["operation_date"].isna().to_numpy() & ~bad)
    log.add(where(no_date), _src(conv, "operation_date"), None, "operation date is missing",
            "error", "resection without a usable operation date")
    dated = r[ids.notna() & r["operation_date"].notna()]
    if id_codes is not None:  # the same rows repeat with the ids as their codes
        dated = dated.assign(patient_id=id_codes[dated.index.to_numpy()])
    exact = dated.duplicated(keep="first")  # every canonical field repeated: exported twice
    pos = dated.index[exact.to_numpy()].to_numpy()
    log.add(pos, _src(conv, "patient_id"), ids.to_numpy(dtype=object)[pos],
            "the same resection row occurs on an earlier row (first kept)", "error",
            "duplicate resection")
    same_day = dated[~exact].duplicated(["patient_id", "operation_date"], keep="first")
    pos = dated[~exact].index[same_day.to_numpy()].to_numpy()
    log.add(pos, _src(conv, "operation_date"), r["operation_date"].iloc[pos].to_numpy(dtype=object),
            "another row of this patient has the same operation date (one metastasectomy)",
            "warning")
