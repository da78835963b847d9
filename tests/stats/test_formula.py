"""R-style survival formulas (metsurv.stats.formula.parse_formula) against R's terms().

Oracle: tests/reference/make_formula_terms.R writes formula_terms.json with, for ~25 chosen
and ~110 random formulas, ``attr(terms(f, specials = c("strata", "cluster")),
"term.labels")`` without the strata/cluster terms (as coxph builds its design), the columns
of strata() and cluster(), the columns of Surv(), or R's error."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metsurv.stats.formula import SurvivalFormula, parse_formula
from tests.stats.helpers import REFERENCE, needs_r, run_r_script

FIXTURE = REFERENCE / "formula_terms.json"


def _r_cases(path=FIXTURE) -> list[dict]:
    return json.loads(path.read_text())["formulas"]


def _assert_like_r(case: dict) -> None:
    text = case["formula"]
    if "error" in case:  # R refuses it ("invalid power in formula"): so must we
        with pytest.raises(ValueError, match="in formula"):
            parse_formula(text)
        return
    f = parse_formula(text)
    # R labels factor(x) as "factor(x)"; metsurv names the column and lists it as categorical
    labels = [re.sub(r"factor\((\w+)\)", r"\1", label) for label in case["term_labels"]]
    assert list(f.covariates) == labels, text
    assert list(f.strata) == case["strata"], text
    assert ([f.cluster] if f.cluster else []) == case["cluster"], text
    assert [c for c in (f.start, f.time, f.event) if c] == case["response"], text


@pytest.mark.parametrize("case", [c for c in _r_cases() if c["kind"] == "hand"],
                         ids=lambda c: c["formula"])
def test_chosen_formulas_give_R_term_labels_exactly(case):
    """R: attr(terms(f, specials = c("strata", "cluster")), "term.labels"), strata/cluster
    terms removed; exact string equality, order included (main effects, then interactions
    by degree, columns of an interaction in R's variable order)."""
    _assert_like_r(case)


def test_random_formulas_give_R_term_labels_exactly():
    """R: the same call on formulas built at random (set.seed(20240901)) from five columns
    and + * : / ^ - ( ), including R's quirks (an empty left operand of * or / gives no
    term) and its refusals (a power below 2): exact equality for every one."""
    cases = [c for c in _r_cases() if c["kind"] == "random"]
    assert len(cases) > 100
    assert sum("error" in c for c in cases) > 5  # the fixture does exercise R's refusals
    for case in cases:
        _assert_like_r(case)


@needs_r
def test_make_formula_terms_R_reproduces_fixture_and_metsurv_agrees(tmp_path):
    """Rscript tests/reference/make_formula_terms.R <tmp>: the same JSON as committed, and
    parse_formula agrees with every formula in the fresh output."""
    run_r_script("make_formula_terms.R", tmp_path)
    fresh = _r_cases(tmp_path / "formula_terms.json")
    assert fresh == _r_cases()
    for case in fresh:
        _assert_like_r(case)


# ----------------------------------------------------------------- the API, by example

def test_issue_example():
    f = parse_formula("Surv(os_months, os_event) ~ complete_resection + dfi_group * age"
                      " + strata(center)")
    assert f == SurvivalFormula(
        time="os_months", event="os_event", start=None,
        covariates=("complete_resection", "dfi_group", "age", "dfi_group:age"),
        strata=("center",), cluster=None, categorical=frozenset(), text=f.text,
        terms=(("complete_resection",), ("dfi_group",), ("age",), ("dfi_group", "age")))
    assert f.variables == ("complete_resection", "dfi_group", "age")
    assert f.columns == ("os_months", "os_event", "complete_resection", "dfi_group", "age",
                         "center")


@pytest.mark.parametrize(("rhs", "covariates"), [
    ("a * b", ("a", "b", "a:b")),
    ("a + b + a:b", ("a", "b", "a:b")),
    ("a:b:c", ("a:b:c",)),
    ("a * b * c", ("a", "b", "c", "a:b", "a:c", "b:c", "a:b:c")),
    ("(a + b + c)^2", ("a", "b", "c", "a:b", "a:c", "b:c")),
    ("(a + b + c)**2", ("a", "b", "c", "a:b", "a:c", "b:c")),
    ("a / b", ("a", "a:b")),
    ("a * b - a", ("b", "a:b")),
    ("(a + b):c", ("a:c", "b:c")),
    ("b + a:b + a", ("b", "a", "b:a")),  # R writes b:a: b comes first in the formula
    ("a + a", ("a",)),
])
def test_operators(rhs, covariates):
    assert parse_formula(f"Surv(t, e) ~ {rhs}").covariates == covariates


@pytest.mark.parametrize("rhs", ["a + b - 1", "a + b + 0", "0 + a + b", "-1 + a + b",
                                 "1 + a + b"])
def test_intercept_is_accepted_and_ignored_as_coxph_does(rhs):
    assert parse_formula(f"Surv(t, e) ~ {rhs}").covariates == ("a", "b")


def test_counting_process_outcome_cluster_and_strata():
    f = parse_formula("Surv(entry, stop, dead) ~ x + strata(g1, g2) + cluster(id)")
    assert (f.start, f.time, f.event) == ("entry", "stop", "dead")
    assert f.strata == ("g1", "g2") and f.cluster == "id" and f.covariates == ("x",)
    f = parse_formula("Surv(t, e) ~ strata(g) + x * y + strata(h)")
    assert f.strata == ("g", "h") and f.covariates == ("x", "y", "x:y")


def test_factor_marks_a_column_categorical():
    f = parse_formula("Surv(t, e) ~ factor(histology) * age")
    assert f.covariates == ("histology", "age", "histology:age")
    assert f.categorical == {"histology"}


def test_null_model_and_require_covariates():
    """~ 1 (and ~ strata(g)) is a valid survfit/null-coxph formula with no term; a caller
    that needs covariates (cox) asks for them."""
    assert parse_formula("Surv(t, e) ~ 1").covariates == ()
    assert parse_formula("Surv(t, e) ~ strata(g)").strata == ("g",)
    for text in ("Surv(t, e) ~ 1", "Surv(t, e) ~ strata(g)", "Surv(t, e) ~ a - a"):
        with pytest.raises(ValueError, match="no covariate term"):
            parse_formula(text, require_covariates=True)


def test_backquoted_and_dotted_names():
    f = parse_formula("Surv(`os months`, os_event) ~ `dfi group` * ph.ecog + strata(`a b`)")
    assert f.time == "os months"
    assert f.covariates == ("dfi group", "ph.ecog", "dfi group:ph.ecog")
    assert f.strata == ("a b",)
    assert str(f) == ("Surv(`os months`, os_event) ~ `dfi group` + ph.ecog + "
                      "`dfi group`:ph.ecog + strata(`a b`)")


def test_str_is_normalised_R_text_that_parses_back():
    f = parse_formula("Surv(a,b,c)~factor(x)*y-1+strata(s)+cluster(id)")
    assert str(f) == "Surv(a, b, c) ~ factor(x) + y + factor(x):y + strata(s) + cluster(id)"
    again = parse_formula(str(f))
    assert again.covariates == f.covariates and again.categorical == f.categorical
    assert str(parse_formula("Surv(t, e) ~ 1")) == "Surv(t, e) ~ 1"


def test_columns_are_checked_and_all_missing_ones_named():
    text = "Surv(t, e) ~ a * b + strata(g) + cluster(id)"
    assert parse_formula(text, columns=["t", "e", "a", "b", "g", "id", "other"]).covariates == (
        "a", "b", "a:b")
    with pytest.raises(KeyError) as info:
        parse_formula(text, columns=["t", "a", "g"])
    message = str(info.value)
    assert "e, b, id" in message and text in message


# ----------------------------------------------------------------- errors

@pytest.mark.parametrize(("text", "what"), [
    ("Surv(a) ~ x", "got 1 argument"),
    ("Surv(a, b, c, d) ~ x", "got 4 arguments"),
    ("~ x", "no outcome on the left"),
    ("x", "no '~'"),
    ("Surv(t, e) ~ a ~ b", "more than one '~'"),
    ("time ~ x", "is not Surv(time, event)"),
    ("Surv(t, e) ~ (a + b", "unbalanced parentheses"),
    ("Surv(t, e) ~ a + b)", "unbalanced parentheses"),
    ("Surv(t, e) ~ ", "right-hand side is empty"),
    ("Surv(t, e) ~ ()", "right-hand side is empty"),
    ("Surv(t, e) ~ a b", "cannot read the right-hand side"),
    ("Surv(t, e) ~ log(age)", "transformations in formulas are not supported"),
    ("Surv(t, e) ~ I(age^2)", "compute the column first"),
    ("Surv(t, e) ~ pspline(age)", "compute the column first"),
    ("Surv(t, e) ~ x + tt(x)", "compute the column first"),
    ("Surv(t, e) ~ a[1]", "compute the column first"),
    ("Surv(t, e == 1) ~ x", "takes column names"),
    ("Surv(time = t, event = e) ~ x", "takes column names, not named arguments"),
    ("Surv(t, t) ~ x", "same column twice"),
    ("Surv(t, e) ~ t + x", "outcome column t also appears"),
    ("Surv(t, e) ~ x:strata(g)", "cannot be part of an interaction"),
    ("Surv(t, e) ~ (x + strata(g))^2", "cannot be part of an interaction"),
    ("Surv(t, e) ~ x + cluster(a) + cluster(b)", "one cluster column only"),
    ("Surv(t, e) ~ x + cluster(a, b)", "takes one column"),
    ("Surv(t, e) ~ strata()", "empty argument"),
    ("Surv(t, e) ~ x + factor(x)", "both as factor(x) and as x"),
    ("Surv(t, e) ~ a^1", "invalid power"),  # R: "invalid power in formula"
    ("Surv(t, e) ~ (a + b)^2.5", "invalid power"),
    ("Surv(t, e) ~ a + 2", "neither a column nor the intercept"),
    ("Surv(t, e) ~ a + 'a'", "neither a column nor the intercept"),
    ("Surv(t, e) ~ .", "'.' shorthand"),
    ("Surv(t, e) ~ a %in% b", "operator 'in' is not supported"),
    ("Surv(t, e) ~ a | b", "operator '|' is not supported"),
    ("Surv(t, e) ~ a - -b", "two operators in a row"),
])
def test_malformed_formulas_raise_ValueError_quoting_the_formula(text, what):
    with pytest.raises(ValueError, match=re.escape(what)) as info:
        parse_formula(text)
    assert repr(text) in str(info.value)


def test_nothing_in_a_formula_is_evaluated(tmp_path):
    """A formula is never evaluated: code in it is refused as a transformation and has no
    effect (no file is created)."""
    marker = tmp_path / "evaluated"
    for text in (f"Surv(t, e) ~ x + open({str(marker)!r}, 'w')",
                 f"Surv(open({str(marker)!r}, 'w'), e) ~ x",
                 f"Surv(t, e) ~ x + strata(open({str(marker)!r}, 'w'))",
                 f"Surv(t, e) ~ C(open({str(marker)!r}, 'w'))",
                 f"Surv(t, e) ~ x + {{open({str(marker)!r}, 'w')}}"):
        with pytest.raises(ValueError):
            parse_formula(text)
    assert not marker.exists()


# ----------------------------------------------------------------- properties

_names = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,6}(\.[a-z]{1,3})?", fullmatch=True),
    st.from_regex(r"[a-z][a-z ]{0,5}[a-z]", fullmatch=True),  # written backquoted
).filter(lambda n: n not in {"in", "t", "e"})


