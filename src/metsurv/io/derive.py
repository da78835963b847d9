"""Derived fields: dates -> times, DFI, groups, IRLM group, and the counting-process table.

Pure functions of canonical frames (no files, no findings): validation decides which rows
are kept. Months are ``schema.DAYS_PER_MONTH`` days. Every group follows the cut-points of
``metsurv.schema`` (IRLM 1997: DFI 0-11 / 12-35 / >=36 months; 1 / 2-3 / >=4 metastases).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from metsurv import schema


def months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Calendar time from ``start`` to ``end`` in months of 30.4375 days (NaN if either missing).

    >>> s = pd.Series(pd.to_datetime(["2001-01-01"])); e = pd.Series(pd.to_datetime(["2002-01-01"]))
    >>> round(float(months_between(s, e).iloc[0]), 4)
    11.9918
    """
    return (end - start).dt.days.astype(float) / schema.DAYS_PER_MONTH


def _col(p: pd.DataFrame, name: str) -> pd.Series:
    if name in p:
        return p[name]
    fld = schema.PATIENTS[name]
    if fld.kind == "date":
        return pd.Series(pd.NaT, index=p.index, dtype="datetime64[ns]")
    if fld.kind in ("float", "int"):
        return pd.Series(np.nan, index=p.index)
    # built from arrays, not from a list of n missing values (0.1-0.2 s a column at 1e6)
    n = len(p)
    if fld.kind == "code":
        return pd.Series(pd.Categorical.from_codes(np.full(n, -1, dtype=np.int8),
                                                   categories=list(fld.codes)), index=p.index)
    if fld.kind == "bool":
        return pd.Series(pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool)),
                         index=p.index)
    return pd.Series(np.full(n, None, dtype=object), index=p.index)


