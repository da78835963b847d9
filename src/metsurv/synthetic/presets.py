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
class Ordering:
    """A published order, not a number: ``statistic`` (as in :class:`Target`) of the levels of
    ``field`` within ``subset``, best first. ``ranks`` holds tiers of levels: every level of a
    tier must do better than every level of the next tier (levels within a tier are not
    ordered against each other)."""

    label: str
    statistic: str
    field: str
    ranks: tuple[tuple[object, ...], ...]
    source: str
    subset: tuple[tuple[str, tuple[object, ...]], ...] = ()


@dataclass(frozen=True)
class Tie:
    """The middle level of an ordered factor as ``fraction`` (in [0, 1]) of its ``worst`` level,
    in both the cure coefficient and the uncured coefficient: its cure odds and its uncured
    pace then lie between the reference and the worst level on the log scale (monotone risk).
    ``fitted``: ``fit_cure_model`` fits the fraction (within [0, 1]); else it is fixed."""

    level: str
    worst: str
    fraction: float
    fitted: bool = False


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
    #: middle levels of ordered factors tied to their worst level (set here, never listed in
    #: ``coef``/``uncured_coef``: ``__post_init__`` fills them in, also after a replace)
    ties: tuple[Tie, ...] = ()

    def __post_init__(self) -> None:
        coef, uncured = dict(self.coef), dict(self.uncured_coef)
        for t in self.ties:
            coef[t.level] = t.fraction * coef.get(t.worst, 0.0)
            uncured[t.level] = t.fraction * uncured.get(t.worst, 0.0)
        object.__setattr__(self, "coef", coef)
        object.__setattr__(self, "uncured_coef", uncured)

    def uncured_shift(self, key: str) -> float:
        """How much the dummy ``key`` moves the uncured log median (-rho * coef + uncured_coef):
        negative = the uncured die sooner."""
        return -self.rho * self.coef.get(key, 0.0) + self.uncured_coef.get(key, 0.0)


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
class TreatmentModel:
    """Confounded assignment of the surgical approach (``generate(..., treatment_effect=)``).

    Among the patients whose drawn approach is ``treated`` or ``control`` (the others keep
    their draw), P(treated) = expit(intercept + x . coef) over the dummies of ``coef``
    (:func:`term` keys): fewer metastases, a longer DFI and unilateral disease favour VATS.
    The number of metastases and the DFI also carry true log HRs in the ``ph`` model, so they
    confound the comparison; laterality drives only the assignment (it is correlated with the
    number of metastases). Not a field of :class:`Preset`: a draw without a treatment effect
    (and its manifest) stays exactly what it was before this model existed.
    """

    treated: str = "vats"
    control: str = "thoracotomy"
    column: str = "approach"
    intercept: float = 1.0
    coef: dict[str, float] = field(default_factory=lambda: {
        term("n_metastases_group", NMET_2_3): -1.2,
        term("n_metastases_group", NMET_4): -2.4,
        term("dfi_group", DFI_EARLY): -1.4,
        term("dfi_group", DFI_MID): -0.7,
        term("laterality", "bilateral"): -0.8,
    })


#: The treatment-assignment model every preset uses (strong confounding: the unadjusted
#: VATS-vs-thoracotomy HR is visibly biased at 4,000 patients).
TREATMENT = TreatmentModel()


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
    #: published orders (no number) a draw must reproduce
    orderings: tuple[Ordering, ...] = ()
    #: correlation of a long DFI with a low tumour burden (fewer metastases, complete resection)
    dfi_burden_rho: float = 0.0


#: Ordered risk factors, best (reference) level first. In every preset's cure model a worse
#: level has a coefficient (lower cure odds) and an uncured shift (faster death of the uncured)
#: at least as bad as the better level before it: see :func:`monotone_violations`.
ORDERED: dict[str, tuple[str, ...]] = {
    "resection_status": (R0, R1, R2),
    "dfi_group": (DFI_LATE, DFI_MID, DFI_EARLY),
    "n_metastases_group": (NMET_1, NMET_2_3, NMET_4),
    "nodal_status": (N0, N1, N2),
}


def monotone_violations(cure: CureModel) -> list[str]:
    """Where ``cure`` is not monotone in an :data:`ORDERED` factor (empty list: monotone).

    >>> monotone_violations(IRLM1997.cure)
    []
    """
    out = []
    for name, levels in ORDERED.items():
        keys = [term(name, level) for level in levels]
        coef = [0.0] + [cure.coef.get(k, 0.0) for k in keys[1:]]
        shift = [0.0] + [cure.uncured_shift(k) for k in keys[1:]]
        for i in range(1, len(keys)):
            if coef[i] < coef[i - 1] - 1e-9:
                out.append(f"{keys[i]}: cure coefficient {coef[i]:.4f} < {coef[i - 1]:.4f} of "
                           f"{levels[i - 1]}")
            if shift[i] > shift[i - 1] + 1e-9:
                out.append(f"{keys[i]}: uncured shift {shift[i]:.4f} > {shift[i - 1]:.4f} of "
                           f"{levels[i - 1]}")
    return out