def _quote(name: str) -> str:
    return f"`{name}`" if " " in name else name


def _rhs(names: list[str]) -> st.SearchStrategy[str]:
    leaf = st.sampled_from([_quote(n) for n in names])
    return st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "*", ":", "/", "-", "+", "*"]), inner)
        .map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        inner.map(lambda x: f"({x})"),
        st.tuples(inner, st.integers(1, 3)).map(lambda t: f"({t[0]})^{t[1]}"),
    ), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(_names, min_size=1, max_size=5, unique=True).flatmap(
    lambda names: st.tuples(st.just(names), _rhs(names))))
def test_random_formulas_parse_or_raise_ValueError_and_reparse_to_the_same_terms(case):
    """Any formula over + * : / - ^ ( ) either parses or raises ValueError (R refuses a
    power of 1); what parses has terms over the formula's own columns, ordered by degree,
    and its normalised text str(f) parses back to the same set of terms."""
    names, rhs = case
    text = f"Surv(t, e) ~ {rhs}"
    try:
        f = parse_formula(text, columns=["t", "e", *names])
    except ValueError as exc:
        assert "invalid power" in str(exc)
        return
    assert all(set(term) <= set(names) for term in f.terms)
    assert [len(t) for t in f.terms] == sorted(len(t) for t in f.terms)
    assert len(set(map(frozenset, f.terms))) == len(f.terms)
    again = parse_formula(str(f))
    assert set(map(frozenset, again.terms)) == set(map(frozenset, f.terms))


