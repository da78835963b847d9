"""Messy registry exports of a synthetic cohort, and the mapping files that read them back.

A :class:`Dialect` says how a registry writes the canonical tables: its column names, its
labels for each code, its missing-value tokens, date format and file format. The mapping YAML
shipped beside this module (``dialects/<name>.yaml``, the format of docs/mapping.md) is
generated from the same description by :func:`mapping_yaml`, so the two cannot drift.

:func:`write_dialect` also plants a documented set of broken rows (an impossible date, a
follow-up before the operation, an unknown vital status, a duplicated patient) and returns
them with the exclusion reason the loader must give each one.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from metsurv import schema
from metsurv.io.findings import EXCLUSION_REASONS
from metsurv.synthetic.model import PATIENT_COLUMNS, RESECTION_COLUMNS, SyntheticCohort

REASON_DUPLICATE, REASON_DATE, REASON_CODE, REASON_BEFORE = (
    "duplicate patient_id", "unreadable required date", "unknown required code",
    "follow-up before metastasectomy")
REASON_ORPHAN = "resection of a patient not in the cohort"
assert {REASON_DUPLICATE, REASON_DATE, REASON_CODE, REASON_BEFORE, REASON_ORPHAN} <= set(
    EXCLUSION_REASONS)

_DATE_FIELDS = tuple(n for n, f in schema.PATIENTS.items() if f.kind == "date") + (
    "operation_date",)
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _labels(name: str, *labels: str) -> dict[str, str]:
    """Registry labels of a coded field, one per canonical code in schema order."""
    return dict(zip(schema.PATIENTS[name].codes, labels, strict=True))


@dataclass(frozen=True)
class Dialect:
    """How one registry exports the canonical patients and resections tables."""

    name: str
    description: str
    file_format: str  # "csv" or "xlsx"
    columns: dict[str, str]  # canonical field -> registry column (patients)
    sequence_column: str  # the resections sheet's operation number; see resection_columns
    labels: dict[str, dict[Any, str]]  # canonical field -> canonical code -> registry label
    missing: dict[str, str]  # canonical field (or "all") -> token written for a missing value
    date_format: str
    encoding: str = "utf-8"
    delimiter: str = ","
    decimal: str = "."
    sheets: tuple[str, str] = ("patients", "resections")
    extra_columns: dict[str, str] = field(default_factory=dict)  # ignored registry columns
    upper_case_share: float = 0.0  # share of code labels written in upper case (typing habits)

    @property
    def files(self) -> tuple[str, str]:
        return f"patients.{self.file_format}", f"resections.{self.file_format}"

    @property
    def resection_columns(self) -> dict[str, str]:
        """Registry columns of the resections table: the patients table's own names (the
        operation date under the metastasectomy date's), plus the operation number."""
        own = {"operation_date": self.columns["metastasectomy_date"],
               "sequence": self.sequence_column}
        return {k: own[k] if k in own else self.columns[k] for k in RESECTION_COLUMNS}

    def token(self, name: str) -> str:
        return self.missing.get(name, self.missing["all"])


_DE = Dialect(
    name="de_registry",
    description="German registry export (de_registry dialect): latin-1, ';'-separated, "
                "decimal comma, dd.mm.yyyy dates, German labels, missing codes 99/unk/.",
    file_format="csv",
    columns={
        "patient_id": "PatNr", "center": "Zentrum", "sex": "Geschlecht",
        "age_at_metastasectomy": "Alter_OP", "primary_site": "Primaerlokalisation",
        "histology": "Histologie", "histology_group": "Histo_Gruppe",
        "primary_treatment_date": "Datum_Primaertherapie",
        "metastasis_diagnosis_date": "Datum_Metastasendiagnose", "synchronous": "Synchron",
        "n_metastases": "Anzahl_Metastasen", "laterality": "Seite",
        "resection_status": "Resektion", "nodal_status": "N_Status", "approach": "Zugang",
        "extent": "Ausmass", "chemo_response": "Chemo_Ansprechen",
        "metastasectomy_date": "OP_Datum", "last_followup_date": "Letzter_Kontakt",
        "vital_status": "Status", "death_cause": "Todesursache",
        "recurrence_date": "Rezidiv_Datum", "recurrence_site": "Rezidiv_Ort",
    },
    sequence_column="OP_Nr",
    labels={
        "sex": _labels("sex", "w", "m", "u"),
        "histology_group": _labels("histology_group", "Karzinom", "Sarkom", "Keimzelltumor",
                                   "Melanom", "Andere"),
        "synchronous": {True: "ja", False: "nein"},
        "laterality": _labels("laterality", "einseitig", "beidseitig"),
        "resection_status": _labels("resection_status", "radikal", "R1 (mikroskopisch)",
                                    "R2 (makroskopisch)"),
        "nodal_status": _labels("nodal_status", "pN0", "pN1", "pN2", "nicht beurteilt"),
        "approach": _labels("approach", "VATS", "Thorakotomie", "Sternotomie", "Clamshell",
                            "Roboter"),
        "extent": _labels("extent", "Keilresektion", "Präzisionsresektion", "Segmentresektion",
                          "Lobektomie", "Pneumonektomie", "erweiterte Resektion"),
        "chemo_response": _labels("chemo_response", "Ansprechen", "stabil", "Progress",
                                  "keine Chemo"),
        "vital_status": _labels("vital_status", "lebend", "verstorben"),
        "death_cause": _labels("death_cause", "tumorbedingt", "andere Ursache", "unbekannt"),
        "recurrence_site": _labels("recurrence_site", "pulmonal", "extrathorakal",
                                   "pulmonal und extrathorakal"),
    },
    missing={"all": ".", "n_metastases": "99", "age_at_metastasectomy": "unk",
             "recurrence_date": "", "death_cause": "", "recurrence_site": ""},
    date_format="%d.%m.%Y",
    encoding="latin-1",
    delimiter=";",
    decimal=",",
    extra_columns={"Bemerkung": ""},
    upper_case_share=0.1,
)

