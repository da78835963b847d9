"""Study configuration of a report: a small YAML file, validated up front.

Every key is documented in docs/report.md. Unknown keys are errors (a misspelt key silently
ignored would give a report that looks right and is not), and every problem is one
:class:`~metsurv.errors.CohortError` sentence naming the file, the key and what is allowed.
Relative paths are read relative to the config file.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from metsurv import schema
from metsurv._yaml import load_yaml
from metsurv.errors import CohortError
from metsurv.stats.irlm import ENDPOINTS

__all__ = ["FactorSpec", "ReportConfig", "load_config", "default_config", "SUBSETS"]

#: Restrictions a factor panel can be drawn on (IRLM drew DFI and number of metastases among
#: complete resections). Value: (column, value kept).
SUBSETS: dict[str, tuple[str, Any]] = {
    "complete_resection": ("complete_resection", True),
    "sarcoma": ("histology_group", "sarcoma"),
}
#: Time units of the figures' axes (:data:`metsurv.schema.TIME_UNITS`), years first.
TIME_UNITS = tuple(sorted(schema.TIME_UNITS, key=lambda u: u != "years"))
FORMATS = ("png", "svg", "pdf")
#: Page sizes of report.pdf and report.docx.
PAGE_SIZES = ("A4", "Letter")

_TOP_KEYS = {
    "title", "data", "endpoint", "time_unit", "max_time", "tick_step", "factors", "table1",
    "cox", "landmark_times", "competing_risks", "benchmark", "suppress_below", "ci_bands",
    "min_at_risk", "seed", "out", "formats", "page_size", "compare",
}
_DATA_KEYS = {"source", "mapping", "resections", "today"}
_TABLE1_KEYS = {"by", "variables", "p"}
_COX_KEYS = {"covariates", "univariable"}
_FACTOR_KEYS = {"factor", "subset", "title"}
_COMPARE_KEYS = {"treatment", "levels", "confounders", "method", "estimand", "impute",
                 "horizon"}
#: Most imputations the report's treatment comparison may ask for (each refits everything).
MAX_IMPUTATIONS = 100

# Bounds on the work a config can ask for: a tiny tick step or a long list of times must be
# refused at once, not drawn for hours. Each is far above what a readable figure holds.
#: Longest time axis, in months (100 years; schema's plausible follow-up is 0-1200 months).
MAX_MONTHS = 1200.0
#: Most tick intervals on a time axis (each tick carries an at-risk count under it).
MAX_TICKS = 200
#: Most landmark times (each is a section with its own figure and table).
MAX_LANDMARKS = 20
#: Most factor panels (each is a figure).
MAX_FACTORS = 50


@dataclass(frozen=True)
class FactorSpec:
    """One Kaplan-Meier panel: the factor, an optional subset (see ``SUBSETS``), a title."""

    factor: str
    subset: str | None = None
    title: str | None = None

    @property
    def slug(self) -> str:
        return self.factor + (f"__{self.subset}" if self.subset else "")


@dataclass(frozen=True)
class CompareSpec:
    """A treatment comparison (config key ``compare:``; :func:`metsurv.stats.compare.
    compare_treatments`): the treatment field, its two levels (treated, control), the
    confounders, ``method`` ("iptw"/"overlap"), ``estimand`` ("ATE"/"ATT"), ``impute`` (0 or
    the number of imputations, seeded by the config's ``seed``), ``horizon`` (RMST, months;
    None: 5 years or the shorter arm's follow-up)."""

    treatment: str
    levels: tuple[str, str]
    confounders: tuple[str, ...]
    method: str = "iptw"
    estimand: str = "ATE"
    impute: int = 0
    horizon: float | None = None


@dataclass(frozen=True)
class ReportConfig:
    """A validated study configuration (see docs/report.md for each field)."""

    title: str
    source: Path
    mapping: Path | None = None
    resections: Path | None = None
    today: date | None = None  # the export date (None: the machine's date)
    endpoint: str = "os"
    time_unit: str = "years"
    max_time: float = 15.0
    tick_step: float | None = None
    factors: tuple[FactorSpec, ...] = ()
    table1_by: str | None = None
    table1_variables: tuple[str, ...] | None = None
    table1_p: bool = False  # p-values beside Table 1's groups
    cox_covariates: tuple[str, ...] = ()
    cox_univariable: bool = True
    landmark_times: tuple[float, ...] = ()
    competing_risks: bool = True
    benchmark: str | None = "IRLM 1997"
    suppress_below: int = 0
    ci_bands: bool | None = None  # None: shaded for up to 3 groups (figures.MAX_CI_BAND_GROUPS)
    #: Kaplan-Meier curves end where fewer than this many remain at risk (0: to the end)
    min_at_risk: int = 10
    #: page size of report.pdf and report.docx: "A4" or "Letter"
    page_size: str = "A4"
    #: the treatment comparison section (None: not asked for)
    compare: CompareSpec | None = None
    seed: int = 0
    out: Path | None = None
    formats: tuple[str, ...] = FORMATS
    origin: Path | None = field(default=None, compare=False)

    @property
    def time_column(self) -> str:
        return ENDPOINTS[self.endpoint][0]

    @property
    def event_column(self) -> str:
        return ENDPOINTS[self.endpoint][1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view for provenance; paths relative to the config file's folder."""
        out = asdict(self)
        base = self.origin.parent if self.origin else None
        for key in ("source", "mapping", "resections", "out", "origin"):
            v = getattr(self, key)
            if isinstance(v, Path):
                out[key] = _rel(v, base)
        out["factors"] = [asdict(f) for f in self.factors]
        out["today"] = None if self.today is None else self.today.isoformat()
        for key in ("table1_variables", "cox_covariates", "landmark_times", "formats"):
            if out[key] is not None:
                out[key] = list(out[key])
        if self.compare is not None:
            out["compare"] = {k: list(v) if isinstance(v, tuple) else v
                              for k, v in asdict(self.compare).items()}
        return out


def _rel(p: Path, base: Path | None) -> str:
    if base is not None:
        try:
            return p.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
        try:
            import os

            return Path(os.path.relpath(p.resolve(), base.resolve())).as_posix()
        except ValueError:
            pass
    return p.as_posix()


class _Checker:
    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, msg: str) -> CohortError:
        return CohortError(f"{self.where}: {msg}")

    def unknown(self, keys: set[Any], allowed: set[str], section: str) -> None:
        odd = [k for k in keys if not isinstance(k, str)]
        if odd:  # `1: x` or `~: y` in the YAML: a number or null where a key name belongs
            what = "an empty (null) key" if odd[0] is None else f"the number {odd[0]!r} as a key"
            raise self.fail(f"{section} has {what}, not a key name; write one of: "
                            f"{', '.join(sorted(allowed))}")
        bad = sorted(keys - allowed)
        if bad:
            k = bad[0]
            near = difflib.get_close_matches(k, sorted(allowed), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self.fail(
                f"unknown key {k!r} in {section}{hint}; allowed keys: {', '.join(sorted(allowed))}"
            )

    def typed(self, value: Any, types: type | tuple[type, ...], key: str, what: str) -> Any:
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else
                                                    (types,)):
            raise self.fail(f"{key} must be {what}, got {value!r}")
        if not isinstance(value, types):
            raise self.fail(f"{key} must be {what}, got {value!r}")
        return value

    def choice(self, value: Any, allowed: Any, key: str) -> Any:
        """``value`` when it is one of the words ``allowed`` (a list, a mapping or nested
        value is refused by name, not compared)."""
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def number(self, value: Any, key: str, what: str, high: float) -> float:
        """A finite number in (0, high]; ``what`` names the unit in the refusal."""
        self.typed(value, (int, float), key, what)
        if not 0 < value <= high:  # also refuses nan and inf
            raise self.fail(f"{key} must be {what} up to {high:g}, got {value!r}")
        return float(value)

    def field_name(self, name: Any, key: str, kinds: tuple[str, ...] = ("code", "bool")) -> str:
        self.typed(name, str, key, "a canonical field name")
        f = schema.PATIENTS.get(name)
        if f is None:
            near = difflib.get_close_matches(name, list(schema.PATIENTS), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise self.fail(f"{key}: {name!r} is not a field of the canonical schema{hint}")
        if f.kind not in kinds:
            raise self.fail(f"{key}: {name!r} is a {f.kind} field; a factor must be one of "
                            f"the kinds {', '.join(kinds)}")
        return name


def _path(c: _Checker, v: Any, key: str, base: Path, must_exist: bool = True) -> Path | None:
    if v is None:
        return None
    c.typed(v, str, key, "a file path (text)")
    p = Path(v)
    p = p if p.is_absolute() else base / p
    if must_exist and not p.exists():
        raise c.fail(f"{key}: file {v!r} not found (looked for {p})")
    return p


def load_config(
    config: str | Path | dict[str, Any], base: Path | None = None
) -> ReportConfig:
    """Read and validate a study config (a YAML file or an already-parsed dict).

    >>> cfg = load_config({"title": "Demo", "data": {"source": "no-such.csv"}}, base=Path("."))
    Traceback (most recent call last):
    ...
    metsurv.errors.CohortError: config: data.source: file 'no-such.csv' not found (looked for no-such.csv)
    """
    if isinstance(config, dict):
        raw = config
        where = "config"
        origin = None
        base = Path(base) if base is not None else Path.cwd()
    else:
        origin = Path(config)
        where = str(origin)
        if not origin.is_file():
            raise CohortError(f"{where}: config file not found")
        try:
            raw = load_yaml(origin.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CohortError(f"{where}: not valid YAML ({exc})") from exc
        base = origin.parent
    c = _Checker(where)
    if not isinstance(raw, dict):
        raise c.fail("the config must be a mapping of keys to values (YAML 'key: value')")
    c.unknown(set(raw), _TOP_KEYS, "the config")

    title = c.typed(raw.get("title", "Pulmonary metastasectomy report"), str, "title", "text")
    data = raw.get("data")
    if not isinstance(data, dict) or "source" not in data:
        raise c.fail("data.source is required: the patients file of the cohort")
    c.unknown(set(data), _DATA_KEYS, "data")
    source = _path(c, data["source"], "data.source", base)
    mapping = _path(c, data.get("mapping"), "data.mapping", base)
    resections = _path(c, data.get("resections"), "data.resections", base)
    today = _export_date(c, data.get("today"))

    endpoint = c.choice(raw.get("endpoint", "os"), ENDPOINTS, "endpoint")
    unit = c.choice(raw.get("time_unit", "years"), TIME_UNITS, "time_unit")
    longest = MAX_MONTHS / (12 if unit == "years" else 1)
    max_time = c.number(raw.get("max_time", 15 if unit == "years" else 180), "max_time",
                        f"a positive number of {unit}", longest)
    tick_step = raw.get("tick_step")
    if tick_step is not None:
        c.number(tick_step, "tick_step", f"a positive number of {unit}", max_time)
        if max_time / tick_step > MAX_TICKS:
            raise c.fail(f"tick_step {tick_step!r} gives {max_time / tick_step:.0f} ticks up to "
                         f"max_time {max_time:g}; at most {MAX_TICKS} are drawn: use a "
                         f"tick_step of at least {max_time / MAX_TICKS:g} {unit}")

    factors = []
    fl = raw.get("factors", [])
    c.typed(fl, list, "factors", "a list of factor names or {factor, subset, title} entries")
    if len(fl) > MAX_FACTORS:
        raise c.fail(f"factors lists {len(fl)} panels; at most {MAX_FACTORS} are drawn")
    for i, item in enumerate(fl):
        key = f"factors[{i}]"
        if isinstance(item, str):
            factors.append(FactorSpec(c.field_name(item, key)))
            continue
        if not isinstance(item, dict) or "factor" not in item:
            raise c.fail(f"{key} must be a field name or a mapping with a 'factor' key")
        c.unknown(set(item), _FACTOR_KEYS, key)
        subset = item.get("subset")
        if subset is not None:
            c.choice(subset, SUBSETS, f"{key}.subset")
        t = item.get("title")
        if t is not None:
            c.typed(t, str, f"{key}.title", "text")
        factors.append(FactorSpec(c.field_name(item["factor"], f"{key}.factor"), subset, t))
    slugs = [f.slug for f in factors]
    dup = sorted({s for s in slugs if slugs.count(s) > 1})
    if dup:
        raise c.fail(f"factors: {dup[0]!r} is listed twice")

    t1 = raw.get("table1", {}) or {}
    c.typed(t1, dict, "table1", "a mapping with keys by, variables, p")
    c.unknown(set(t1), _TABLE1_KEYS, "table1")
    t1_by = t1.get("by")
    if t1_by is not None:
        c.field_name(t1_by, "table1.by")
    t1_vars = t1.get("variables")
    if t1_vars is not None:
        c.typed(t1_vars, list, "table1.variables", "a list of canonical field names")
        for j, v in enumerate(t1_vars):
            c.field_name(v, f"table1.variables[{j}]", ("code", "bool", "float", "int"))
        t1_vars = tuple(t1_vars)
    t1_p = c.typed(t1.get("p", False), bool, "table1.p", "true or false")

    cox = raw.get("cox", {}) or {}
    c.typed(cox, dict, "cox", "a mapping with keys covariates, univariable")
    c.unknown(set(cox), _COX_KEYS, "cox")
    covs = cox.get("covariates", [])
    c.typed(covs, list, "cox.covariates", "a list of canonical field names")
    for j, v in enumerate(covs):
        c.field_name(v, f"cox.covariates[{j}]", ("code", "bool", "float", "int"))
    uni = c.typed(cox.get("univariable", True), bool, "cox.univariable", "true or false")

    lm = raw.get("landmark_times", [])
    c.typed(lm, list, "landmark_times", "a list of times in months")
    if len(lm) > MAX_LANDMARKS:
        raise c.fail(f"landmark_times lists {len(lm)} times; at most {MAX_LANDMARKS} are "
                     "analysed (each is a figure and a table)")
    for j, v in enumerate(lm):
        c.number(v, f"landmark_times[{j}]", "a positive number of months", MAX_MONTHS)

    bench = raw.get("benchmark", "IRLM 1997")
    if bench is not None:
        from metsurv.published import studies

        c.typed(bench, str, "benchmark", "the name of a published study")
        known = studies()
        if bench not in known:
            raise c.fail(f"benchmark {bench!r} is not a published study; choose one of: "
                         f"{', '.join(known)} (or null)")
    k = c.typed(raw.get("suppress_below", 0), int, "suppress_below",
                "a whole number (0 = no suppression)")
    if k < 0:
        raise c.fail(f"suppress_below must be 0 or more, got {k}")
    min_risk = c.typed(raw.get("min_at_risk", 10), int, "min_at_risk",
                       "a whole number (0 = curves drawn to the end of follow-up)")
    if min_risk < 0:
        raise c.fail(f"min_at_risk must be 0 or more, got {min_risk}")
    page_size = raw.get("page_size", "A4")
    if isinstance(page_size, str):  # "letter" and "a4" are the same paper
        page_size = {p.casefold(): p for p in PAGE_SIZES}.get(page_size.strip().casefold(),
                                                             page_size)
    page_size = c.choice(page_size, PAGE_SIZES, "page_size")
    seed = c.typed(raw.get("seed", 0), int, "seed", "a whole number")
    if seed < 0:  # numpy's generators take seeds of 0 or more
        raise c.fail(f"seed must be 0 or more, got {seed}")
    ci = raw.get("ci_bands")
    if ci is not None:
        c.typed(ci, bool, "ci_bands", "true or false (or absent: bands for up to 3 groups)")
    cr = c.typed(raw.get("competing_risks", True), bool, "competing_risks", "true or false")
    formats = raw.get("formats", list(FORMATS))
    c.typed(formats, list, "formats", f"a list drawn from {', '.join(FORMATS)}")
    for fmt in formats:
        c.choice(fmt, FORMATS, "each of formats")
    if "svg" not in formats:
        raise c.fail("formats must include 'svg' (the HTML report embeds the SVG figures)")
    compare = _compare(c, raw.get("compare"))
    out = _path(c, raw.get("out"), "out", base, must_exist=False)
    if out is None and origin is not None:
        out = origin.parent / origin.stem

    return ReportConfig(
        title=title, source=source, mapping=mapping, resections=resections, today=today,
        endpoint=endpoint, time_unit=unit, max_time=float(max_time),
        tick_step=None if tick_step is None else float(tick_step), factors=tuple(factors),
        table1_by=t1_by, table1_variables=t1_vars, table1_p=t1_p, cox_covariates=tuple(covs),
        cox_univariable=uni, landmark_times=tuple(float(x) for x in lm),
        competing_risks=cr, benchmark=bench, suppress_below=k, ci_bands=ci,
        min_at_risk=min_risk, page_size=page_size, compare=compare, seed=seed,
        out=out, formats=tuple(dict.fromkeys(formats)), origin=origin,
    )


def _compare(c: _Checker, v: Any) -> CompareSpec | None:
    """``compare:``: {treatment, levels: [treated, control], confounders: [...], method,
    estimand, impute, horizon}."""
    if v is None:
        return None
    c.typed(v, dict, "compare", "a mapping with keys treatment, levels, confounders")
    c.unknown(set(v), _COMPARE_KEYS, "compare")
    for key in ("treatment", "levels", "confounders"):
        if key not in v:
            raise c.fail(f"compare.{key} is required (e.g. compare: {{treatment: approach, "
                         "levels: [vats, thoracotomy], confounders: [n_metastases_group, "
                         "dfi_group, laterality]})")
    treatment = c.field_name(v["treatment"], "compare.treatment")
    levels = v["levels"]
    c.typed(levels, list, "compare.levels", "a list of two values: [treated, control]")
    if len(levels) != 2 or str(levels[0]) == str(levels[1]):
        raise c.fail(f"compare.levels must list two different values of {treatment!r}, "
                     f"treated first, got {levels!r}")
    confounders = v["confounders"]
    c.typed(confounders, list, "compare.confounders", "a list of canonical field names")
    if not confounders:
        raise c.fail("compare.confounders lists no field")
    for j, name in enumerate(confounders):
        c.field_name(name, f"compare.confounders[{j}]", kinds=("code", "bool", "float", "int"))
        if name == treatment:
            raise c.fail(f"compare.confounders[{j}]: {name!r} is the treatment")
    method = c.choice(v.get("method", "iptw"), ("iptw", "overlap"), "compare.method")
    estimand = c.choice(str(v.get("estimand", "ATE")).upper(), ("ATE", "ATT"),
                        "compare.estimand")
    if method == "overlap" and estimand == "ATT":
        raise c.fail("compare: overlap weights estimate the effect in the overlap population "
                     "(ATO); give estimand ATE (or leave it out) with method overlap, or use "
                     "method iptw for the ATT")
    impute = c.typed(v.get("impute", 0), int, "compare.impute",
                     "a whole number of imputations (0 = complete cases)")
    if impute == 1 or not 0 <= impute <= MAX_IMPUTATIONS:
        raise c.fail(f"compare.impute must be 0 or 2 to {MAX_IMPUTATIONS}, got {impute}")
    horizon = v.get("horizon")
    if horizon is not None:
        horizon = c.number(horizon, "compare.horizon", "a positive number of months",
                           MAX_MONTHS)
    return CompareSpec(treatment, (str(levels[0]), str(levels[1])), tuple(confounders),
                       method, estimand, impute, horizon)


def _export_date(c: _Checker, v: Any) -> date | None:
    """``data.today``: the export date, a date written YYYY-MM-DD (YAML reads it as one)."""
    if v is None:
        return None
    if isinstance(v, datetime):
        v = v.date()
    if isinstance(v, str):
        try:
            v = date.fromisoformat(v.strip())
        except ValueError:
            raise c.fail(f"data.today must be a date written YYYY-MM-DD (the export date), "
                         f"got {v[:40]!r}") from None
    if not isinstance(v, date):
        raise c.fail("data.today must be a date written YYYY-MM-DD (the export date)")
    if v.year < 1900:
        raise c.fail(f"data.today must be in 1900 or later, not {v.year}")
    return v


def default_config(source: Path, resections: Path | None = None,
                   mapping: Path | None = None, today: date | None = None) -> dict[str, Any]:
    """The config used for ``metsurv report DATA`` (no YAML): the IRLM battery of factors."""
    return {
        "title": f"Pulmonary metastasectomy report: {Path(source).stem}",
        "data": {"source": str(source),
                 **({"resections": str(resections)} if resections else {}),
                 **({"mapping": str(mapping)} if mapping else {}),
                 **({"today": today.isoformat()} if today else {})},
        "factors": ["complete_resection", "dfi_group", "n_metastases_group",
                    "histology_group", "nodal_status", "irlm_group"],
        # a landmark analysis of repeat resection: made from a resections table, else the
        # report says that it needs one
        "landmark_times": [24],
        "table1": {"by": "complete_resection"},
        "cox": {"covariates": ["complete_resection", "dfi_group", "n_metastases_group",
                               "histology_group"]},
        "benchmark": "IRLM 1997",
    }
