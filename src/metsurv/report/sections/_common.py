"""What several sections print alike: endpoint and caption texts, level labels and order,
survival-table rows, the battery model's description."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from metsurv import schema
from metsurv.format import format_p
from metsurv.report import figures as F
from metsurv.report import tables as T
from metsurv.report._format import shows_estimates
from metsurv.report.analysis import SURV_YEARS, Tests
from metsurv.report.config import FactorSpec, ReportConfig
from metsurv.report.counts import GroupCounts, read_and_analysed
from metsurv.report.suppression import Partition
from metsurv.stats.km import followed

STUDY_MODEL = "Multivariable (study)"
SUBSET_TEXT = {"complete_resection": "complete resections", "sarcoma": "sarcomas"}


def endpoint_text(cfg: ReportConfig) -> str:
    """The endpoint and its time origin, in a sentence."""
    return schema.ENDPOINTS[cfg.endpoint].description

def plot_kwargs(cfg: ReportConfig) -> dict[str, Any]:
    """The config's options of :func:`metsurv.report.figures.km_figure`."""
    return {"endpoint": cfg.endpoint, "time_unit": cfg.time_unit, "max_time": cfg.max_time,
            "tick_step": cfg.tick_step, "ci": cfg.ci_bands, "suppress_below": cfg.suppress_below,
            "min_at_risk": cfg.min_at_risk}


def labels(factor: str, groups: list) -> dict[Any, str]:
    """Each group's printed label."""
    return {g: schema.level_label(factor, g) for g in groups}


def order(factor: str, groups: list) -> list:
    """IRLM order: schema order for coded factors; the reference level first for yes/no
    (the schema's, else "no", the unexposed group, as metsurv.stats.irlm and cox take it)."""
    if all(isinstance(g, (bool, np.bool_)) for g in groups):
        ref = schema.REFERENCE_LEVELS.get(factor, False)
        return [g for g in (ref, not ref) if g in groups]
    return list(groups)


def factor_title(spec: FactorSpec) -> str:
    if spec.title:
        return spec.title
    t = schema.FACTOR_TITLES.get(spec.factor, spec.factor)
    return t + (f" ({SUBSET_TEXT[spec.subset]})" if spec.subset else "")


def km_caption(cfg: ReportConfig, what: str | None, tests: Tests | None = None,
                bench: pd.DataFrame | None = None, sources: tuple[str, ...] = (),
                n_groups: int = 1) -> str:
    text = (f"Kaplan-Meier estimate of {'overall' if cfg.endpoint == 'os' else 'disease-free'} "
            f"survival {'of all patients' if what is None else 'by ' + what}, "
            f"{cfg.time_unit} from the first pulmonary metastasectomy; "
            + curve_conventions(cfg, n_groups))
    if tests is not None and tests.p is not None:
        text += f" Log-rank {format_p(tests.p)}"
        text += (f"; test for trend {format_p(tests.trend)}." if tests.trend is not None
                 else ".")
    if tests is not None and tests.rule:
        text += " " + tests.rule
    if sources and bench is not None:
        text += (f" Published {cfg.benchmark} figures (survival at 5/10/15 years; a median "
                 "drawn at 50%), in the group's colour: ")
        primary = bench.drop_duplicates("source").set_index("source")["primary"]
        kinds = [("open diamonds, from the study's abstract", True),
                 ("open circles, quoted by a review or commonly quoted and not verified in "
                  "the study's full text", False)]
        text += "; ".join(f"{what_}: " + "; ".join(x for x in sources if primary[x] == kind)
                          for what_, kind in kinds if (primary == kind).any()) + "."
    return text + suppression_text(cfg)