_IT = Dialect(
    name="it_xlsx",
    description="Italian registry workbook (it_xlsx dialect): Excel .xlsx, dates as Excel "
                "date cells, Italian labels, missing codes n.d./NA.",
    file_format="xlsx",
    columns={
        "patient_id": "ID_paziente", "center": "Centro", "sex": "Sesso",
        "age_at_metastasectomy": "Eta_intervento", "primary_site": "Sede_primitivo",
        "histology": "Istologia", "histology_group": "Gruppo_istologico",
        "primary_treatment_date": "Data_trattamento_primitivo",
        "metastasis_diagnosis_date": "Data_diagnosi_metastasi", "synchronous": "Sincrone",
        "n_metastases": "N_metastasi", "laterality": "Lateralita",
        "resection_status": "Radicalita", "nodal_status": "Stato_linfonodale",
        "approach": "Accesso", "extent": "Tipo_resezione", "chemo_response": "Risposta_chemio",
        "metastasectomy_date": "Data_intervento", "last_followup_date": "Data_ultimo_controllo",
        "vital_status": "Stato_in_vita", "death_cause": "Causa_decesso",
        "recurrence_date": "Data_recidiva", "recurrence_site": "Sede_recidiva",
    },
    sequence_column="N_intervento",
    labels={
        "sex": _labels("sex", "F", "M", "ignoto"),
        "histology_group": _labels("histology_group", "carcinoma", "sarcoma", "tumore germinale",
                                   "melanoma", "altro"),
        "synchronous": {True: "sì", False: "no"},
        "laterality": _labels("laterality", "monolaterale", "bilaterale"),
        "resection_status": _labels("resection_status", "completa", "R1 microscopica",
                                    "R2 macroscopica"),
        "nodal_status": _labels("nodal_status", "N0", "N1 ilare", "N2 mediastinico",
                                "non valutato"),
        "approach": _labels("approach", "VATS", "toracotomia", "sternotomia", "clamshell",
                            "robotica"),
        "extent": _labels("extent", "atipica", "resezione di precisione", "segmentectomia",
                          "lobectomia", "pneumonectomia", "resezione estesa"),
        "chemo_response": _labels("chemo_response", "risposta", "stabilità", "progressione",
                                  "nessuna chemioterapia"),
        "vital_status": _labels("vital_status", "vivo", "deceduto"),
        "death_cause": _labels("death_cause", "malattia", "altra causa", "ignota"),
        "recurrence_site": _labels("recurrence_site", "polmonare", "extratoracica",
                                   "polmonare ed extratoracica"),
    },
    missing={"all": "n.d.", "n_metastases": "NA", "age_at_metastasectomy": "NA",
             "recurrence_date": "", "death_cause": "", "recurrence_site": ""},
    date_format="%d/%m/%Y",
    sheets=("pazienti", "interventi"),
    extra_columns={"Note": ""},
)

DIALECTS: dict[str, Dialect] = {d.name: d for d in (_DE, _IT)}


def get_dialect(name: str) -> Dialect:
    """The dialect called ``name``; ValueError names the choices."""
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(
            f"unknown dialect {name!r}; choose one of {', '.join(sorted(DIALECTS))}"
        ) from None


def mapping_path(name: str) -> Path:
    """Path of the mapping YAML shipped for dialect ``name``."""
    get_dialect(name)
    return Path(str(resources.files("metsurv.synthetic") / "dialects" / f"{name}.yaml"))