def os_from_dates(p: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Overall survival from the dates: (months from metastasectomy to last follow-up, died)."""
    months = months_between(_col(p, "metastasectomy_date"), _col(p, "last_followup_date"))
    status = _col(p, "vital_status")
    died = pd.Series(pd.array(status.astype(object) == "dead", dtype="boolean"), index=p.index)
    died[status.isna()] = pd.NA
    return months, died


def records_entry(p: pd.DataFrame) -> bool:
    """Whether the table records when patients entered the registry (date or months)."""
    return "registry_entry_date" in p or "entry_months" in p


def entry_months(p: pd.DataFrame) -> pd.Series:
    """Delayed entry: months from the metastasectomy to registry entry, 0 for entry on or
    before the operation (the patient was under observation from the time origin: no
    truncation). From ``registry_entry_date`` where it and the metastasectomy date are
    known, else the given ``entry_months``; missing where neither.

    >>> p = pd.DataFrame({"metastasectomy_date": pd.to_datetime(["2001-01-01", "2001-01-01"]),
    ...                   "registry_entry_date": pd.to_datetime(["2001-03-02", "2000-06-01"])})
    >>> entry_months(p).round(4).tolist()
    [1.9713, 0.0]
    """
    from_dates = months_between(_col(p, "metastasectomy_date"), _col(p, "registry_entry_date"))
    given = _col(p, "entry_months").astype(float)
    return from_dates.where(from_dates.notna(), given).clip(lower=0).astype(float)


def outcomes(p: pd.DataFrame) -> pd.DataFrame:
    """``os_months``/``os_event`` (dates where complete, else as given), ``dfs_*`` and, when
    the table records registry entry, ``entry_months`` (:func:`entry_months`).

    DFS counts recurrence or death: with a recurrence date, the time to it and an event;
    without one (and no recurrence recorded), the OS time and status. A recurrence recorded
    without a date leaves DFS missing rather than guessing its time. So does a DFS that
    ended at or before registry entry (a patient who entered after a recurrence was never
    observed disease-free: left truncation leaves no time at risk for DFS, and counting the
    recurrence would put back the event the truncation excludes); OS still counts.
    """
    out = pd.DataFrame(index=p.index)
    months, died = os_from_dates(p)
    use_dates = months.notna() & died.notna()
    out["os_months"] = months.where(use_dates, _col(p, "os_months")).astype(float)
    given_event = _col(p, "os_event").astype("boolean")
    out["os_event"] = died.where(use_dates, given_event).astype("boolean")

    rec = months_between(_col(p, "metastasectomy_date"), _col(p, "recurrence_date"))
    # A recurrence that cannot be placed in (0, os] -- no date, no date of origin, before the
    # operation or after the last follow-up -- leaves DFS missing rather than guessed.
    placed = rec.notna() & (rec >= 0) & (rec <= out["os_months"])
    recurred = _col(p, "recurrence_date").notna() | _col(p, "recurrence_site").notna()
    unplaced = recurred & ~placed
    dfs = rec.where(placed, out["os_months"])
    dfs_event = pd.Series(pd.array(placed, dtype="boolean"), index=p.index) | out["os_event"]
    dfs = dfs.where(~unplaced)
    dfs_event = dfs_event.where(~unplaced)
    rec = rec.where(placed)
    recurred_given = pd.Series(False, index=p.index)
    if "dfs_months" in p:  # given analysis-ready DFS is kept where no recurrence date overrides
        given = p["dfs_months"].notna() & rec.isna() & p.get("dfs_event", dfs_event).notna()
        dfs = dfs.where(~given, p["dfs_months"])
        if "dfs_event" in p:
            given_event = p["dfs_event"].astype("boolean")
            dfs_event = dfs_event.where(~given, given_event)
            # a registry's DFS event before death (or in a survivor) is a recurrence
            at_death = out["os_event"].fillna(False).astype(bool) & (
                p["dfs_months"] >= out["os_months"])
            recurred_given = given & given_event.fillna(False).astype(bool) & ~at_death
    if records_entry(p):
        out["entry_months"] = entry = entry_months(p)
        ended_before_entry = (dfs <= entry) & entry.notna()
        dfs = dfs.where(~ended_before_entry)
        dfs_event = dfs_event.where(~ended_before_entry)
    out["dfs_months"] = dfs.astype(float)
    out["dfs_event"] = dfs_event.astype("boolean")
    out["first_event"] = first_event(placed | recurred_given, _col(p, "recurrence_site"),
                                     out["os_event"], dfs.notna())
    return out


def first_event(recurred: pd.Series, site: pd.Series, died: pd.Series,
                known: pd.Series) -> pd.Series:
    """The event that ended disease-free survival (``schema.FIRST_EVENTS``), missing where
    DFS is: a recurrence by its site (pulmonary includes "both"), else death, else none."""
    site = site.astype(object)
    conditions = [
        recurred & site.isin(["pulmonary", "both"]),
        recurred & (site == "extrathoracic"),
        recurred,
        ~recurred & died.fillna(False).astype(bool),
    ]
    codes = np.select([c.to_numpy(dtype=bool) for c in conditions], [0, 1, 2, 3], default=4)
    codes = np.where(known.to_numpy(dtype=bool), codes, -1)
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(schema.FIRST_EVENTS)),
                     index=recurred.index)


def cut_groups(values: pd.Series, cuts: tuple[float, ...], labels: tuple[str, ...]) -> pd.Series:
    """Left-closed groups [-inf, c1), [c1, c2), [c2, inf) as a Categorical in label order."""
    codes = np.searchsorted(np.asarray(cuts, dtype=float), values.to_numpy(dtype=float),
                            side="right")
    codes = np.where(values.isna().to_numpy(), -1, codes)
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(labels)), index=values.index)


def _histology_keys(histology: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(position of each row's distinct text, -1 where missing; the distinct texts folded
    by ``schema.normalise_histology``): the recogniser runs on distinct texts only."""
    idx, uniques = pd.factorize(histology.astype(object))
    return idx, pd.Series(uniques, dtype=object).map(schema.normalise_histology)


def _recognised(keys: pd.Series, table: Mapping[str, str] | None) -> np.ndarray:
    """Group of each distinct folded text: the mapping's table first, then the patterns;
    None where neither places it (and for an empty text)."""
    out = np.full(len(keys), None, dtype=object)
    for group, pattern in reversed(schema.HISTOLOGY_PATTERNS):  # first pattern wins
        out[keys.str.contains(pattern, regex=True).to_numpy(dtype=bool)] = group
    if table:
        mapped = keys.map(dict(table)).to_numpy(dtype=object)
        out = np.where(pd.notna(mapped), mapped, out)
    return out


def _to_rows(idx: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.where(idx >= 0, values[np.where(idx >= 0, idx, 0)] if len(values) else None, None)


def histology_group(histology: pd.Series,
                    table: Mapping[str, str] | None = None) -> pd.Series:
    """IRLM histology class from free-text histology, as registries write it.

    Parameters
    ----------
    histology : pandas.Series of str, shape (n,)
        Histology as recorded ("CRC", "Breast ca.", "UPS/MFH", "Leiomyosarkom"); missing
        values stay missing.
    table : mapping of str to str, optional
        A registry's own terms (the mapping file's ``codes: histology``): folded text
        (``schema.normalise_histology``) -> ``histology_group`` code. It overrides the
        recogniser.

    Returns
    -------
    pandas.Series of Categorical, shape (n,)
        ``schema.PATIENTS["histology_group"].codes``; a text neither the table nor
        ``schema.HISTOLOGY_PATTERNS`` places is "other" (:func:`unplaced_histology` lists
        those for the findings).

    >>> histology_group(pd.Series(["Leiomyosarcoma", "embryonal carcinoma", "Breast ca."])).tolist()
    ['sarcoma', 'germ_cell', 'epithelial']
    >>> histology_group(pd.Series(["Ca. coli", "Tumor X"]), {"ca coli": "epithelial"}).tolist()
    ['epithelial', 'other']
    """
    idx, keys = _histology_keys(histology)
    out = _recognised(keys, table)
    out[(keys != "").to_numpy(dtype=bool) & (out == None)] = "other"  # noqa: E711
    codes = schema.PATIENTS["histology_group"].codes
    return pd.Series(pd.Categorical(_to_rows(idx, out), categories=list(codes)),
                     index=histology.index)


def _unplaced_rows(histology: pd.Series, table: Mapping[str, str] | None) -> np.ndarray:
    """True where a row has a histology text that neither the table nor the patterns place."""
    idx, keys = _histology_keys(histology)
    out = _recognised(keys, table)
    unplaced = (keys != "").to_numpy(dtype=bool) & (out == None)  # noqa: E711
    return np.where(idx >= 0, unplaced[np.where(idx >= 0, idx, 0)] if len(keys) else False,
                    False)


def unplaced_histology(p: pd.DataFrame, table: Mapping[str, str] | None = None,
                       source_columns: Mapping[str, str] | None = None
                       ) -> list[tuple[str, str, str, str]]:
    """Findings for the histology texts read as "other" because nothing placed them.

    One finding per distinct text (as written, stripped), for the rows whose group comes
    from the text: a row with a ``histology_group`` given by the registry, or whose
    leiomyosarcoma flag makes it a sarcoma, has none.

    Parameters
    ----------
    p : pandas.DataFrame, shape (n, k)
        Canonical patients table before :func:`factors` (``histology`` and, when recorded,
        ``histology_group`` and ``leiomyosarcoma``).
    table : mapping of str to str, optional
        The mapping's ``codes: histology`` (see :func:`histology_group`).
    source_columns : mapping of str to str, optional
        Canonical field -> registry column (``Converted.source_columns``), to name the column.

    Returns
    -------
    list of (column, value, rule, severity)
        The arguments of ``FindingLog.add_table``, most frequent text first: the value text
        and, in the rule ``histology_unrecognised``, its count of rows. Never a row or an id.

    >>> p = pd.DataFrame({"histology": ["Tumor X", "CRC", "tumor x", "Tumor X"]})
    >>> [f[1:3] for f in unplaced_histology(p)][0]  # doctest: +ELLIPSIS
    ('Tumor X', "histology_unrecognised: read as histology_group 'other' (2 rows); ...")
    """
    if "histology" not in p:
        return []
    hist = p["histology"]
    given = _col(p, "histology_group").notna().to_numpy(dtype=bool)
    lms = _col(p, "leiomyosarcoma").astype("boolean").fillna(False).to_numpy(dtype=bool)
    rows = _unplaced_rows(hist, table) & ~given & ~lms
    counts = hist[rows].astype(str).str.strip().value_counts(sort=True)
    column = (source_columns or {}).get("histology", "histology")
    return [(column, str(value), f"histology_unrecognised: read as histology_group 'other' "
             f"({n} row{'s' if n != 1 else ''}); if it belongs to a group, map it under "
             "'codes: histology:' in the mapping (docs/mapping.md)", "warning")
            for value, n in counts.items()]


def _site_of_keys(keys: pd.Series, table: Mapping[str, str] | None) -> np.ndarray:
    """Canonical primary site of each distinct folded text: the mapping's table first, then
    ``schema.recognise_primary_site``; None where neither places it (and for an empty text).
    One call per distinct text, never per row."""
    out = keys.map(schema.recognise_primary_site).to_numpy(dtype=object)
    if table:
        mapped = keys.map(dict(table)).to_numpy(dtype=object)
        out = np.where(pd.notna(mapped), mapped, out)
    return out


def _primary_site_parts(p: pd.DataFrame, table: Mapping[str, str] | None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(site of each row, or None; recorded rows; recorded rows left unplaced; rows whose
    site comes from the histology), each of shape (n,)."""
    recorded = _col(p, "primary_site").astype(object)
    idx, uniques = pd.factorize(recorded)
    keys = pd.Series(uniques, dtype=object).map(schema.normalise_histology)
    placed = _site_of_keys(keys, table)
    written = pd.Series(uniques, dtype=object).str.strip().to_numpy(dtype=object)
    has_text = (keys != "").to_numpy(dtype=bool)
    is_rec = np.zeros(len(p), dtype=bool)
    unplaced = np.zeros(len(p), dtype=bool)
    site = np.full(len(p), None, dtype=object)
    if len(uniques):
        at = np.where(idx >= 0, idx, 0)
        is_rec = (idx >= 0) & has_text[at]
        found = pd.notna(placed[at])
        site = np.where(is_rec, np.where(found, placed[at], written[at]), None)
        unplaced = is_rec & ~found
    hist = _col(p, "histology").astype(object)
    h_idx, h_uniques = pd.factorize(hist)
    h_site = pd.Series(h_uniques, dtype=object).map(schema.recognise_primary_site)
    h_site = h_site.to_numpy(dtype=object)
    from_hist = np.full(len(p), None, dtype=object)
    if len(h_uniques):
        from_hist = np.where(h_idx >= 0, h_site[np.where(h_idx >= 0, h_idx, 0)], None)
    derived = ~is_rec & pd.notna(from_hist)
    site = np.where(derived, from_hist, site)
    return site, is_rec, unplaced, derived


def primary_site(p: pd.DataFrame, table: Mapping[str, str] | None = None) -> pd.Series:
    """Primary site as canonical terms (``schema.PRIMARY_SITES``), read and derived.

    A recorded ``primary_site`` is read through the mapping's table (``codes:
    primary_site``) and ``schema.recognise_primary_site`` ("Colon ca" -> colorectal); a value
    neither places is kept as written (stripped). Where none is recorded (no column, or an
    empty cell) the site is derived from ``histology`` when the text names one site ("CRC"
    -> colorectal, "Ewing" -> bone, "LMS" -> soft tissue); a recorded value is never
    replaced by a derived one. Works on distinct values, never per row.

    Parameters
    ----------
    p : pandas.DataFrame, shape (n, k)
        Canonical patients table (``primary_site`` and ``histology`` where recorded).
    table : mapping of str to str, optional
        Folded registry text (``schema.normalise_histology``) -> canonical site.

    Returns
    -------
    pandas.Series of object, shape (n,)
        Canonical site, the recorded text where it is placed nowhere, or None.

    >>> p = pd.DataFrame({"histology": ["CRC", "RCC", "LMS", "Tumor X"],
    ...                   "primary_site": [None, "Niere", "Uterus", None]})
    >>> primary_site(p).tolist()
    ['colorectal', 'kidney', 'uterus', None]
    """
    site, _, _, _ = _primary_site_parts(p, table)
    return pd.Series(site, index=p.index, dtype=object)


def primary_site_findings(p: pd.DataFrame, table: Mapping[str, str] | None = None,
                          source_columns: Mapping[str, str] | None = None
                          ) -> list[tuple[str, str, str, str]]:
    """Findings about primary sites: one ``info`` per distinct recorded value that nothing
    places (kept as written), most frequent first, and one ``info`` with the number of
    patients whose site was derived from the histology.

    Parameters
    ----------
    p : pandas.DataFrame, shape (n, k)
        Canonical patients table (``primary_site``, ``histology``), every row read.
    table : mapping of str to str, optional
        The mapping's ``codes: primary_site`` (see :func:`primary_site`).
    source_columns : mapping of str to str, optional
        Canonical field -> registry column, to name the column.

    Returns
    -------
    list of (column, value, rule, severity)
        The arguments of ``FindingLog.add_table``: value texts and counts, never a row or id.

    >>> p = pd.DataFrame({"histology": ["CRC", "CRC", None], "primary_site": [None, "", "Xy"]})
    >>> [f[1] for f in primary_site_findings(p)]
    ['Xy', '2']
    """
    if "primary_site" not in p and "histology" not in p:
        return []
    _, _, unplaced, derived = _primary_site_parts(p, table)
    cols = source_columns or {}
    column = cols.get("primary_site", "primary_site")
    out: list[tuple[str, str, str, str]] = []
    if unplaced.any():
        counts = _col(p, "primary_site")[unplaced].astype(str).str.strip().value_counts()
        out += [(column, str(value), f"primary_site_unrecognised: kept as written ({n} "
                 f"row{'s' if n != 1 else ''}); if it names a site, map it under 'codes: "
                 "primary_site:' in the mapping (docs/mapping.md)", "info")
                for value, n in counts.items()]
    n = int(derived.sum())
    if n:
        out.append((column, str(n), f"primary_site_derived: derived from "
                    f"{cols.get('histology', 'histology')} for {n} patient"
                    f"{'s' if n != 1 else ''} with no primary site recorded", "info"))
    return out


def is_leiomyosarcoma_text(histology: pd.Series) -> pd.Series:
    """True where the histology text names leiomyosarcoma (LMS, "Leiomyo-sarcoma"); missing
    where the text is missing."""
    idx, keys = _histology_keys(histology)
    hit = keys.str.contains(schema.LEIOMYOSARCOMA_PATTERN, regex=True).to_numpy(dtype=bool)
    row = np.where(idx >= 0, hit[np.where(idx >= 0, idx, 0)] if len(hit) else False, False)
    return pd.Series(pd.array(row, dtype="boolean"), index=histology.index).where(idx >= 0)


def factors(p: pd.DataFrame, histology_codes: Mapping[str, str] | None = None,
            site_codes: Mapping[str, str] | None = None) -> pd.DataFrame:
    """DFI, synchronous, complete resection, groups, histology class, LMS, IRLM group and
    primary site.

    ``histology_codes`` is the mapping's ``codes: histology`` table (folded registry text ->
    ``histology_group``), tried before the recogniser (:func:`histology_group`);
    ``site_codes`` its ``codes: primary_site`` table (:func:`primary_site`). The
    ``primary_site`` column is returned when the table records one or a site could be
    derived from the histology."""
    out = pd.DataFrame(index=p.index)
    dfi_dates = months_between(_col(p, "primary_treatment_date"),
                               _col(p, "metastasis_diagnosis_date"))
    # Diagnosed at or before treatment of the primary: synchronous, DFI 0 (not an error);
    # the same for a negative DFI a registry computed itself.
    given_dfi = _col(p, "dfi_months").astype(float)
    from_dates = given_dfi.isna() & dfi_dates.notna()
    dfi = given_dfi.where(given_dfi.notna(), dfi_dates).clip(lower=0)
    sync_given = _col(p, "synchronous").astype("boolean")
    dfi = dfi.mask(sync_given.fillna(False).astype(bool), 0.0)
    out["dfi_months"] = dfi
    sync_derived = (dfi == 0).astype("boolean").where(dfi.notna())
    out["synchronous"] = sync_given.where(sync_given.notna(), sync_derived).astype("boolean")

    status = _col(p, "resection_status").astype(object)
    complete = pd.array(status == schema.PATIENTS["resection_status"].codes[0], dtype="boolean")
    derived = pd.Series(complete, index=p.index).where(status.notna()).astype("boolean")
    given = _col(p, "complete_resection").astype("boolean")
    out["complete_resection"] = derived.where(derived.notna(), given).astype("boolean")

    # Groups from dates count completed calendar months, as a clinician counts a DFI of one
    # year as 12 months (365 days / 30.4375 is 11.99); dfi_months itself stays continuous.
    group_months = dfi.where(~from_dates, completed_months(
        _col(p, "primary_treatment_date"), _col(p, "metastasis_diagnosis_date")).clip(lower=0))
    group_months = group_months.mask(sync_given.fillna(False).astype(bool), 0.0)
    given_dfi_group = _col(p, "dfi_group")
    out["dfi_group"] = cut_groups(group_months, schema.DFI_CUTS_MONTHS, schema.DFI_GROUPS)
    out.loc[dfi.isna(), "dfi_group"] = given_dfi_group[dfi.isna()]
    n_met = _col(p, "n_metastases").astype(float)
    given_n_group = _col(p, "n_metastases_group")
    out["n_metastases_group"] = cut_groups(n_met, schema.N_METASTASES_CUTS,
                                           schema.N_METASTASES_GROUPS)
    out.loc[n_met.isna(), "n_metastases_group"] = given_n_group[n_met.isna()]

    hist_given = _col(p, "histology_group")
    hist = histology_group(_col(p, "histology"), histology_codes)
    lms = _col(p, "leiomyosarcoma").astype("boolean")
    lms = lms.where(lms.notna(), is_leiomyosarcoma_text(_col(p, "histology")))
    group = hist_given.where(hist_given.notna(), hist)
    # a leiomyosarcoma flag is itself a sarcoma histology (sarcoma-only registries), also
    # where the text was placed nowhere ("other" by default, not by the registry)
    guessed = group.isna() | (hist_given.isna() & pd.Series(
        _unplaced_rows(_col(p, "histology"), histology_codes), index=p.index))
    group = group.where(~guessed | ~lms.fillna(False).astype(bool), "sarcoma")
    out["histology_group"] = group
    is_sarcoma = (group.astype(object) == "sarcoma").to_numpy()
    out["leiomyosarcoma"] = lms.where(is_sarcoma).astype("boolean")
    derived_irlm = irlm_group(out["complete_resection"], out["dfi_group"],
                              out["n_metastases_group"])
    out["irlm_group"] = derived_irlm.where(derived_irlm.notna(), _col(p, "irlm_group"))
    site = primary_site(p, site_codes)
    if "primary_site" in p or site.notna().any():
        out["primary_site"] = site
    return out


def completed_months(start: pd.Series, end: pd.Series) -> pd.Series:
    """Whole calendar months from ``start`` to ``end`` (2001-01-15 to 2002-01-15 is 12).

    >>> s = pd.Series(pd.to_datetime(["2001-01-15", "2001-01-15"]))
    >>> completed_months(s, pd.Series(pd.to_datetime(["2002-01-15", "2002-01-14"]))).tolist()
    [12.0, 11.0]
    """
    months = ((end.dt.year - start.dt.year) * 12 + (end.dt.month - start.dt.month)
              - (end.dt.day < start.dt.day).astype(int))
    return months.astype(float).where(start.notna() & end.notna())


def irlm_group(complete: pd.Series, dfi_group: pd.Series, n_group: pd.Series) -> pd.Series:
    """IRLM prognostic group (Pastorino 1997): I-III by risk factors, IV incomplete resection.

    Risk factors among complete resections: DFI < 36 months and multiple metastases. Missing
    when completeness is unknown, or when a needed factor is unknown.
    """
    long_dfi = schema.DFI_GROUPS[-1]
    single = schema.N_METASTASES_GROUPS[0]
    rf_dfi = (dfi_group.astype(object) != long_dfi).where(dfi_group.notna())
    rf_n = (n_group.astype(object) != single).where(n_group.notna())
    n_rf = rf_dfi.astype(float) + rf_n.astype(float)
    comp = complete.astype("boolean")
    codes = np.full(len(complete), -1)
    is_complete = comp.fillna(False).to_numpy(dtype=bool)
    is_incomplete = (~comp).fillna(False).to_numpy(dtype=bool)
    known = n_rf.notna().to_numpy()
    codes[is_complete & known] = n_rf.to_numpy()[is_complete & known].astype(int)
    codes[is_incomplete] = 3
    return pd.Series(pd.Categorical.from_codes(codes, categories=list(schema.IRLM_GROUPS)),
                     index=complete.index)


def id_order(*ids: pd.Series) -> list[np.ndarray]:
    """Integer codes of patient ids, shared across the series, that sort as the ids do.

    Sorting or grouping a million text ids by the texts themselves compares Python strings;
    these codes (0 for the smallest id, -1 where missing) give the same order with integer
    comparisons. Distinct texts are sorted once, by code point as Python orders ``str``.

    Parameters
    ----------
    *ids : pandas.Series
        Patient ids (text, or numbers); shapes (n1,), (n2,), ...

    Returns
    -------
    list of numpy.ndarray of int64
        One array per series, of its shape.

    >>> [c.tolist() for c in id_order(pd.Series(["b", "a", None]), pd.Series(["c", "a"]))]
    [[1, 0, -1], [2, 0]]
    """
    values = [s.to_numpy(dtype=object) for s in ids]
    codes, uniques = pd.factorize(np.concatenate(values) if len(values) != 1 else values[0])
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[_sorted_positions(np.asarray(uniques, dtype=object))] = np.arange(len(uniques))
    codes = np.where(codes >= 0, rank[np.maximum(codes, 0)] if len(rank) else -1, -1)
    return np.split(codes, np.cumsum([len(v) for v in values])[:-1])


def _sorted_positions(uniques: np.ndarray) -> np.ndarray:
    """Positions that sort distinct ids; Arrow sorts text by UTF-8 bytes, which is the
    code-point order of Python ``str`` comparison (numbers and mixed values: numpy)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.sort_indices(pa.array(uniques, type=pa.string())).to_numpy()
    except (pa.ArrowException, TypeError, ValueError, UnicodeError):
        return np.argsort(uniques, kind="stable")


def _run_starts(values: np.ndarray) -> np.ndarray:
    """True where a value differs from the one before it (the first always)."""
    out = np.ones(len(values), dtype=bool)
    out[1:] = values[1:] != values[:-1]
    return out


def _run_ends(values: np.ndarray) -> np.ndarray:
    """True where a value differs from the one after it (the last always)."""
    out = np.ones(len(values), dtype=bool)
    out[:-1] = values[1:] != values[:-1]
    return out


def resection_sequence(r: pd.DataFrame, codes: np.ndarray | None = None) -> pd.Series:
    """1, 2, ... by operation date within each patient; rows of the same day share a number
    (one operation recorded on several rows, e.g. one per lobe). ``codes``: the rows'
    patient ids as integer codes (:func:`id_order`, -1 missing), to group by instead."""
    if codes is None:
        seq = r.groupby("patient_id", sort=False)["operation_date"].rank(method="dense")
    else:
        by = np.where(np.asarray(codes) < 0, np.nan, codes)  # a missing id in no group
        seq = r["operation_date"].groupby(by, sort=False).rank(method="dense")
    return seq.astype("Int64")


def n_metastasectomies(resections: pd.DataFrame) -> pd.Series:
    """Metastasectomies per patient (distinct operation days), indexed by patient_id."""
    out = resections.groupby("patient_id", sort=False)["sequence"].max().astype("Int64")
    # sorted by id, as groupby sorts; a table already in id order needs no string sort
    return out if out.index.is_monotonic_increasing else out.sort_index()


def counting_process(patients: pd.DataFrame, resections: pd.DataFrame, *,
                     id_codes: tuple[np.ndarray, np.ndarray] | None = None) -> pd.DataFrame:
    """Counting-process rows (start, stop] with repeat resection as a time-dependent covariate.

    One row per patient per interval between repeat metastasectomies, times in months from
    the first metastasectomy: ``patient_id, start, stop, event, resection_number,
    repeat_resection``. A repeat resection at month t splits follow-up at t; it counts from t
    on (never before: that would be immortal time). Resections on or after the last
    follow-up cannot change the hazard and add no split. Patients with zero follow-up have
    no interval (R's ``coxph`` needs stop > start) and are left out of this table only.
    This is the layout of R's ``coxph(Surv(start, stop, event) ~ repeat_resection)``.
    ``id_codes``: the patient ids of ``patients`` and ``resections`` as shared integer codes
    in id order (:func:`id_order`), when the caller has them already.
    With delayed entry (``entry_months``) follow-up starts at entry: intervals are cut at
    it and those ending by then dropped (a resection before entry still counts in
    ``resection_number``); patients whose entry time is unknown are left out, as they are
    of every left-truncated analysis.
    """
    base = patients[["patient_id", "os_months", "os_event"]].copy()
    # without a date of origin a patient has no resection rows to place (see load_cohort)
    base["metastasectomy_date"] = _col(patients, "metastasectomy_date")
    if "entry_months" in patients:
        base["entry_months"] = patients["entry_months"]
    followed = (base["os_months"] > 0).to_numpy(dtype=bool)
    base = base[followed].reset_index(drop=True)
    # ids as integer codes in id order; each patient's row in ``base`` found by its code
    is_repeat = (resections["sequence"] >= 2).fillna(False).to_numpy(dtype=bool)
    repeat = resections[is_repeat]
    if id_codes is None:
        base_code, rep_code = id_order(base["patient_id"], repeat["patient_id"])
    else:
        base_code, rep_code = id_codes[0][followed], id_codes[1][is_repeat]
    if len(base_code) and np.bincount(base_code + 1).max(initial=0) > 1:  # -1: a missing id
        raise ValueError("counting_process: patients must have one row per patient_id")
    row_of = np.full(max(base_code.max(initial=-1), rep_code.max(initial=-1)) + 2, -1,
                     dtype=np.int64)
    row_of[base_code[base_code >= 0]] = np.flatnonzero(base_code >= 0)
    # one operation recorded on several rows counts once; only patients in ``base``
    op = repeat["operation_date"].to_numpy(dtype="datetime64[ns]")
    once = ~pd.DataFrame({"id": rep_code, "day": op.view(np.int64)}).duplicated().to_numpy()
    row = row_of[rep_code]
    rep_row = row[once & (row >= 0)]
    rep_op = op[once & (row >= 0)]
    origin = base["metastasectomy_date"].to_numpy(dtype="datetime64[ns]")[rep_row]
    t = months_between(pd.Series(origin), pd.Series(rep_op)).to_numpy()
    os_months = base["os_months"].to_numpy(dtype=float)
    inside = (t > 0) & (t < os_months[rep_row])
    # resections at t=0 (same day as the first) count from the start of follow-up
    n_at_zero = np.bincount(rep_row[rep_op <= origin], minlength=len(base))
    rows = np.concatenate([np.arange(len(base)), rep_row[inside]])
    times = np.concatenate([np.zeros(len(base)), t[inside]])
    k = np.concatenate([np.zeros(len(base), dtype=np.int64),
                        np.ones(int(inside.sum()), dtype=np.int64)])
    order = np.lexsort((k, times, base_code[rows]))  # stable: by id, time, then kind
    rows, times, k = rows[order], times[order], k[order]
    group_start = np.flatnonzero(_run_starts(rows))
    counted = np.cumsum(k)
    before = np.repeat(counted[group_start] - k[group_start],
                       np.diff(np.r_[group_start, len(rows)]).astype(np.int64))
    number = counted - before + 1 + n_at_zero[rows]
    # several breaks at one time: the last (highest resection number) stands
    last_at_t = _run_ends(rows) | _run_ends(times)
    rows, times, number = rows[last_at_t], times[last_at_t], number[last_at_t]
    last = _run_ends(rows)
    stop = np.where(last, os_months[rows], np.r_[times[1:], np.nan][:len(rows)])
    event = last & base["os_event"].iloc[rows].astype(bool).to_numpy()
    out = pd.DataFrame({
        "patient_id": base["patient_id"].to_numpy()[rows],
        "start": times.astype(float),
        "stop": stop.astype(float),
        "event": event.astype(bool),
        "resection_number": number.astype(np.int64),
    })
    if "entry_months" in patients:
        entry = base["entry_months"].iloc[rows].reset_index(drop=True)
        at_risk = (out["stop"] > entry).to_numpy(dtype=bool)  # False for an unknown entry
        out = out[at_risk]
        out["start"] = np.maximum(out["start"].to_numpy(), entry.to_numpy()[at_risk])
    out["repeat_resection"] = out["resection_number"] >= 2
    return out.reset_index(drop=True)