IRLM_SOURCE = "Pastorino U et al. J Thorac Cardiovasc Surg 1997;113:37-49"
IRLM_REVIEW = "Gherzi L et al. AME Surg J 2022;2:38 (quoting IRLM)"
IRLM_QUOTED = "Pastorino U et al. 1997 as quoted in reviews; not verified in full text"
IRLM_BRIEF = "IRLM 1997 (domain brief)"

_COMPLETE = (("complete_resection", (True,)),)
_INCOMPLETE = (("complete_resection", (False,)),)


def _published(label: str, statistic: str, value: float, source: str,
               subset: tuple[tuple[str, tuple[object, ...]], ...] = (),
               tolerance: float | None = None, **kwargs: str) -> Target:
    """A tested target; by default proportions within 2 points, medians and means within 10%."""
    if tolerance is None:
        tolerance = 0.10 if statistic in ("median", "mean") else 0.02
    return Target(label, statistic, value, source, subset, tolerance=tolerance, **kwargs)


def _risk_factor_orderings(source: str) -> tuple[Ordering, ...]:
    """IRLM's risk factors among complete resections: a shorter DFI (0-11 worst) and more
    metastases (>= 4 worst) mean worse 5-year survival."""
    return (
        Ordering("complete resection: DFI >= 36 > 12-35 > 0-11 months", "surv_5y", "dfi_group",
                 ((DFI_LATE,), (DFI_MID,), (DFI_EARLY,)), source, _COMPLETE),
        Ordering("complete resection: 1 > 2-3 > >= 4 metastases", "surv_5y",
                 "n_metastases_group", ((NMET_1,), (NMET_2_3,), (NMET_4,)), source, _COMPLETE),
    )


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
# Histology effects of the IRLM preset: an assumption, set by hand (not a calibration target;
# IRLM's per-histology figures are not in published_figures.csv). Only their order is a
# target: germ cell best, melanoma worst (domain brief).
_HISTOLOGY_COEF_IRLM = {
    term("histology_group", SARCOMA): 0.34,
    term("histology_group", GERM_CELL): -1.16,
    term("histology_group", MELANOMA): 0.85,
    term("histology_group", OTHER): 0.20,
}
#: Composition shared by the presets.
_SHARED = {"subtypes": SUBTYPES, "age": AGE, "nodal": (0.80, 0.08, 0.12)}


def _ph_log_hr(dfi: tuple[float, float], **own: float) -> dict[str, float]:
    """True log HRs of a ``ph`` model: resection and number of metastases as in every preset,
    DFI 0-11 / 12-35 (vs >= 36) as given, then the preset's own factors."""
    return {
        term("complete_resection", False): 0.80,
        term("dfi_group", DFI_EARLY): dfi[0],
        term("dfi_group", DFI_MID): dfi[1],
        term("n_metastases_group", NMET_2_3): 0.25,
        term("n_metastases_group", NMET_4): 0.55,
        **own,
    }