def mapping_yaml(name: str) -> str:
    """The mapping file (docs/mapping.md format) that reads dialect ``name`` back."""
    d = get_dialect(name)
    source: dict[str, Any]
    if d.file_format == "csv":
        source = {"delimiter": d.delimiter, "decimal": d.decimal, "encoding": d.encoding}
        res_source = dict(source)
    else:
        source, res_source = {"sheet": d.sheets[0]}, {"sheet": d.sheets[1]}
    tokens = sorted({t for t in d.missing.values() if t})
    codes = {f: {label: code for code, label in table.items()} for f, table in d.labels.items()}
    doc: dict[str, Any] = {
        "version": 1,
        "description": d.description,
        "source": source,
        "columns": {reg: canon for canon, reg in d.columns.items()},
        "codes": codes,
        "missing": {"all": tokens},
        "dates": {"all": d.date_format},
        "resections": {
            "source": res_source,
            "columns": {reg: canon for canon, reg in d.resection_columns.items()},
        },
    }
    header = (f"# Mapping for the synthetic '{d.name}' dialect (metsurv.synthetic.dialects).\n"
              "# Generated by metsurv.synthetic.dialects.mapping_yaml; edit the Dialect, not "
              "this file.\n")
    return header + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)


def _format_dates(iso: pd.Series, fmt: str) -> pd.Series:
    """ISO yyyy-mm-dd -> a day-first format such as %d.%m.%Y (vectorised string slicing)."""
    if not re.fullmatch(r"%d(.)%m\1%Y", fmt):
        raise ValueError(f"dialect date formats are day-first like %d.%m.%Y, got {fmt!r}")
    sep = fmt[2]
    return iso.str[8:10] + sep + iso.str[5:7] + sep + iso.str[0:4]


def _cells(d: Dialect, frame: pd.DataFrame, columns: dict[str, str], rng: np.random.Generator
           ) -> pd.DataFrame:
    """The registry's view of a canonical table: labels, tokens, formats (strings for CSV,
    typed cells for Excel)."""
    out: dict[str, Any] = {}
    for canon, reg in columns.items():
        col = frame[canon]
        missing = col.isna().to_numpy()
        kind = (schema.PATIENTS.get(canon) or schema.RESECTIONS[canon]).kind
        if canon in d.labels:
            labels = col.astype(object).map(d.labels[canon])
            if d.upper_case_share:
                upper = rng.random(len(col)) < d.upper_case_share
                labels = labels.where(~upper | missing, labels.str.upper())
            values: pd.Series = labels
        elif canon in _DATE_FIELDS:
            if d.file_format == "xlsx":
                values = col.map(lambda v: dt.date.fromisoformat(v) if isinstance(v, str)
                                 else None)
            else:
                values = _format_dates(col.astype(str), d.date_format)
        elif kind == "float":
            if d.file_format == "xlsx":
                values = col.astype(object)
            else:
                values = col.map(lambda v: f"{v:.1f}").str.replace(".", d.decimal, regex=False)
        elif kind == "int":
            values = col.astype(object) if d.file_format == "xlsx" else col.astype(str)
        else:
            values = col.astype(object)
        values = values.astype(object)
        values[missing] = d.token(canon) if d.token(canon) else None
        out[reg] = values
    for reg, value in d.extra_columns.items():
        out[reg] = value
    return pd.DataFrame(out)


def _impossible_date(d: Dialect, year: int) -> str:
    return d.date_format.replace("%d", "31").replace("%m", "02").replace("%Y", str(year))