@settings(max_examples=200, deadline=None)
@given(st.lists(_names, min_size=2, max_size=5, unique=True), st.randoms())
def test_star_is_main_effects_plus_interaction_whatever_the_order(names, rnd):
    """a*b == a + b + a:b (R's CrossTerms), for any column names, and the set of terms of a
    sum does not depend on the order of its summands."""
    a, b, *rest = map(_quote, names)
    star = parse_formula(f"Surv(t, e) ~ {a} * {b}")
    assert star.covariates == parse_formula(f"Surv(t, e) ~ {a} + {b} + {a}:{b}").covariates
    assert star.covariates == (names[0], names[1], f"{names[0]}:{names[1]}")
    summands = [f"{a}*{b}", *rest]
    shuffled = summands[:]
    rnd.shuffle(shuffled)
    one, two = (parse_formula("Surv(t, e) ~ " + " + ".join(s)) for s in (summands, shuffled))
    assert set(map(frozenset, one.terms)) == set(map(frozenset, two.terms))


@settings(max_examples=100, deadline=None)
@given(st.lists(_names, min_size=2, max_size=6, unique=True), st.integers(2, 4))
def test_power_gives_every_interaction_up_to_its_degree(names, power):
    """(x1 + ... + xk)^p: every subset of 1..p columns once, by degree (R's PowerTerms)."""
    from math import comb
    f = parse_formula(f"Surv(t, e) ~ ({' + '.join(map(_quote, names))})^{power}")
    sizes = [len(t) for t in f.terms]
    assert sizes == sorted(sizes)
    for k in range(1, power + 1):
        assert sizes.count(k) == comb(len(names), k)