def _irlm_targets() -> tuple[Target, ...]:
    c, src, brief = _COMPLETE, IRLM_SOURCE, IRLM_BRIEF
    relapsed = ("recurrence", (True,))
    return (
        _published("complete resection, 5-y OS", "surv_5y", 0.36, src, c),
        _published("complete resection, 10-y OS", "surv_10y", 0.26, src, c),
        _published("complete resection, 15-y OS", "surv_15y", 0.22, src, c),
        _published("complete resection, median OS", "median", 35, src, c),
        _published("incomplete resection, 5-y OS", "surv_5y", 0.13, src, _INCOMPLETE),
        _published("incomplete resection, 10-y OS", "surv_10y", 0.07, src, _INCOMPLETE),
        _published("incomplete resection, median OS", "median", 15, src, _INCOMPLETE),
        _published("complete, DFI 0-11 mo, 5-y OS", "surv_5y", 0.33, src,
                   (*c, ("dfi_group", (DFI_EARLY,)))),
        _published("complete, DFI >=36 mo, 5-y OS", "surv_5y", 0.45, src,
                   (*c, ("dfi_group", (DFI_LATE,)))),
        _published("complete, single metastasis, 5-y OS", "surv_5y", 0.43, src,
                   (*c, ("n_metastases_group", (NMET_1,)))),
        _published("complete, >=4 metastases, 5-y OS", "surv_5y", 0.27, src,
                   (*c, ("n_metastases_group", (NMET_4,)))),
        _published("IRLM group I, median OS", "median", 61, IRLM_QUOTED,
                   (("irlm_group", (IRLM_I,)),)),
        _published("IRLM group II, median OS", "median", 34, IRLM_QUOTED,
                   (("irlm_group", (IRLM_II,)),)),
        _published("IRLM group III, median OS", "median", 24, IRLM_REVIEW,
                   (("irlm_group", (IRLM_III,)),)),
        _published("IRLM group IV, median OS", "median", 14, IRLM_REVIEW,
                   (("irlm_group", (IRLM_IV,)),)),
        _published("mean follow-up (months)", "mean", 46, src, column="followup_months"),
        _published("sarcoma: relapsing patients with a repeat resection", "share", 0.53, brief,
                   (relapsed, ("histology_group", (SARCOMA,))), tolerance=0.05,
                   column="repeat_resection"),
        _published("other tumours: relapsing patients with a repeat resection", "share", 0.28,
                   brief, (relapsed, ("histology_group", (EPITHELIAL, GERM_CELL, MELANOMA,
                                                          OTHER))),
                   tolerance=0.05, column="repeat_resection"),
    )


def _irlm_orderings() -> tuple[Ordering, ...]:
    histology = "domain brief (IRLM 1997): germ cell best prognosis, melanoma worst"
    ranks = ((GERM_CELL,), (EPITHELIAL, SARCOMA), (MELANOMA,))
    return (
        *_risk_factor_orderings("IRLM 1997 (domain brief): DFI < 36 months and multiple "
                                "metastases are risk factors"),
        Ordering("IRLM groups I > II > III > IV", "median", "irlm_group",
                 ((IRLM_I,), (IRLM_II,), (IRLM_III,), (IRLM_IV,)), IRLM_BRIEF),
        *(Ordering("complete resection: germ cell best, melanoma worst", stat,
                   "histology_group", ranks, histology, _COMPLETE)
          for stat in ("surv_5y", "median")),
    )


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
    **_SHARED,
    resection=(4572 / 5206, 0.55 * 634 / 5206, 0.45 * 634 / 5206),
    dfi=(1729 / 5206, 1857 / 5206, 1620 / 5206),
    synchronous_share_early=0.35,
    dfi_late_mean_excess_months=36.0,
    n_metastases=(2383 / 5109, 1500 / 5109, 1226 / 5109),
    n_metastases_missing=97 / 5206,
    burden_rho=0.7,
    nodal_assessed=0.3,
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
    # fitted: calibration.fit_cure_model("irlm1997") refits the parameters in FITTED; the
    # middle levels (R1, DFI 12-35, 2-3 metastases) are tied to the worst level (monotone risk)
    cure=CureModel(
        intercept=-0.1625,
        log_median_uncured=3.2931,
        shape=0.8821,
        rho=1.0,
        coef={
            term("resection_status", R2): 1.8,
            term("dfi_group", DFI_EARLY): 0.7264,
            term("n_metastases_group", NMET_4): 1.0501,
            **_HISTOLOGY_COEF_IRLM,
            **_NODAL_COEF_IRLM,
        },
        uncured_coef={
            term("resection_status", R2): 1.3261,
            term("dfi_group", DFI_EARLY): 0.7264,  # = rho * coef: DFI acts on the cure only
            term("n_metastases_group", NMET_4): 0.9261,
        },
        ties=(
            Tie(term("resection_status", R1), term("resection_status", R2), 0.747, fitted=True),
            # fixed, not fitted (docs/synthetic.md, "Monotone risk"): IRLM publishes no figure
            # for DFI 12-35 alone and counts all of DFI < 36 as one risk factor
            Tie(term("dfi_group", DFI_MID), term("dfi_group", DFI_EARLY), 0.75),
            Tie(term("n_metastases_group", NMET_2_3), term("n_metastases_group", NMET_4), 0.6197,
                fitted=True),
        ),
    ),
    ph=PHModel(
        log_hr=_ph_log_hr(
            (0.45, 0.25),
            **{term("histology_group", SARCOMA): 0.15, term("histology_group", GERM_CELL): -0.90,
               term("histology_group", MELANOMA): 0.60, term("histology_group", OTHER): 0.20},
        ),
        shape=0.9,
        reference_median_months=90.0,
    ),
    course=Course(
        p_recur_cured={SARCOMA: 0.25, EPITHELIAL: 0.10, GERM_CELL: 0.05, MELANOMA: 0.05,
                       OTHER: 0.10},
        site_uncured={SARCOMA: (0.66, 0.24, 0.10), "default": (0.50, 0.38, 0.12)},
        p_reoperate_uncured={SARCOMA: 1.0, "default": 0.64},
        reoperation_delay_months=1.5,
    ),
    targets=_irlm_targets(),
    orderings=_irlm_orderings(),
    dfi_burden_rho=0.4,
)


