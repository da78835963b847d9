"""The canonical vocabulary of metsurv: field names, kinds, codes, synonyms and cut-points.

Nothing else in the package hard-codes a code such as "R0" or a cut-point such as 36 months:
it imports the name from here. The field list follows the canonical cohort schema of the
architecture document (patients table and resections table).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import numpy as np

#: Months are 30.4375 days (365.25 / 12), as in the IRLM and most registries.
DAYS_PER_MONTH = 30.4375
#: Days per unit, for durations recorded in other units than months.
DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0, "months": DAYS_PER_MONTH, "years": 365.25}

#: IRLM disease-free-interval groups, left-closed month intervals: [0, 12), [12, 36), [36, inf).
DFI_GROUPS = ("0-11", "12-35", ">=36")
DFI_CUTS_MONTHS = (12.0, 36.0)

#: Number of metastases resected at the first metastasectomy: 1, 2-3, >=4.
N_METASTASES_GROUPS = ("1", "2-3", ">=4")
N_METASTASES_CUTS = (2, 4)

#: IRLM prognostic groups (Pastorino 1997): I-III complete resection with 0/1/2 risk factors
#: (DFI < 36 months, multiple metastases), IV incomplete resection.
IRLM_GROUPS = ("I", "II", "III", "IV")

#: The first event after metastasectomy (at ``dfs_months``): the causes of the competing-risks
#: analysis. A recurrence whose site was not recorded is its own cause, never guessed.
FIRST_EVENTS = ("pulmonary_recurrence", "extrathoracic_recurrence", "recurrence_site_unknown",
                "death_without_recurrence", "event_free")

#: Dates before this are implausible for a metastasectomy registry; dates after the export
#: date ("today", a parameter of the loader) are in the future.
EARLIEST_DATE = "1900-01-01"
#: Values that registries use for "not recorded" without declaring them; where one is out of
#: a field's range the finding says so ("99 looks like a missing-value code").
CONVENTIONAL_MISSING_CODES = (9.0, 99.0, 999.0, 9999.0, 99999.0, -1.0, -9.0, -99.0, -999.0)
#: Plausible ranges, one place: months of follow-up or DFI up to 100 years.
MAX_MONTHS = 1200.0

Kind = Literal["id", "text", "code", "date", "float", "int", "bool"]
Table = Literal["patients", "resections"]


@dataclass(frozen=True)
class Field:
    """One canonical field: its name, kind, allowed codes (in display order) and role."""

    name: str
    kind: Kind
    table: Table = "patients"
    codes: tuple[str, ...] = ()
    derived: bool = False
    #: plausible range of a number, in ``unit`` (months for times, after unit conversion);
    #: a value outside it is missing (optional field) or excludes the row (required field)
    minimum: float | None = None
    maximum: float | None = None
    unit: str = ""
    description: str = ""

    def range_text(self) -> str:
        """The plausible range as shown in findings and docs.

        >>> PATIENTS["age_at_metastasectomy"].range_text()
        '0 to 110 years'
        """
        if self.kind == "date":
            return f"{EARLIEST_DATE} to the export date (today)"
        if self.minimum is None and self.maximum is None:
            return ""
        lo = "" if self.minimum is None else f"{self.minimum:g}"
        hi = "" if self.maximum is None else f"{self.maximum:g}"
        return f"{lo} to {hi} {self.unit}".strip() if lo else f"<= {hi} {self.unit}".strip()


_P = "patients"
_R = "resections"

PATIENT_FIELDS: tuple[Field, ...] = (
    Field("patient_id", "id", description="unique patient identifier (never printed in reports)"),
    Field("center", "text", description="centre of a multi-centre registry"),
    Field("sex", "code", codes=("female", "male", "unknown")),
    Field("age_at_metastasectomy", "float", minimum=0, maximum=110, unit="years"),
    Field("primary_site", "text", description="colorectal, kidney, soft tissue, bone, ..."),
    Field("histology", "text", description="subtype as recorded"),
    Field(
        "histology_group",
        "code",
        codes=("epithelial", "sarcoma", "germ_cell", "melanoma", "other"),
        description="IRLM classes; derived from histology when absent",
    ),
    Field("leiomyosarcoma", "bool", description="LMS vs other sarcoma; missing for non-sarcoma"),
    Field("primary_treatment_date", "date"),
    Field("metastasis_diagnosis_date", "date"),
    Field("dfi_months", "float", minimum=-MAX_MONTHS, maximum=MAX_MONTHS, unit="months",
          description="derived from the two dates when absent; "
          "negative (diagnosed before the primary was treated) reads as synchronous, DFI 0"),
    Field("synchronous", "bool", description="metastases at initial staging; DFI 0"),
    Field("n_metastases", "int", minimum=1, maximum=200,
          description="resected at the first metastasectomy"),
    Field("laterality", "code", codes=("unilateral", "bilateral")),
    Field("resection_status", "code", codes=("R0", "R1", "R2")),
    Field("nodal_status", "code", codes=("N0", "N1", "N2", "NX"), description="NX = not assessed"),
    Field(
        "approach",
        "code",
        codes=("vats", "thoracotomy", "sternotomy", "clamshell", "robotic"),
    ),
    Field(
        "extent",
        "code",
        codes=("wedge", "precision", "segmentectomy", "lobectomy", "pneumonectomy", "extended"),
    ),
    Field(
        "chemo_response",
        "code",
        codes=("response", "stable", "progression", "none"),
        description="response to preoperative chemotherapy",
    ),
    Field("metastasectomy_date", "date", description="first pulmonary metastasectomy: time origin"),
    Field(
        "registry_entry_date",
        "date",
        description="date the patient entered the registry or cohort (registries call it "
        "entry date, date of registration, enrolment date, Aufnahmedatum, data di "
        "registrazione; map it by name); after the metastasectomy it makes the analysis "
        "left-truncated (delayed entry)",
    ),
    Field("last_followup_date", "date", description="last contact or death"),
    Field("vital_status", "code", codes=("alive", "dead")),
    Field("death_cause", "code", codes=("cancer", "other", "unknown")),
    Field("recurrence_date", "date", description="first recurrence after metastasectomy"),
    Field("recurrence_site", "code", codes=("pulmonary", "extrathoracic", "both")),
    Field("n_metastasectomies", "int", minimum=1, maximum=100,
          description="from the resections table if given"),
    # Analysis-ready outcomes: accepted as given, or derived from the dates.
    Field(
        "entry_months",
        "float",
        minimum=-MAX_MONTHS,
        maximum=MAX_MONTHS,
        unit="months",
        description="delayed entry: months from the metastasectomy to registry entry, from "
        "registry_entry_date (or given); 0 when entry is on or before the operation (no "
        "truncation). A row needs os_months > entry_months (else excluded); DFS ending at "
        "or before entry is set to missing. metsurv.stats uses it as the default start of "
        "os_months/dfs_months: Surv(entry_months, os_months, os_event)",
    ),
    Field("os_months", "float", minimum=0, maximum=MAX_MONTHS, unit="months",
          description="overall survival from metastasectomy"),
    Field("os_event", "bool", description="death from any cause"),
    Field("dfs_months", "float", minimum=0, maximum=MAX_MONTHS, unit="months",
          description="to recurrence or death"),
    Field("dfs_event", "bool", description="recurrence or death"),
    Field(
        "first_event",
        "code",
        codes=FIRST_EVENTS,
        derived=True,
        description="what ended DFS: the causes of a competing-risks analysis at dfs_months",
    ),
    # Derived only.
    Field("complete_resection", "bool", derived=True, description="R0"),
    Field("dfi_group", "code", codes=DFI_GROUPS, derived=True),
    Field("n_metastases_group", "code", codes=N_METASTASES_GROUPS, derived=True),
    Field("irlm_group", "code", codes=IRLM_GROUPS, derived=True),
    Field(
        "repeat_resection",
        "bool",
        derived=True,
        description="n_metastasectomies >= 2; description only (immortal time: see domain brief)",
    ),
)

RESECTION_FIELDS: tuple[Field, ...] = (
    Field("patient_id", "id", table=_R),
    Field("operation_date", "date", table=_R),
    Field("sequence", "int", table=_R, minimum=1, maximum=100, derived=True, description="1, 2, ... by date"),
    Field("resection_status", "code", table=_R, codes=("R0", "R1", "R2")),
    Field("nodal_status", "code", table=_R, codes=("N0", "N1", "N2", "NX")),
    Field("n_metastases", "int", table=_R, minimum=1, maximum=200),
    Field(
        "approach",
        "code",
        table=_R,
        codes=("vats", "thoracotomy", "sternotomy", "clamshell", "robotic"),
    ),
    Field(
        "extent",
        "code",
        table=_R,
        codes=("wedge", "precision", "segmentectomy", "lobectomy", "pneumonectomy", "extended"),
    ),
)

PATIENTS: dict[str, Field] = {f.name: f for f in PATIENT_FIELDS}
RESECTIONS: dict[str, Field] = {f.name: f for f in RESECTION_FIELDS}

#: Outcome given as dates ...
DATE_OUTCOME = ("metastasectomy_date", "last_followup_date", "vital_status")
#: ... or analysis-ready.
TIME_OUTCOME = ("os_months", "os_event")
#: Fields whose unreadable or unknown value makes a row unanalysable (the row is excluded).
#: Every other field's bad value becomes missing with a warning.
REQUIRED_FOR_ANALYSIS = ("patient_id", *DATE_OUTCOME, *TIME_OUTCOME)

#: Reference (first) level of each factor in IRLM order, used for Cox dummy coding:
#: complete resection, DFI >= 36, single metastasis, N0, non-LMS, IRLM group I.
REFERENCE_LEVELS: dict[str, str | bool] = {
    "resection_status": "R0",
    "complete_resection": True,
    "dfi_group": ">=36",
    "n_metastases_group": "1",
    "nodal_status": "N0",
    "leiomyosarcoma": False,
    "irlm_group": "I",
    "histology_group": "epithelial",
    "chemo_response": "response",
    "sex": "female",
    "repeat_resection": False,
    "synchronous": False,
}

#: Readable labels of the levels of yes/no factors, for tables and figure legends.
BOOL_LABELS: dict[str, dict[bool, str]] = {
    "complete_resection": {True: "complete (R0)", False: "incomplete (R1/R2)"},
    "leiomyosarcoma": {True: "leiomyosarcoma", False: "other sarcoma"},
    "repeat_resection": {True: "repeat resection", False: "single resection"},
    "synchronous": {True: "synchronous", False: "metachronous"},
}

#: Factors with a natural order, for the log-rank test for trend (order as listed).
ORDERED_FACTORS: dict[str, tuple[str, ...]] = {
    "dfi_group": DFI_GROUPS,
    "n_metastases_group": N_METASTASES_GROUPS,
    "irlm_group": IRLM_GROUPS,
    "resection_status": ("R0", "R1", "R2"),
    "nodal_status": ("N0", "N1", "N2"),
}


# ------------------------------------------------------------------ vocabulary
# How factors, levels, endpoints, time units and horizons are named and printed: one table of
# each, read by metsurv.stats, the CLI and the report alike.

#: Display titles of factors, in the words of the literature.
FACTOR_TITLES: dict[str, str] = {
    "complete_resection": "Completeness of resection",
    "resection_status": "Resection status",
    "dfi_group": "Disease-free interval (DFI) group",
    "dfi_months": "Disease-free interval (months)",
    "n_metastases_group": "Number of metastases",
    "n_metastases": "Number of metastases resected",
    "histology_group": "Histology",
    "leiomyosarcoma": "Sarcoma subtype",
    "nodal_status": "Nodal status",
    "irlm_group": "IRLM prognostic group",
    "chemo_response": "Response to preoperative chemotherapy",
    "sex": "Sex",
    "age_at_metastasectomy": "Age at metastasectomy (years)",
    "laterality": "Laterality",
    "approach": "Surgical approach",
    "extent": "Extent of resection",
    "synchronous": "Synchronous metastases",
    "repeat_resection": "Repeat metastasectomy",
    "n_metastasectomies": "Number of metastasectomies",
    "death_cause": "Cause of death",
    "recurrence_site": "Site of first recurrence",
    "os_months": "Follow-up (months)",
    "os_event": "Died",
    # factor names of the published table (metsurv.published)
    "resection": "Completeness of resection",
    "histology": "Sarcoma subtype",
    "all": "All patients",
}

#: Readable labels of the levels of coded factors (code -> label); a code not listed prints
#: as written. Yes/no factors are in :data:`BOOL_LABELS`.
LEVEL_LABELS: dict[str, dict[str, str]] = {
    "dfi_group": {"0-11": "DFI 0-11 mo", "12-35": "DFI 12-35 mo", ">=36": "DFI \u226536 mo"},
    "n_metastases_group": {"1": "Single", "2-3": "2-3", ">=4": "\u22654"},
    "irlm_group": {g: f"Group {g}" for g in IRLM_GROUPS},
    "chemo_response": {"response": "Response", "stable": "Stable disease",
                       "progression": "Progression", "none": "No chemotherapy"},
    "histology_group": {"epithelial": "Epithelial", "sarcoma": "Sarcoma",
                        "germ_cell": "Germ cell", "melanoma": "Melanoma", "other": "Other"},
    "sex": {"female": "Female", "male": "Male", "unknown": "Unknown"},
    "laterality": {"unilateral": "Unilateral", "bilateral": "Bilateral"},
    "approach": {"vats": "VATS", "thoracotomy": "Thoracotomy", "sternotomy": "Sternotomy",
                 "clamshell": "Clamshell", "robotic": "Robotic"},
    "extent": {"wedge": "Wedge resection", "precision": "Precision resection",
               "segmentectomy": "Segmentectomy", "lobectomy": "Lobectomy",
               "pneumonectomy": "Pneumonectomy", "extended": "Extended resection"},
    "nodal_status": {"NX": "NX (not assessed)"},
}


def level_label(factor: str, level: Any) -> str:
    """How a level of ``factor`` is printed in tables, figure legends and texts.

    Parameters
    ----------
    factor : str
        Canonical field name (``"dfi_group"``, ``"complete_resection"``, ...).
    level : Any
        One level: a code, or a bool (numpy bools too) for a yes/no factor.

    Returns
    -------
    str
        The :data:`BOOL_LABELS` label (first letter capitalised) of a yes/no factor's level,
        "Yes"/"No" for a bool of another factor, else the :data:`LEVEL_LABELS` label of the
        code, or the code as written when it has none.

    >>> level_label("complete_resection", True), level_label("dfi_group", ">=36")
    ('Complete (R0)', 'DFI ≥36 mo')
    >>> level_label("os_event", np.True_), level_label("nodal_status", "N1")
    ('Yes', 'N1')
    """
    if factor in BOOL_LABELS and isinstance(level, (bool, np.bool_)):
        text = BOOL_LABELS[factor][bool(level)]
        return text[:1].upper() + text[1:]
    if isinstance(level, (bool, np.bool_)):
        return "Yes" if level else "No"
    text = str(level)
    return LEVEL_LABELS.get(factor, {}).get(text, text)


@dataclass(frozen=True)
class Endpoint:
    """One survival endpoint: its columns and how the report names it.

    ``time``/``event`` are the canonical columns (months from the first metastasectomy; the
    event a bool); ``name`` titles it ("Overall survival"), ``axis_label`` is the y-axis of
    its Kaplan-Meier plot, ``events_word`` counts its events in tables ("deaths"),
    ``event_text`` says what the event is ("death from any cause") and ``description`` is the
    sentence stating origin, event and censoring.
    """

    key: str
    time: str
    event: str
    name: str
    axis_label: str
    events_word: str
    event_text: str
    description: str


#: The survival endpoints, by the key a report config and ``irlm_comparisons`` take.
ENDPOINTS: dict[str, Endpoint] = {
    "os": Endpoint(
        "os", "os_months", "os_event", "Overall survival", "Overall survival (%)", "deaths",
        "death from any cause",
        "Overall survival from the date of the first pulmonary metastasectomy to death from "
        "any cause; patients alive are censored at last follow-up."),
    "dfs": Endpoint(
        "dfs", "dfs_months", "dfs_event", "Disease-free survival", "Disease-free survival (%)",
        "events", "recurrence or death",
        "Disease-free survival from the date of the first pulmonary metastasectomy to "
        "recurrence or death, whichever came first; others censored at last follow-up."),
}

#: Months per year: every years-to-months conversion goes through this (see :func:`months`).
MONTHS_PER_YEAR = 12.0


@dataclass(frozen=True)
class TimeUnit:
    """A unit times are shown in: ``scale`` converts months to it (``months * scale``),
    ``label`` titles a time axis ("Years")."""

    name: str
    scale: float
    label: str


#: Display units of time (times are stored in months).
TIME_UNITS: dict[str, TimeUnit] = {
    "months": TimeUnit("months", 1.0, "Months"),
    "years": TimeUnit("years", 1.0 / MONTHS_PER_YEAR, "Years"),
}

#: Survival horizons (years) of the report's survival table and survival-at-time figures.
SURVIVAL_HORIZONS_YEARS: tuple[int, ...] = (5, 10, 15)


@overload
def months(years: float) -> float: ...


@overload
def months(years: Sequence[float] | np.ndarray) -> np.ndarray: ...


def months(years: Any) -> Any:
    """Years as months (``MONTHS_PER_YEAR * years``, the same floating-point numbers as
    ``12.0 * years``).

    Parameters
    ----------
    years : float or array_like
        A number, or a sequence or array of numbers of any shape.

    Returns
    -------
    float or numpy.ndarray
        A float for a scalar, else a float array of the same shape.

    >>> months(5), months([1, 2.5]).tolist(), months(np.array([[0.5]])).shape
    (60.0, [12.0, 30.0], (1, 1))
    """
    out = MONTHS_PER_YEAR * np.asarray(years, dtype=float)
    return float(out) if out.ndim == 0 else out


#: Readable labels of the first events (:data:`FIRST_EVENTS`), the causes of the
#: competing-risks analysis.
FIRST_EVENT_LABELS: dict[str, str] = {
    "pulmonary_recurrence": "pulmonary recurrence",
    "extrathoracic_recurrence": "extrathoracic recurrence",
    "recurrence_site_unknown": "recurrence, site unknown",
    "death_without_recurrence": "death without recurrence",
    "event_free": "event-free",
}


#: A run of separators inside a word (between two letters, or a letter and a digit):
#: "p-N1", "R 0", "not_assessed". A sign, a decimal point, a mark at either end or between
#: two digits is not matched, so "-1" stays "-1", "1." stays "1.", "2-3" stays "2-3".
_INNER_SEPARATOR = re.compile(r"(?<=[^\W\d_])[\s_\-./]+(?=\w)|(?<=\w)[\s_\-./]+(?=[^\W\d_])")


def normalise_token(value: object) -> str:
    """Fold a raw code to the token it is compared as: the value as written, with case,
    accents, surrounding white space and separators inside a word folded.

    Punctuation that can change what a value means is kept: a sign or a mark at either end
    ("-1" is never "1", "1." is not "1", "?" is not empty) and a mark between two digits
    ("2-3" is not "23"). A code that then matches nothing is unknown (missing with a finding,
    or the row excluded for a required field), never read as another code.

    >>> normalise_token(" Vollständig "), normalise_token("p-N1"), normalise_token("R 0")
    ('vollstandig', 'pn1', 'r0')
    >>> normalise_token("-1"), normalise_token("1."), normalise_token("2-3")
    ('-1', '1.', '2-3')
    """
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    return _INNER_SEPARATOR.sub("", text.strip().casefold())


def raw_key(value: object) -> str:
    """A raw value as compared with missing-value codes: stripped, case-folded text, whole
    numbers without a decimal part (99.0 -> "99"); punctuation kept ("-1" is not "1").

    >>> raw_key(" UNK "), raw_key(99.0), raw_key("-1")
    ('unk', '99', '-1')
    """
    if isinstance(value, float) and value.is_integer():
        return f"{value:.0f}"
    return str(value).strip().casefold()


def _table(pairs: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {normalise_token(syn): code for code, syns in pairs.items() for syn in (code, *syns)}


#: Common synonyms of each coded field (English, German, Italian, French, Spanish registry
#: labels; numeric codes where they are unambiguous). Keys are normalised with
#: :func:`normalise_token`; a mapping file's code table takes precedence over these.
SYNONYMS: dict[str, dict[str, str]] = {
    "sex": _table(
        {
            "female": ("f", "w", "weiblich", "femmina", "femme", "mujer", "woman", "2"),
            "male": ("m", "männlich", "maschio", "homme", "hombre", "man", "1"),
            "unknown": ("u", "unk", "unbekannt", "ignoto", "sconosciuto", "9"),
        }
    ),
    "resection_status": _table(
        {
            "R0": ("complete", "radical", "0", "radikal", "vollständig", "komplett", "completa",
                   "completo", "radicale", "pR0"),
            "R1": ("microscopic", "1", "mikroskopisch", "microscopica", "pR1"),
            "R2": ("macroscopic", "2", "makroskopisch", "macroscopica", "gross", "pR2"),
        }
    ),
    "nodal_status": _table(
        {
            "N0": ("pN0", "0", "negative", "node negative"),
            "N1": ("pN1", "1", "hilar", "peribronchial"),
            "N2": ("pN2", "2", "mediastinal"),
            "NX": ("pNX", "x", "not assessed", "nicht beurteilt", "non valutato", "unassessed"),
        }
    ),
    "laterality": _table(
        {
            # no numeric codes: in ICD-O/SEER laterality 1/2 mean right/left
            "unilateral": ("uni", "einseitig", "unilaterale"),
            "bilateral": ("bi", "beidseitig", "bilaterale"),
        }
    ),
    "approach": _table(
        {
            "vats": ("thoracoscopy", "thoracoscopic", "video assisted", "thorakoskopie",
                     "toracoscopia", "uvats"),
            "thoracotomy": ("open", "thorakotomie", "toracotomia", "posterolateral thoracotomy"),
            "sternotomy": ("median sternotomy", "sternotomie", "sternotomia"),
            "clamshell": ("clam shell", "bilateral anterior thoracotomy"),
            "robotic": ("ratS", "robot", "robotic assisted", "roboter", "robotica"),
        }
    ),
    "extent": _table(
        {
            "wedge": ("keil", "keilresektion", "atypical", "atipica", "wedge resection"),
            "precision": ("präzision", "präzisionsresektion", "laser", "enucleation", "precisione"),
            "segmentectomy": ("segment", "segmentresektion", "segmentectomia", "anatomical segment"),
            "lobectomy": ("lobe", "lobektomie", "lobectomia"),
            "pneumonectomy": ("pneumonektomie", "pneumonectomia"),
            "extended": ("erweitert", "estesa", "extended resection"),
        }
    ),
    "chemo_response": _table(
        {
            "response": ("responder", "partial response", "complete response", "pr", "cr",
                         "ansprechen", "risposta"),
            "stable": ("stable disease", "sd", "stabil", "stabile"),
            "progression": ("progressive disease", "pd", "progress", "progressione"),
            "none": ("no chemotherapy", "no chemo", "keine", "nessuna", "not given"),
        }
    ),
    "vital_status": _table(
        {
            # no numeric codes: registries use both 0/1 and 1/2 for alive/dead
            "alive": ("a", "living", "lebend", "vivo", "viva", "vivant", "censored"),
            "dead": ("d", "deceased", "died", "verstorben", "tot", "morto", "deceduto", "décédé"),
        }
    ),
    "death_cause": _table(
        {
            "cancer": ("tumour", "tumor", "disease", "tumorbedingt", "malattia", "cancer death"),
            "other": ("other cause", "andere", "altro", "non cancer"),
            "unknown": ("unk", "unbekannt", "ignoto"),
        }
    ),
    "recurrence_site": _table(
        {
            "pulmonary": ("lung", "intrathoracic", "pulmonal", "polmonare", "thoracic"),
            "extrathoracic": ("distant", "extrathorakal", "extratoracica"),
            "both": ("beide", "entrambi", "pulmonary and extrathoracic"),
        }
    ),
    "histology_group": _table(
        {
            "epithelial": ("carcinoma", "epithelial tumour", "epitheliale", "karzinom"),
            "sarcoma": ("sarkom", "sarcomi"),
            "germ_cell": ("germ cell", "gct", "keimzell", "keimzelltumor", "germinale"),
            "melanoma": ("melanom",),
            "other": ("andere", "altro"),
        }
    ),
    "irlm_group": _table({g: () for g in IRLM_GROUPS}),
    "dfi_group": _table({"0-11": ("<12",), "12-35": (), ">=36": ("36+", ">35")}),
    "n_metastases_group": _table({"1": ("single",), "2-3": (), ">=4": ("4+", ">3")}),
}

#: Boolean synonyms shared by every bool field.
BOOLEAN_SYNONYMS: dict[str, bool] = {
    **{normalise_token(t): True for t in ("1", "true", "yes", "y", "ja", "j", "si", "sì", "oui",
                                          "t", "x")},
    **{normalise_token(t): False for t in ("0", "false", "no", "n", "nein", "non", "f")},
}
#: Extra synonyms for particular bool fields.
FIELD_BOOLEAN_SYNONYMS: dict[str, dict[str, bool]] = {
    "leiomyosarcoma": {normalise_token(t): True for t in ("lms", "leiomyosarcoma", "leiomyosarkom")}
    | {normalise_token(t): False for t in ("other sarcoma", "non lms", "other")},
    "os_event": {normalise_token(t): True for t in ("dead", "died", "death", "event")}
    | {normalise_token(t): False for t in ("alive", "censored")},
    "synchronous": {normalise_token(t): True for t in ("synchronous", "synchron", "sincrono")}
    | {normalise_token(t): False for t in ("metachronous", "metachron", "metacrono")},
}

#: Histology text -> IRLM histology group, first match wins. The patterns run on text folded
#: by :func:`normalise_histology` (lower case, accents dropped, every run of punctuation and
#: space one space: "Clear-cell RCC" -> "clear cell rcc"), so abbreviations are matched as
#: whole words ("\bcrc\b" never inside a longer word). Germ cell comes before epithelial so
#: that "embryonal carcinoma" is germ cell; sarcoma before epithelial for "carcinosarcoma" and
#: "clear cell sarcoma"; "sarcomatoid" carcinoma is epithelial, matched before sarcoma; a few
#: entities registries record that belong to none of the four classes (Wilms tumour, thymoma,
#: ...) are placed in "other" before the epithelial site words ("renal", "breast") are tried.
HISTOLOGY_PATTERNS: tuple[tuple[str, str], ...] = (
    ("germ_cell", r"germ|seminom|teratom|yolk|dottersack|choriocarc|chorionkarz|dysgerminom"
                  r"|embryonal\w* (?:carc|karz|ca\b)|keimzell|\bnsgct\b|\bgct\b|\btgct\b"),
    ("melanoma", r"melanom"),
    ("epithelial", r"sarcomatoid|sarkomatoid"),
    ("sarcoma", r"sarcom|sarkom|\blms\b|\bups\b|\bmfh\b|\bmpnst\b|\brms\b|\bdsrct\b"
                r"|\bgist\b|ewing|\bpnet\b|chordom|desmoplastic small round|histiocytom"
                r"|undifferentiated pleomorphic|nerve sheath|\bsynovial\b"),
    ("other", r"wilms|nephroblastom|neuroblastom|thymom|meningiom|solitary fibrous"),
    (
        "epithelial",
        r"carcinom|karzinom|adeno|squamous|plattenepithel|urothel|transitional"
        r"|epithel|renal cell|clear cell|hepatocell|cholangio|thyroid|papillary|follicular"
        r"|ductal|lobular|neuroendocrin|carcinoid"
        # abbreviations and the site words registries use for carcinomas of that site
        r"|\bca\b|\bm?crc\b|\brcc\b|\bccrcc\b|\bnzk\b|\bhnscc\b|\bscchn\b|\bscc\b|\bpeca?\b"
        r"|\bhcc\b|\bptc\b|\bftc\b|\bmtc\b|\bnsclc\b|\bidc\b|\bilc\b"
        r"|colorect|kolorekt|\bcolon|\bkolon|\bcoli\b|\brect(?:al|um)\b|\brekt(?:al|um)\b"
        r"|sigmoid|\bcaec|\bcecum|\brenal\b|\bkidney|\bniere|nierenzell|hypernephro|grawitz"
        r"|head (?:and )?neck|kopf hals|laryn|pharyn|tonsil|\boral\b|breast|\bmamma"
        r"|thyreo|schilddr|tiroid|hepatom|leberzell|prostat|bladder|pancrea|gastric|stomach"
        r"|esophag|osophag|ovarian|endometri|cervix|cervical",
    ),
)
#: Leiomyosarcoma (the LMS flag of sarcoma registries), in raw or folded text.
LEIOMYOSARCOMA_PATTERN = r"leiomyo ?sar|\blms\b"


def normalise_histology(value: object) -> str:
    """Fold a histology text to the form it is recognised and looked up as: lower case,
    accents dropped, every run of punctuation and white space one space, trimmed.

    Unlike :func:`normalise_token` separators become a space (never removed), so that
    abbreviations stay whole words: "Colon-Ca." is "colon ca".

    >>> normalise_histology("Breast ca."), normalise_histology(" Clear-cell  RCC ")
    ('breast ca', 'clear cell rcc')
    >>> normalise_histology("Mal. Melanom (Aderhaut)")
    'mal melanom aderhaut'
    """
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    return re.sub(r"[\W_]+", " ", text.casefold()).strip()


def recognise_histology(value: object) -> str | None:
    """The IRLM histology group (a ``histology_group`` code) of one free-text histology, or
    None when no term of :data:`HISTOLOGY_PATTERNS` names it (the loader then reads it as
    "other" with a finding). For many values use :func:`metsurv.io.derive.histology_group`.

    >>> recognise_histology("CRC"), recognise_histology("UPS/MFH"), recognise_histology("NSGCT")
    ('epithelial', 'sarcoma', 'germ_cell')
    >>> recognise_histology("sarcomatoid carcinoma"), recognise_histology("Thymom")
    ('epithelial', 'other')
    >>> recognise_histology("tumour, NOS") is None
    True
    """
    text = normalise_histology(value)
    for group, pattern in HISTOLOGY_PATTERNS:
        if re.search(pattern, text):
            return group
    return None


# ------------------------------------------------------------------ primary site
# The canonical primary-site terms of the free-text ``primary_site`` field, how registries
# write them, and which histologies name their site (issue 11, item 2).

#: Canonical primary-site terms: the sites whose metastases are resected in the lung (the
#: IRLM histology classes, domain.md). "other" is a site named but none of these.
PRIMARY_SITES: tuple[str, ...] = (
    "colorectal", "kidney", "bladder", "prostate", "testis", "ovary", "uterus", "cervix",
    "breast", "head and neck", "thyroid", "lung", "esophagus", "stomach", "pancreas",
    "liver", "biliary tract", "skin", "eye", "mucosa", "soft tissue", "bone", "mediastinum",
    "thymus", "pleura", "adrenal gland", "meninges", "other",
)

#: Words that name a primary site, on text folded by :func:`normalise_histology` (English,
#: with the German and Italian forms registries use). A text naming exactly one site is
#: placed at it; naming two ("colorectal liver metastasis") places it nowhere.
PRIMARY_SITE_WORDS: tuple[tuple[str, str], ...] = (
    ("colorectal", r"colorect|kolorekt|colo ?rett|\bcolon|\bkolon|\bcoli\b|\brect(?:al|um)\b"
                   r"|\brekt(?:al|um)\b|\bretto\b|sigm[ao]|\bcaec|\bcecum|\bcolic\b|\bbowel"
                   r"|\blarge intestine|\bdickdarm"),
    ("kidney", r"\bkidney|\brenal\b|\bren(?:e|i)\b|\bniere|\bnieren"),
    ("bladder", r"bladder|harnblase|\bblase\b|vescica"),
    ("prostate", r"prostat"),
    ("testis", r"\btest(?:is|es|icular|icolo|icoli)\b|\bhoden|\bscrot"),
    ("ovary", r"\bovar|\beierstock"),
    ("uterus", r"\buter(?:us|ine|o)\b|endometri|\bcorpus uteri\b|gebarmutter|gebaermutter"),
    ("cervix", r"\bcervi(?:x|cal)\b|\bcervice\b|zervix|gebarmutterhals"),
    ("breast", r"\bbreast|\bmamma|\bmammella\b|\bbrust\b"),
    ("head and neck", r"head (?:and )?neck|\bkopf ?hals|\bhno\b|\bhnscc\b|\bscchn\b|laryn"
                      r"|pharyn|tonsil|\boral\b|\btongue|\bzunge|parotid|salivary|testa collo"),
    ("thyroid", r"thyr|schilddr|tiroid"),
    # "pulmonary" and a bare "Lunge" inside a longer text are where the metastases were
    ("lung", r"^lunge?n?$|\blung (?:ca|cancer|carc)|lungenkarz|\bpolmone\b|bronch|\bn?sclc\b"),
    ("esophagus", r"esophag|oesophag|osophag|speiserohr|esofag"),
    ("stomach", r"\bstomach|gastric|\bmagen|\bstomaco|\bgastr(?:ico|isch)\b"),
    ("pancreas", r"pancrea|pankrea"),
    ("liver", r"\bliver|\bleber|hepat|\bfegato|\bhcc\b"),
    ("biliary tract", r"biliar|cholangio|gallbladder|gallenblase|gallengang"),
    ("skin", r"\bskin\b|cutane|kutan|\bhaut\b|\bcute\b|\bcutis\b"),
    ("eye", r"\beye\b|uvea|ocular|choroid|aderhaut|\bauge|\bretina"),
    ("mucosa", r"mucos|schleimhaut"),
    ("soft tissue", r"soft ?tissue|weichteil|weichgewebe|tessuti molli|parti molli"),
    ("bone", r"\bbones?\b|knochen|\bosso\b|\bossa\b"),
    ("mediastinum", r"mediastin"),
    ("thymus", r"\bthym"),
    ("pleura", r"pleura"),
    ("adrenal gland", r"adrenal|nebenniere|surrenal"),
    ("meninges", r"mening"),
    ("other", r"^(?:other|andere|sonstige|altro|altra)$"),
)

#: Histologies that name their site without a site word, tried (first match wins) only when
#: no word of :data:`PRIMARY_SITE_WORDS` names one: colorectal (CRC), renal cell and clear
#: cell carcinoma, hepatocellular, breast (IDC/ILC, lobular), thyroid carcinomas, melanoma
#: (skin unless a site word says uveal or mucosal), testicular germ cell tumours (seminoma,
#: NSGCT) and sarcomas (bone: osteosarcoma, Ewing, chondrosarcoma; the other sarcoma
#: subtypes: soft tissue). The sarcomas that are not of soft tissue or bone by their name
#: (GIST, Kaposi, carcinosarcoma, ...) and germ cell tumours that may arise outside the testis
#: are placed nowhere (None).
PRIMARY_SITE_BY_HISTOLOGY: tuple[tuple[str | None, str], ...] = (
    (None, r"carcinosarc|karzinosark|\bgist\b|gastrointestinal stromal|kaposi|\bdsrct\b"
           r"|desmoplastic small round|sarcomatoid|sarkomatoid|uterine sarcoma"),
    ("colorectal", r"\bm?crc\b"),
    ("kidney", r"\brcc\b|\bccrcc\b|\bnzk\b|renal cell|nierenzell|hypernephro|grawitz"
               r"|clear cell (?:carc|karz|ca\b|rcc\b)|^clear cell$|wilms|nephroblastom"),
    ("liver", r"hepatocell|leberzell|hepatom"),
    ("breast", r"\bidc\b|\bilc\b|lobular carc|lobulares karz|invasive ductal"),
    ("thyroid", r"\bptc\b|\bftc\b|\bmtc\b|papillary thyroid|follicular thyroid"),
    ("skin", r"melanom"),
    ("testis", r"seminom|\bnsgct\b|\btgct\b|non ?seminomatous"),
    ("bone", r"osteosarc|osteosark|osteogenic|ewing|chondrosarc|chondrosark|chordom"),
    ("soft tissue", r"sarcom|sarkom|\blms\b|\bups\b|\bmfh\b|\bmpnst\b|\brms\b"
                    r"|undifferentiated pleomorphic|nerve sheath|\bsynovial\b"),
)


def recognise_primary_site(value: object) -> str | None:
    """The canonical primary site (:data:`PRIMARY_SITES`) a free text names, or None.

    A site word (:data:`PRIMARY_SITE_WORDS`) decides when exactly one site is named; two
    sites named place the text nowhere. Without a site word the histology decides
    (:data:`PRIMARY_SITE_BY_HISTOLOGY`). Used for recorded ``primary_site`` values and, where
    none is recorded, for the histology text; for many values use
    :func:`metsurv.io.derive.primary_site`.

    >>> recognise_primary_site("Colon ca"), recognise_primary_site("Niere")
    ('colorectal', 'kidney')
    >>> recognise_primary_site("CRC"), recognise_primary_site("Ewing-Sarkom")
    ('colorectal', 'bone')
    >>> recognise_primary_site("uveal melanoma"), recognise_primary_site("LMS")
    ('eye', 'soft tissue')
    >>> recognise_primary_site("colorectal liver metastasis") is None
    True
    """
    text = normalise_histology(value)
    if not text:
        return None
    named = {site for site, pattern in PRIMARY_SITE_WORDS if re.search(pattern, text)}
    if named:
        return named.pop() if len(named) == 1 else None
    for site, pattern in PRIMARY_SITE_BY_HISTOLOGY:
        if re.search(pattern, text):
            return site
    return None



def codes(name: str) -> tuple[str, ...]:
    """Allowed codes of a coded patients-table field, in display order.

    >>> codes("resection_status")
    ('R0', 'R1', 'R2')
    """
    return PATIENTS[name].codes