def _plant_broken_rows(d: Dialect, cells: pd.DataFrame, cohort: SyntheticCohort,
                       rng: np.random.Generator) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Corrupt three patients and duplicate a fourth; say what the loader must do with each."""
    p = cohort.patients
    n = len(p)
    if n < 8:
        return cells, []
    rows = rng.choice(n, size=4, replace=False)
    cells = cells.copy()
    c = d.columns
    broken: list[dict[str, Any]] = []

    def note(row: int, canon: str, value: object, reason: str, what: str) -> None:
        broken.append({"patient_id": p["patient_id"].iat[row], "record": int(row) + 1,
                       "field": canon, "column": c[canon], "value": value,
                       "expected_exclusion": reason, "what": what})

    year = int(p["metastasectomy_date"].iat[rows[0]][:4]) + 1
    bad = _impossible_date(d, year)
    cells.iat[rows[0], cells.columns.get_loc(c["last_followup_date"])] = bad
    note(rows[0], "last_followup_date", bad, REASON_DATE, "impossible calendar date")

    op = pd.Timestamp(p["metastasectomy_date"].iat[rows[1]])
    before = (op - pd.Timedelta(days=45)).strftime(d.date_format)
    cells.iat[rows[1], cells.columns.get_loc(c["last_followup_date"])] = (
        before if d.file_format == "csv" else (op - pd.Timedelta(days=45)).date())
    note(rows[1], "last_followup_date", before, REASON_BEFORE,
         "last follow-up 45 days before the metastasectomy")

    cells.iat[rows[2], cells.columns.get_loc(c["vital_status"])] = "???"
    note(rows[2], "vital_status", "???", REASON_CODE, "unknown code in a required field")

    dup = cells.iloc[[rows[3]]]
    at = int(rng.integers(rows[3] + 1, n + 1))
    cells = pd.concat([cells.iloc[:at], dup, cells.iloc[at:]], ignore_index=True)
    for b in broken:  # records after the inserted duplicate move down by one
        if b["record"] > at:
            b["record"] += 1
    broken.append({"patient_id": p["patient_id"].iat[rows[3]], "record": at + 1,
                   "field": "patient_id", "column": c["patient_id"],
                   "value": p["patient_id"].iat[rows[3]], "expected_exclusion": REASON_DUPLICATE,
                   "what": f"the row of record {int(rows[3]) + 1} exported a second time "
                           "(the first occurrence is kept)"})
    return cells, sorted(broken, key=lambda b: b["record"])


def write_dialect(cohort: SyntheticCohort, name: str, out_dir: str | Path,
                  seed: int | None = None) -> dict[str, Any]:
    """Write ``cohort`` as registry ``name`` exports it, plus its ``mapping.yaml``, into
    ``out_dir``; return the dialect manifest entry (files, mapping, broken rows with the
    exclusion reason the loader must give each, resection rows that follow them out).

    Byte-identical for the same cohort and seed (default: the cohort's seed). Cohorts of
    fewer than 8 patients get no broken rows.

    >>> import tempfile
    >>> from metsurv.synthetic import generate
    >>> info = write_dialect(generate("sarcoma", n=40, seed=2), "de_registry", tempfile.mkdtemp())
    >>> sorted(b["expected_exclusion"] for b in info["broken_rows"])[:2]
    ['duplicate patient_id', 'follow-up before metastasectomy']
    """
    d = get_dialect(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([cohort.manifest.get("seed", 0) if seed is None else seed,
                                 sorted(DIALECTS).index(name)])
    pcells = _cells(d, cohort.patients, {k: d.columns[k] for k in PATIENT_COLUMNS}, rng)
    pcells, broken = _plant_broken_rows(d, pcells, cohort, rng)
    rcells = _cells(d, cohort.resections, d.resection_columns, rng)
    pfile, rfile = d.files
    if d.file_format == "csv":
        for cells, fname in ((pcells, pfile), (rcells, rfile)):
            text = cells.to_csv(sep=d.delimiter, index=False, lineterminator="\n")
            (out / fname).write_bytes(text.encode(d.encoding))
    else:
        _write_xlsx(pcells, d.sheets[0], out / pfile)
        _write_xlsx(rcells, d.sheets[1], out / rfile)
    (out / "mapping.yaml").write_text(mapping_yaml(name), encoding="utf-8")
    gone = {b["patient_id"] for b in broken if b["expected_exclusion"] != REASON_DUPLICATE}
    orphans = int(cohort.resections["patient_id"].isin(gone).sum())
    return {
        "name": d.name,
        "description": d.description,
        "patients_file": pfile,
        "resections_file": rfile,
        "mapping": f"metsurv/synthetic/dialects/{d.name}.yaml (copied to mapping.yaml)",
        "broken_rows": broken,
        "excluded_resection_rows": {"reason": REASON_ORPHAN, "count": orphans},
    }


def _write_xlsx(cells: pd.DataFrame, sheet: str, path: Path) -> None:
    """An .xlsx workbook whose bytes depend on the data only (fixed document dates and zip
    entry times: openpyxl stamps both with the clock)."""
    import openpyxl
    from openpyxl.cell import WriteOnlyCell

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(list(cells.columns))
    date_style = "DD/MM/YYYY"
    date_cols = {j for j, c in enumerate(cells.columns)
                 if cells[c].map(lambda v: hasattr(v, "year")).any()}
    for record in cells.itertuples(index=False, name=None):
        row = []
        for j, v in enumerate(record):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                row.append(None)
            elif j in date_cols and hasattr(v, "year"):
                cell = WriteOnlyCell(ws, value=v)
                cell.number_format = date_style
                row.append(cell)
            else:
                row.append(v.item() if isinstance(v, np.generic) else v)
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    fixed = "2000-01-01T00:00:00Z"
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>"
                              + fixed.encode(), data)
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, data)