def curve_conventions(cfg: ReportConfig, n_groups: int) -> str:
    """How every Kaplan-Meier figure is drawn, for its caption: censor marks, CI bands,
    legend, where curves end, the numbers at risk."""
    text = F.censor_rule_text()
    if cfg.ci_bands or (cfg.ci_bands is None and n_groups <= F.MAX_CI_BAND_GROUPS):
        text += "; shaded: 95% pointwise CI (log-log)."
    else:
        text += (f"; 95% CIs not shaded (more than {F.MAX_CI_BAND_GROUPS} groups overlap; "
                 "see the survival table)." if cfg.ci_bands is None else ".")
    text += (f" Legend, per group: n; median survival [95% CI] in {cfg.time_unit} (NR: not "
             "reached); 5-year survival.")
    text += (f" Each curve ends where fewer than {cfg.min_at_risk} patients remain at risk "
             "(the numbers at risk go on)." if cfg.min_at_risk
             else " Each curve runs to its last follow-up.")
    return text + " " + F.AT_RISK_CAPTION


def suppression_text(cfg: ReportConfig) -> str:
    """What small-cell suppression does to a Kaplan-Meier figure ("" without it)."""
    if not cfg.suppress_below:
        return ""
    k = cfg.suppress_below
    return (f" Counts below {k} shown as <{k}; a group of fewer than {k} patients is "
            "not drawn (its steps would give its size away), nor a group whose size "
            "would give a smaller one's away (total minus the others); curves stop "
            f"where fewer than {k} remain at risk; at risk "
            f"\"{F.AT_RISK_SECONDARY}\": hidden so that the total cannot give a smaller "
            "count back.")


def survival_rows(fit: Any, factor_title: str, p: float | None, trend: float | None, k: int,
                   labels: dict[Any, str], order: list | None = None,
                   groups: tuple[Partition, Partition] | None = None) -> pd.DataFrame:
    """Rows of the survival table for one fit, as printed (see :func:`survival_table`)."""
    return survival_table(fit, factor_title, p, trend, k, labels, order, groups)[0]