def _sarcoma_targets() -> tuple[Target, ...]:
    lms = "leiomyosarcoma"
    burt = "Burt BM et al. Ann Thorac Surg 2011;92:1202-7"
    veronesi = "Veronesi G et al. J Thorac Cardiovasc Surg 2007;133:967-72"
    stephens = "Stephens EH et al. J Am Coll Surg 2011;212:821-6"
    jaklitsch = "Jaklitsch MT et al. J Thorac Cardiovasc Surg 2001;121:657-67"
    chemo = ("chemo_response", (RESPONSE, STABLE, PROGRESSION))
    nodal = "nodal_status"
    return (
        _published("leiomyosarcoma, median OS", "median", 69.9, burt, ((lms, (True,)),)),
        _published("other sarcoma, median OS", "median", 23.9, burt, ((lms, (False,)),)),
        _published("N0, 5-y OS", "surv_5y", 0.60, veronesi, ((nodal, (N0,)),)),
        _published("N1, 5-y OS", "surv_5y", 0.17, veronesi, ((nodal, (N1,)),)),
        _published("N2, 5-y OS", "surv_5y", 0.00, veronesi, ((nodal, (N2,)),)),
        _published("preoperative chemotherapy, progression: median OS", "median", 17.2, stephens,
                   (chemo, ("chemo_response", (PROGRESSION,)))),
        _published("preoperative chemotherapy, no progression: median OS", "median", 35.5,
                   stephens, (chemo, ("chemo_response", (RESPONSE, STABLE)))),
        _published("5-y OS from the second metastasectomy", "surv_5y", 0.57, jaklitsch,
                   origin="second_metastasectomy"),
        _published("nodal status recorded (not NX)", "share", 0.50, "metsurv issue 3 brief",
                   tolerance=0.05, column="nodal_assessed"),
        _published("synchronous metastases", "share", 0.32, "domain brief (about 32% of sarcoma)",
                   tolerance=0.05, column="synchronous"),
        _published("complete resection: pulmonary recurrence", "share", 0.60,
                   "metsurv issue 3 brief ('most patients')", _COMPLETE, tolerance=0.10,
                   column="pulmonary_recurrence"),
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
    **_SHARED,
    resection=(0.85, 0.10, 0.05),
    dfi=(0.45, 0.30, 0.25),
    synchronous_share_early=0.71,
    dfi_late_mean_excess_months=30.0,
    n_metastases=(0.40, 0.35, 0.25),
    n_metastases_missing=0.01,
    burden_rho=0.5,
    nodal_assessed=0.5,
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
        log_hr=_ph_log_hr(
            (0.40, 0.20),
            **{term("leiomyosarcoma", True): -0.70, term("nodal_status", N1): 0.90,
               term("nodal_status", N2): 1.50, term("nodal_status", NX): 0.0},
        ),
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
    orderings=_risk_factor_orderings(
        "IRLM 1997 risk factors (domain brief); the sarcoma effects are set, not fitted"),
)

PRESETS: dict[str, Preset] = {p.name: p for p in (IRLM1997, SARCOMA_PRESET)}

_U, _G, _F = "u:", "g:", "f:"
#: The cure-model parameters fitted to each preset's targets (the rest are set by hand):
#: ``calibration.fit_cure_model(name)`` refits exactly these, with ridge 0.5. Besides the
#: scalars and coefficient names: ``u:<term>`` an uncured coefficient, ``g:<term>`` the
#: uncured shift of an ordered factor's worst level (fitted <= 0, its coefficient >= 0: risk
#: monotone), ``f:<term>`` the fraction of a fitted :class:`Tie` (within [0, 1]).
FITTED: dict[str, tuple[str, ...]] = {
    "irlm1997": (
        "intercept", "log_median_uncured", "shape", "rho",
        _F + term("resection_status", R1), _G + term("resection_status", R2),
        term("dfi_group", DFI_EARLY), _G + term("dfi_group", DFI_EARLY),
        term("n_metastases_group", NMET_4), _G + term("n_metastases_group", NMET_4),
        _F + term("n_metastases_group", NMET_2_3),
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
