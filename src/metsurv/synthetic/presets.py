"""Named, calibrated parameter sets of the synthetic data-generating process.

Each :class:`Preset` holds everything :func:`metsurv.synthetic.generate` needs (cohort
composition, the outcome models, recurrence and repeat resection, censoring) and the published
figures it was calibrated to (:class:`Target`). The cure-model coefficients marked "fitted" were
found with :func:`metsurv.synthetic.calibration.fit_cure_model` (analytic marginal survival,
least squares) and are stored here as plain numbers so that a draw never depends on an
optimiser. docs/synthetic.md describes the model and shows the calibration table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from metsurv import schema

R0, R1, R2 = schema.codes("resection_status")
N0, N1, N2, NX = schema.codes("nodal_status")
EPITHELIAL, SARCOMA, GERM_CELL, MELANOMA, OTHER = schema.codes("histology_group")
DFI_EARLY, DFI_MID, DFI_LATE = schema.DFI_GROUPS
NMET_1, NMET_2_3, NMET_4 = schema.N_METASTASES_GROUPS
IRLM_I, IRLM_II, IRLM_III, IRLM_IV = schema.IRLM_GROUPS
RESPONSE, STABLE, PROGRESSION, NO_CHEMO = schema.codes("chemo_response")
PULMONARY, EXTRATHORACIC, BOTH_SITES = schema.codes("recurrence_site")


def term(name: str, level: object) -> str:
    """Name of a dummy covariate ``field=level`` (the key of every coefficient table).

    >>> term("dfi_group", schema.DFI_GROUPS[0])
    'dfi_group=0-11'
    """
    return f"{name}={level}"


def shares(name: str, *values: float) -> dict[str, float]:
    """Probabilities of a coded field's levels, given in schema order.

    >>> shares("laterality", 0.7, 0.3)
    {'unilateral': 0.7, 'bilateral': 0.3}
    """
    return dict(zip(schema.codes(name), values, strict=True))


@dataclass(frozen=True)
class Subtype:
    """One histological subtype as a registry records it."""

    histology: str
    primary_site: str
    share: float
    p_male: float


@dataclass(frozen=True)
class Target:
    """A published figure the preset is calibrated to.

    ``subset`` restricts the analysis frame (field -> allowed values); ``statistic`` is one of
    ``surv_5y``, ``surv_10y``, ``surv_15y``, ``median`` (months, Kaplan-Meier), ``share`` (mean
    of the boolean analysis column ``column`` within the subset) or ``mean`` (of ``column``).
    ``origin`` is ``metastasectomy`` or ``second_metastasectomy``. ``tolerance`` is absolute
    for proportions and relative for medians and means; None = reported, not tested.
    """

    label: str
    statistic: str
    value: float
    source: str
    subset: tuple[tuple[str, tuple[object, ...]], ...] = ()
    column: str = ""
    origin: str = "metastasectomy"
    tolerance: float | None = None


@dataclass(frozen=True)
class CureModel:
    """Mixture cure model with background mortality (the ``calibrated`` outcome).

    For a patient with dummy covariates x, prognostic score s = x . coef:
    cure fraction pi = expit(intercept - s); uncured cancer death time Weibull with median
    exp(log_median_uncured - rho * s + x . uncured_coef) months and shape ``shape``;
    background death Gompertz in age (hazard ``bg_hazard_at_60`` per year at age 60, log-slope
    ``bg_log_slope`` per year of age). Death = the earlier of the two.
    """

    intercept: float
    log_median_uncured: float
    shape: float
    rho: float
    coef: dict[str, float]
    uncured_coef: dict[str, float] = field(default_factory=dict)
    bg_hazard_at_60: float = 0.010
    bg_log_slope: float = 0.085


@dataclass(frozen=True)
class PHModel:
    """Weibull proportional-hazards outcome (the ``ph`` outcome) with stated true log HRs.

    h(t | x) = h0(t) exp(x . log_hr), h0 Weibull with shape ``shape`` and median
    ``reference_median_months`` in the reference group (schema.REFERENCE_LEVELS). No cure, no
    background mortality; death_cause is cancer with probability ``p_cancer_death``. Repeat
    resection has no effect on survival.
    """

    log_hr: dict[str, float]
    shape: float = 1.0
    reference_median_months: float = 60.0
    p_cancer_death: float = 0.85


@dataclass(frozen=True)
class Course:
    """Recurrence and repeat metastasectomy, drawn given the latent death times.

    Uncured patients recur with probability ``p_recur_uncured`` at a Beta(a, b) fraction of the
    way from their last operation to cancer death; cured patients recur (pulmonary, resectable:
    they are cured *by* the repeat resection) with probability ``p_recur_cured[group]``,
    ``median_recur_cured_months`` after the last operation (Weibull shape 1.3), and again with
    ``p_recur_cured_again`` after each repeat operation. A pulmonary recurrence is re-resected
    with probability ``p_reoperate_cured`` / ``p_reoperate_uncured[sarcoma or other]`` when the
    patient lives long enough, ``reoperation_delay_months`` (gamma mean) after the recurrence.
    """

    p_recur_uncured: float = 0.92
    recur_beta: tuple[float, float] = (2.0, 3.0)
    p_recur_cured: dict[str, float] = field(default_factory=dict)
    median_recur_cured_months: float = 14.0
    p_recur_cured_again: float = 0.25
    site_uncured: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    p_reoperate_cured: float = 0.9
    p_reoperate_uncured: dict[str, float] = field(default_factory=dict)
    reoperation_delay_months: float = 2.0
    max_resections: int = 4


@dataclass(frozen=True)
class Preset:
    """A named cohort: composition, outcome models, course, censoring and targets."""

    name: str
    description: str
    n: int
    centres: tuple[tuple[str, float], ...]
    histology: dict[str, float]
    subtypes: dict[str, tuple[Subtype, ...]]
    age: dict[str, tuple[float, float]]
    resection: tuple[float, float, float]
    dfi: tuple[float, float, float]
    synchronous_share_early: float
    dfi_late_mean_excess_months: float
    n_metastases: tuple[float, float, float]
    n_metastases_missing: float
    burden_rho: float
    nodal_assessed: float
    nodal: tuple[float, float, float]
    approach: dict[str, float]
    extent: dict[str, float]
    chemo: dict[str, float]
    missing: dict[str, float]
    accrual: tuple[str, str]
    accrual_growth: float
    closing_date: str
    loss_per_year: float
    cure: CureModel
    ph: PHModel
    course: Course
    targets: tuple[Target, ...]
    #: correlation of a long DFI with a low tumour burden (fewer metastases, complete resection)
    dfi_burden_rho: float = 0.0


IRLM_SOURCE = "Pastorino U et al. J Thorac Cardiovasc Surg 1997;113:37-49"
IRLM_REVIEW = "Gherzi L et al. AME Surg J 2022;2:38 (quoting IRLM)"
IRLM_QUOTED = "Pastorino U et al. 1997 as quoted in reviews; not verified in full text"
IRLM_HISTOLOGY_NOTE = (
    "IRLM 1997 5-y OS by histology after complete resection as recalled from the full text "
    "(not in published_figures.csv): reported, only the order germ cell > ... > melanoma is tested"
)

_COMPLETE = (("complete_resection", (True,)),)
_INCOMPLETE = (("complete_resection", (False,)),)

EPITHELIAL_SUBTYPES = (
    Subtype("colorectal adenocarcinoma", "colorectal", 0.40, 0.60),
    Subtype("renal cell carcinoma", "kidney", 0.20, 0.65),
    Subtype("invasive ductal carcinoma of the breast", "breast", 0.12, 0.0),
    Subtype("head and neck squamous cell carcinoma", "head and neck", 0.12, 0.75),
    Subtype("endometrial adenocarcinoma", "uterus", 0.04, 0.0),
    Subtype("urothelial carcinoma", "bladder", 0.04, 0.75),
    Subtype("hepatocellular carcinoma", "liver", 0.03, 0.75),
    Subtype("papillary thyroid carcinoma", "thyroid", 0.03, 0.30),
    Subtype("squamous cell carcinoma of the cervix", "cervix", 0.02, 0.0),
)
#: Soft-tissue subtypes in the proportions of the domain brief (UPS 25%, LMS 18%, synovial
#: 10%, liposarcoma 10%) plus the bone sarcomas seen in metastasectomy series.
SARCOMA_SUBTYPES = (
    Subtype("undifferentiated pleomorphic sarcoma", "soft tissue", 0.25, 0.55),
    Subtype("leiomyosarcoma", "soft tissue", 0.11, 0.45),
    Subtype("uterine leiomyosarcoma", "uterus", 0.07, 0.0),
    Subtype("synovial sarcoma", "soft tissue", 0.10, 0.50),
    Subtype("liposarcoma", "soft tissue", 0.10, 0.55),
    Subtype("osteosarcoma", "bone", 0.14, 0.60),
    Subtype("Ewing sarcoma", "bone", 0.04, 0.60),
    Subtype("malignant peripheral nerve sheath tumour (neurofibrosarcoma)", "soft tissue", 0.03,
            0.50),
    Subtype("rhabdomyosarcoma", "soft tissue", 0.03, 0.55),
    Subtype("chondrosarcoma", "bone", 0.03, 0.55),
    Subtype("angiosarcoma", "soft tissue", 0.03, 0.50),
    Subtype("fibrosarcoma", "soft tissue", 0.03, 0.50),
    Subtype("alveolar soft part sarcoma", "soft tissue", 0.02, 0.40),
    Subtype("epithelioid sarcoma", "soft tissue", 0.02, 0.60),
)
GERM_CELL_SUBTYPES = (
    Subtype("nonseminomatous germ cell tumour", "testis", 0.65, 1.0),
    Subtype("mixed germ cell tumour", "testis", 0.15, 1.0),
    Subtype("seminoma", "testis", 0.08, 1.0),
    Subtype("mediastinal nonseminomatous germ cell tumour", "mediastinum", 0.07, 1.0),
    Subtype("ovarian germ cell tumour (dysgerminoma)", "ovary", 0.05, 0.0),
)
MELANOMA_SUBTYPES = (
    Subtype("cutaneous melanoma", "skin", 0.85, 0.55),
    Subtype("uveal melanoma", "eye", 0.10, 0.50),
    Subtype("mucosal melanoma", "mucosa", 0.05, 0.45),
)
OTHER_SUBTYPES = (
    Subtype("nephroblastoma (Wilms tumour)", "kidney", 0.35, 0.50),
    Subtype("thymoma", "thymus", 0.25, 0.50),
    Subtype("neuroblastoma", "adrenal gland", 0.15, 0.55),
    Subtype("malignant solitary fibrous tumour", "pleura", 0.15, 0.50),
    Subtype("malignant meningioma", "meninges", 0.10, 0.40),
)
SUBTYPES = {
    EPITHELIAL: EPITHELIAL_SUBTYPES,
    SARCOMA: SARCOMA_SUBTYPES,
    GERM_CELL: GERM_CELL_SUBTYPES,
    MELANOMA: MELANOMA_SUBTYPES,
    OTHER: OTHER_SUBTYPES,
}
AGE = {
    EPITHELIAL: (60.0, 10.0),
    SARCOMA: (46.0, 16.0),
    GERM_CELL: (30.0, 8.0),
    MELANOMA: (53.0, 13.0),
    OTHER: (35.0, 18.0),
}

# Nodal effects of the IRLM preset (not calibrated: IRLM reports no nodal figures).
_NODAL_COEF_IRLM = {term("nodal_status", N1): 0.6, term("nodal_status", N2): 1.2}


def _irlm_targets() -> tuple[Target, ...]:
    c = _COMPLETE
    t = [
        Target("complete resection, 5-y OS", "surv_5y", 0.36, IRLM_SOURCE, c, tolerance=0.02),
        Target("complete resection, 10-y OS", "surv_10y", 0.26, IRLM_SOURCE, c, tolerance=0.02),
        Target("complete resection, 15-y OS", "surv_15y", 0.22, IRLM_SOURCE, c, tolerance=0.02),
        Target("complete resection, median OS", "median", 35, IRLM_SOURCE, c, tolerance=0.10),
        Target("incomplete resection, 5-y OS", "surv_5y", 0.13, IRLM_SOURCE, _INCOMPLETE,
               tolerance=0.02),
        Target("incomplete resection, 10-y OS", "surv_10y", 0.07, IRLM_SOURCE, _INCOMPLETE,
               tolerance=0.02),
        Target("incomplete resection, median OS", "median", 15, IRLM_SOURCE, _INCOMPLETE,
               tolerance=0.10),
        Target("complete, DFI 0-11 mo, 5-y OS", "surv_5y", 0.33, IRLM_SOURCE,
               (*c, ("dfi_group", (DFI_EARLY,))), tolerance=0.02),
        Target("complete, DFI >=36 mo, 5-y OS", "surv_5y", 0.45, IRLM_SOURCE,
               (*c, ("dfi_group", (DFI_LATE,))), tolerance=0.02),
        Target("complete, single metastasis, 5-y OS", "surv_5y", 0.43, IRLM_SOURCE,
               (*c, ("n_metastases_group", (NMET_1,))), tolerance=0.02),
        Target("complete, >=4 metastases, 5-y OS", "surv_5y", 0.27, IRLM_SOURCE,
               (*c, ("n_metastases_group", (NMET_4,))), tolerance=0.02),
        Target("IRLM group I, median OS", "median", 61, IRLM_QUOTED,
               (("irlm_group", (IRLM_I,)),), tolerance=0.10),
        Target("IRLM group II, median OS", "median", 34, IRLM_QUOTED,
               (("irlm_group", (IRLM_II,)),), tolerance=0.10),
        Target("IRLM group III, median OS", "median", 24, IRLM_REVIEW,
               (("irlm_group", (IRLM_III,)),), tolerance=0.10),
        Target("IRLM group IV, median OS", "median", 14, IRLM_REVIEW,
               (("irlm_group", (IRLM_IV,)),), tolerance=0.10),
    ]
    for group, value in ((GERM_CELL, 0.68), (EPITHELIAL, 0.37), (SARCOMA, 0.31), (MELANOMA, 0.21)):
        t.append(Target(f"complete, {group}, 5-y OS", "surv_5y", value, IRLM_HISTOLOGY_NOTE,
                        (*c, ("histology_group", (group,)))))
    t += [
        Target("mean follow-up (months)", "mean", 46, IRLM_SOURCE, column="followup_months",
               tolerance=0.10),
        Target("sarcoma: relapsing patients with a repeat resection", "share", 0.53,
               "IRLM 1997 (domain brief)",
               (("recurrence", (True,)), ("histology_group", (SARCOMA,))),
               column="repeat_resection", tolerance=0.05),
        Target("other tumours: relapsing patients with a repeat resection", "share", 0.28,
               "IRLM 1997 (domain brief)",
               (("recurrence", (True,)),
                ("histology_group", (EPITHELIAL, GERM_CELL, MELANOMA, OTHER))),
               column="repeat_resection", tolerance=0.05),
    ]
    return tuple(t)


IRLM1997 = Preset(
    name="irlm1997",
    description=(
        "International Registry of Lung Metastases (Pastorino 1997): 5,206 patients from 18 "
        "centres, all histologies"
    ),
    n=5206,
    centres=tuple(
        (f"IRLM-{i:02d}", w)
        for i, w in enumerate(
            (14, 11, 9, 8, 7, 7, 6, 5, 5, 4, 4, 4, 3, 3, 3, 3, 2, 2), start=1
        )
    ),
    histology={
        EPITHELIAL: 2260 / 5206,
        SARCOMA: 2173 / 5206,
        GERM_CELL: 363 / 5206,
        MELANOMA: 328 / 5206,
        OTHER: 82 / 5206,
    },
    subtypes=SUBTYPES,
    age=AGE,
    resection=(4572 / 5206, 0.55 * 634 / 5206, 0.45 * 634 / 5206),
    dfi=(1729 / 5206, 1857 / 5206, 1620 / 5206),
    synchronous_share_early=0.35,
    dfi_late_mean_excess_months=36.0,
    n_metastases=(2383 / 5109, 1500 / 5109, 1226 / 5109),
    n_metastases_missing=97 / 5206,
    burden_rho=0.7,
    nodal_assessed=0.3,
    nodal=(0.80, 0.08, 0.12),
    # vats, thoracotomy, sternotomy, clamshell, robotic (an era of open surgery)
    approach=shares("approach", 0.10, 0.72, 0.14, 0.04, 0.0),
    # wedge, precision, segmentectomy, lobectomy, pneumonectomy, extended
    extent=shares("extent", 0.62, 0.10, 0.06, 0.17, 0.03, 0.02),
    chemo={RESPONSE: 0.18, STABLE: 0.12, PROGRESSION: 0.07, NO_CHEMO: 0.63},
    missing={"age_at_metastasectomy": 0.01, "approach": 0.04, "extent": 0.04,
             "chemo_response": 0.15, "laterality": 0.03, "recurrence_site": 0.03,
             "death_cause": 0.05},
    accrual=("1965-01-01", "1994-12-31"),
    accrual_growth=2.0,
    closing_date="1995-12-31",
    loss_per_year=0.01,
    # fitted: calibration.fit_cure_model("irlm1997") refits the parameters in FITTED
    cure=CureModel(
        intercept=-0.0362,
        log_median_uncured=3.5253,
        shape=1.5332,
        rho=0.3497,
        coef={
            term("resection_status", R1): 0.8354,
            term("resection_status", R2): 1.8,
            term("dfi_group", DFI_EARLY): 1.7386,
            term("dfi_group", DFI_MID): 0.3178,
            term("n_metastases_group", NMET_2_3): 0.2888,
            term("n_metastases_group", NMET_4): 0.9438,
            term("histology_group", SARCOMA): 0.3398,
            term("histology_group", GERM_CELL): -1.1594,
            term("histology_group", MELANOMA): 0.8478,
            term("histology_group", OTHER): 0.2,
            **_NODAL_COEF_IRLM,
        },
        uncured_coef={
            term("resection_status", R1): 0.2003,
            term("resection_status", R2): -0.4669,
            term("dfi_group", DFI_EARLY): 0.9825,
            term("dfi_group", DFI_MID): -0.8924,
            term("n_metastases_group", NMET_2_3): -0.2650,
            term("n_metastases_group", NMET_4): 0.2149,
        },
    ),
    ph=PHModel(
        log_hr={
            term("complete_resection", False): 0.80,
            term("dfi_group", DFI_EARLY): 0.45,
            term("dfi_group", DFI_MID): 0.25,
            term("n_metastases_group", NMET_2_3): 0.25,
            term("n_metastases_group", NMET_4): 0.55,
            term("histology_group", SARCOMA): 0.15,
            term("histology_group", GERM_CELL): -0.90,
            term("histology_group", MELANOMA): 0.60,
            term("histology_group", OTHER): 0.20,
        },
        shape=0.9,
        reference_median_months=90.0,
    ),
    course=Course(
        p_recur_cured={SARCOMA: 0.25, EPITHELIAL: 0.10, GERM_CELL: 0.05, MELANOMA: 0.05,
                       OTHER: 0.10},
        site_uncured={SARCOMA: (0.66, 0.24, 0.10), "default": (0.50, 0.38, 0.12)},
        p_reoperate_uncured={SARCOMA: 0.90, "default": 0.62},
    ),
    targets=_irlm_targets(),
    dfi_burden_rho=0.4,
)


def _sarcoma_targets() -> tuple[Target, ...]:
    lms = "leiomyosarcoma"
    burt = "Burt BM et al. Ann Thorac Surg 2011;92:1202-7"
    veronesi = "Veronesi G et al. J Thorac Cardiovasc Surg 2007;133:967-72"
    stephens = "Stephens EH et al. J Am Coll Surg 2011;212:821-6"
    jaklitsch = "Jaklitsch MT et al. J Thorac Cardiovasc Surg 2001;121:657-67"
    chemo = ("chemo_response", (RESPONSE, STABLE, PROGRESSION))
    return (
        Target("leiomyosarcoma, median OS", "median", 69.9, burt, ((lms, (True,)),),
               tolerance=0.10),
        Target("other sarcoma, median OS", "median", 23.9, burt, ((lms, (False,)),),
               tolerance=0.10),
        Target("N0, 5-y OS", "surv_5y", 0.60, veronesi, (("nodal_status", (N0,)),),
               tolerance=0.02),
        Target("N1, 5-y OS", "surv_5y", 0.17, veronesi, (("nodal_status", (N1,)),),
               tolerance=0.02),
        Target("N2, 5-y OS", "surv_5y", 0.00, veronesi, (("nodal_status", (N2,)),),
               tolerance=0.02),
        Target("preoperative chemotherapy, progression: median OS", "median", 17.2, stephens,
               (chemo, ("chemo_response", (PROGRESSION,))), tolerance=0.10),
        Target("preoperative chemotherapy, no progression: median OS", "median", 35.5, stephens,
               (chemo, ("chemo_response", (RESPONSE, STABLE))), tolerance=0.10),
        Target("5-y OS from the second metastasectomy", "surv_5y", 0.57, jaklitsch,
               origin="second_metastasectomy", tolerance=0.02),
        Target("nodal status recorded (not NX)", "share", 0.50, "metsurv issue 3 brief",
               column="nodal_assessed", tolerance=0.05),
        Target("synchronous metastases", "share", 0.32, "domain brief (about 32% of sarcoma)",
               column="synchronous", tolerance=0.05),
        Target("complete resection: pulmonary recurrence", "share", 0.60,
               "metsurv issue 3 brief ('most patients')", _COMPLETE,
               column="pulmonary_recurrence", tolerance=0.10),
    )


SARCOMA_PRESET = Preset(
    name="sarcoma",
    description=(
        "Single-institution series of pulmonary metastasectomy for sarcoma (Burt 2011, "
        "Veronesi 2007, Stephens 2011, Jaklitsch 2001 figures)"
    ),
    n=600,
    centres=(("Sarcoma Centre", 1.0),),
    histology={EPITHELIAL: 0.0, SARCOMA: 1.0, GERM_CELL: 0.0, MELANOMA: 0.0, OTHER: 0.0},
    subtypes=SUBTYPES,
    age=AGE,
    resection=(0.85, 0.10, 0.05),
    dfi=(0.45, 0.30, 0.25),
    synchronous_share_early=0.71,
    dfi_late_mean_excess_months=30.0,
    n_metastases=(0.40, 0.35, 0.25),
    n_metastases_missing=0.01,
    burden_rho=0.5,
    nodal_assessed=0.5,
    nodal=(0.80, 0.08, 0.12),
    approach=shares("approach", 0.40, 0.45, 0.05, 0.05, 0.05),
    extent=shares("extent", 0.55, 0.15, 0.10, 0.17, 0.02, 0.01),
    chemo={RESPONSE: 0.15, STABLE: 0.20, PROGRESSION: 0.10, NO_CHEMO: 0.55},
    missing={"age_at_metastasectomy": 0.0, "approach": 0.02, "extent": 0.02,
             "chemo_response": 0.05, "laterality": 0.02, "recurrence_site": 0.02,
             "death_cause": 0.03},
    accrual=("1995-01-01", "2014-12-31"),
    accrual_growth=1.0,
    closing_date="2020-12-31",
    loss_per_year=0.02,
    # fitted: calibration.fit_cure_model("sarcoma") refits the parameters in FITTED; the
    # resection, DFI and number-of-metastases effects are set, not fitted (no
    # sarcoma-specific figures).
    cure=CureModel(
        intercept=-0.3591,
        log_median_uncured=4.2774,
        shape=2.9782,
        rho=0.4121,
        coef={
            term("resection_status", R1): 1.5,
            term("resection_status", R2): 1.8,
            term("dfi_group", DFI_EARLY): 0.4,
            term("dfi_group", DFI_MID): 0.2,
            term("n_metastases_group", NMET_2_3): 0.3,
            term("n_metastases_group", NMET_4): 0.7,
            term("leiomyosarcoma", True): -0.1962,
            term("nodal_status", N1): 1.6988,
            term("nodal_status", N2): 4.7183,
            term("nodal_status", NX): 0.2266,
            term("chemo_response", PROGRESSION): 1.1598,
        },
        uncured_coef={
            term("leiomyosarcoma", True): 1.0051,
            term("nodal_status", NX): -1.3085,
            term("chemo_response", PROGRESSION): 0.0298,
        },
    ),
    ph=PHModel(
        log_hr={
            term("complete_resection", False): 0.80,
            term("dfi_group", DFI_EARLY): 0.40,
            term("dfi_group", DFI_MID): 0.20,
            term("n_metastases_group", NMET_2_3): 0.25,
            term("n_metastases_group", NMET_4): 0.55,
            term("leiomyosarcoma", True): -0.70,
            term("nodal_status", N1): 0.90,
            term("nodal_status", N2): 1.50,
            term("nodal_status", NX): 0.0,
        },
        shape=1.0,
        reference_median_months=70.0,
    ),
    course=Course(
        p_recur_cured={SARCOMA: 0.75},
        p_recur_cured_again=0.35,
        site_uncured={SARCOMA: (0.60, 0.28, 0.12), "default": (0.60, 0.28, 0.12)},
        p_reoperate_uncured={SARCOMA: 0.30, "default": 0.30},
    ),
    targets=_sarcoma_targets(),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (IRLM1997, SARCOMA_PRESET)}

_U = "u:"  # prefix of an uncured-pace coefficient in a list of free parameters
#: The cure-model parameters fitted to each preset's targets (the rest are set by hand):
#: ``calibration.fit_cure_model(name)`` refits exactly these, with ridge 0.5.
FITTED: dict[str, tuple[str, ...]] = {
    "irlm1997": (
        "intercept", "log_median_uncured", "shape", "rho", term("resection_status", R1),
        _U + term("resection_status", R1), _U + term("resection_status", R2),
        term("dfi_group", DFI_EARLY), term("dfi_group", DFI_MID),
        _U + term("dfi_group", DFI_EARLY), _U + term("dfi_group", DFI_MID),
        _U + term("n_metastases_group", NMET_2_3), _U + term("n_metastases_group", NMET_4),
        term("n_metastases_group", NMET_2_3), term("n_metastases_group", NMET_4),
        *(term("histology_group", g) for g in (SARCOMA, GERM_CELL, MELANOMA)),
    ),
    "sarcoma": (
        "intercept", "log_median_uncured", "shape", "rho", term("leiomyosarcoma", True),
        term("nodal_status", N1), term("nodal_status", N2), term("nodal_status", NX),
        term("chemo_response", PROGRESSION), _U + term("leiomyosarcoma", True),
        _U + term("nodal_status", NX), _U + term("chemo_response", PROGRESSION),
    ),
}


def get_preset(preset: str | Preset) -> Preset:
    """The preset called ``preset`` (or ``preset`` itself); ValueError names the choices.

    >>> get_preset("irlm1997").n
    5206
    """
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ValueError(
            f"unknown synthetic preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}"
        ) from None