def survival_table(fit: Any, factor_title: str, p: float | None, trend: float | None, k: int,
                   labels: dict[Any, str], order: list | None = None,
                   groups: tuple[Partition, Partition] | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the survival table for one fit: (printed rows, the same as numbers).
    ``groups``: the report's decisions for the groups' patients and events (one group's
    row without it: a total everyone sees).

    The numbers (:mod:`metsurv.report.table_data`): ``factor``, ``level`` (as printed),
    ``level_code``, ``n``, ``events`` (empty where printed "<k" or "suppressed"),
    ``suppressed`` (why a cell is empty), ``median_months``, ``median_lower_months``,
    ``median_upper_months`` (median empty when not reached), per year y of
    :data:`~metsurv.report.analysis.SURV_YEARS` ``surv_<y>y_pct``, ``surv_<y>y_lower_pct``,
    ``surv_<y>y_upper_pct`` (percent), ``logrank_p``, ``trend_p`` (the factor's, on each of
    its rows). An estimate the printed table leaves blank is empty; under suppression the
    numbers carry the printed precision.
    """
    from metsurv.report import table_data as D

    med = fit.medians().set_index(fit.medians()["group"].astype(str))
    at = fit.survival_at([schema.months(y) for y in SURV_YEARS])
    levels = order if order is not None else fit.groups

    def how(what: int, g: Any) -> str | None:
        n = int(med.loc[str(g), ("n", "events")[what]])
        if groups is not None:
            groups[what].text(g, n)  # checks the count against the decided one
            return groups[what].how(g)
        return "primary" if k and 0 < n < k else None

    def count(what: int, g: Any) -> str:
        n = int(med.loc[str(g), ("n", "events")[what]])
        return groups[what].text(g, n) if groups is not None else T.suppress_count(n, k)

    rows, data = [], []
    for j, g in enumerate(levels):
        m = med.loc[str(g)]
        shown = shows_estimates(m["n"], k)
        hows = (how(0, g), how(1, g))
        why = [D.hidden_text("n", hows[0], k), D.hidden_text("events", hows[1], k)]
        if not shown:
            why.append(f"estimates not shown (fewer than {k} patients)")
        # a median resting on fewer than k at risk: its step is d/n of fewer than k (the
        # curve is cut before it; the 5-year % at that point is withheld alike)
        curve = next(c for c in fit.curves if str(c.group) == str(g))
        median_shown = shown and shows_estimates(curve.median_n_risk, k)
        if shown and not median_shown:
            why.append(f"median not shown (fewer than {k} at risk)")
        row: dict[str, Any] = {
            "Factor": factor_title if j == 0 else "",
            "Group": labels.get(g, str(g)),
            "n": count(0, g),
            "Events": count(1, g),
            "Median (95% CI), months": (T.ci_text(m["median"], m["lower"], m["upper"],
                                                  missing="not reached")
                                        if median_shown else ""),
        }
        nums: dict[str, Any] = {
            "factor": factor_title, "level": labels.get(g, str(g)), "level_code": str(g),
            "n": D.count_value(m["n"], hows[0]), "events": D.count_value(m["events"], hows[1]),
            "suppressed": "",
            "median_months": D.rounded(m["median"] if median_shown else None, 1, k),
            "median_lower_months": D.rounded(m["lower"] if median_shown else None, 1, k),
            "median_upper_months": D.rounded(m["upper"] if median_shown else None, 1, k),
        }
        a = at[at["group"].astype(str) == str(g)]
        for y in SURV_YEARS:
            r = a[np.isclose(a["time"], schema.months(y))]
            # an estimate resting on fewer than k at risk: the steps before it say how many
            ok = bool(len(r) and followed(r["n_risk"].iloc[0], r["estimate"].iloc[0])
                      and shown)
            if ok and not shows_estimates(r["n_risk"].iloc[0], k):
                ok = False
                why.append(f"{y}-year survival not shown (fewer than {k} at risk)")
            if ok:
                row[f"{y}-year % (95% CI)"] = T.ci_text(r["estimate"].iloc[0],
                                                        r["lower"].iloc[0], r["upper"].iloc[0],
                                                        100, 0)
            else:
                row[f"{y}-year % (95% CI)"] = ""
            for suffix, col in (("", "estimate"), ("_lower", "lower"), ("_upper", "upper")):
                nums[f"surv_{y}y{suffix}_pct"] = D.rounded(
                    100 * r[col].iloc[0] if ok else None, 0, k)
        row["Log-rank p"] = format_p(p, label=False) if j == 0 and p is not None else ""
        row["Trend p"] = (format_p(trend, label=False)
                          if j == 0 and trend is not None else "")
        nums["logrank_p"] = D.p_value(p, k)
        nums["trend_p"] = D.p_value(trend, k)
        nums["suppressed"] = "; ".join(w for w in why if w)
        rows.append(row)
        data.append(nums)
    out = pd.DataFrame(data)
    for c in ("n", "events"):
        out[c] = pd.array(out[c].tolist(), dtype="Int64")
    return pd.DataFrame(rows), out


# ---------------------------------------------------------------------------------------
# published benchmarks


def battery_model_counts(res: Any, counts: GroupCounts) -> tuple[str, str]:
    """The battery model's n and events as printed (its complete cases: a group)."""
    name = "battery model: " + ", ".join(res.multivariable_factors)
    n, e = counts.complete_cases(name, res.multivariable_n,
                                 len(counts.data) - res.multivariable_n,
                                 res.multivariable_events)
    return n.range_text(True), e.range_text(True)


def battery_model_text(res: Any, counts: GroupCounts) -> str:
    if not res.multivariable_factors:
        return "none (fewer than two factors with enough data)"
    return T.describe_model(res.multivariable_factors, *battery_model_counts(res, counts))


def battery_groups(counts: GroupCounts) -> Any:
    """For a battery factor, the report's decisions for its levels (on the factor's
    population: sarcomas for leiomyosarcoma vs other sarcoma)."""
    from metsurv.stats.irlm import FACTORS

    return lambda factor: counts.groups(FACTORS.get(factor, (None, None))[1], factor)


def lead_counts(cohort: Any, cfg: ReportConfig) -> str:
    read, analysed = read_and_analysed(cohort, cfg.suppress_below)
    return f"{analysed} patients analysed of {read} records read."


def version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"

