"""R-style model formulas: ``"Surv(os_months, os_event) ~ complete_resection + dfi_group * age
+ strata(center)"`` as an alternative to column lists.

The right-hand side is tokenised and parsed into a syntax tree by formulaic's
Wilkinson-formula parser (the library lifelines uses); its operators are then expanded here
with R's rules, which formulaic's own expansion does not follow in every case. The outcome
``Surv(...)`` on the left and the ``strata()``, ``cluster()`` and ``factor()`` calls on the
right are read here, as plain column names. Nothing in a formula is ever evaluated: formulaic
never builds a model matrix here, and every function call other than those three is refused
before formulaic parses the text (a transformation such as ``log(age)`` is a column to
compute first).

Terms come out as R's ``terms()`` gives them (``attr(terms(f), "term.labels")``): main
effects first, then two-way interactions, and so on, each group in order of appearance; the
columns of an interaction are written in the order in which they first appear in the
formula, so ``~ b + a:b + a`` gives ``b``, ``a``, ``b:a`` as in R.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from formulaic.errors import FormulaicError
from formulaic.parser import DefaultFormulaParser
from formulaic.parser.algos.tokenize import tokenize
from formulaic.parser.types import Token

__all__ = ["SurvivalFormula", "parse_formula"]

#: a column name: an R/Python-style name (dots allowed, as in ``ph.ecog``) or backquoted text
_NAME = re.compile(r"\s*(?:`(?P<quoted>[^`]+)`|(?P<bare>[^\W\d][\w.]*))\s*\Z")
#: ``fun(args)``, also written ``survival::fun(args)``
_CALL = re.compile(r"\s*(?:survival\s*::\s*)?(?P<fun>[^\W\d][\w.]*)\s*\((?P<args>.*)\)\s*\Z", re.S)
#: the calls a formula may contain on its right-hand side (Surv is read on the left)
_SPECIALS = ("strata", "cluster", "factor")
#: R's formula operators (``**`` is formulaic's spelling of ``^``)
_OPERATORS = ("+", "-", "*", ":", "/", "^", "**")

_TRANSFORM = "transformations in formulas are not supported; compute the column first"


@dataclass(frozen=True)
class SurvivalFormula:
    """A parsed survival formula: the outcome, the covariate terms, strata and cluster.

    Attributes
    ----------
    time : str
        Column of the follow-up (stop) time, the last-but-one argument of ``Surv()``.
    event : str
        Column of the event indicator, the last argument of ``Surv()``.
    start : str or None
        Column of the entry (start) time for ``Surv(start, stop, event)``, else None.
    covariates : tuple of str
        Term labels in R's order (``attr(terms(f), "term.labels")`` without the strata and
        cluster terms); an interaction is one label joining its columns with ``":"``.
    strata : tuple of str
        Columns of the ``strata()`` terms, in order of appearance.
    cluster : str or None
        Column of the ``cluster()`` term, else None.
    categorical : frozenset of str
        Columns written ``factor(x)``: to be treated as categorical whatever their dtype.
    text : str
        The formula as given.
    terms : tuple of tuple of str
        The columns of each covariate term (same order as ``covariates``); ``("a", "b")`` for
        ``"a:b"``. Use this rather than splitting labels on ``":"``.
    """

    time: str
    event: str
    start: str | None
    covariates: tuple[str, ...]
    strata: tuple[str, ...]
    cluster: str | None
    categorical: frozenset[str]
    text: str
    terms: tuple[tuple[str, ...], ...] = field(repr=False)

    @property
    def variables(self) -> tuple[str, ...]:
        """Columns used by the covariate terms, each once, in order of first use."""
        return tuple(dict.fromkeys(col for term in self.terms for col in term))

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the formula names (outcome, covariates, strata, cluster), each once."""
        outcome = (self.start, self.time, self.event)
        rest = (*self.variables, *self.strata, self.cluster)
        return tuple(dict.fromkeys(c for c in (*outcome, *rest) if c is not None))

    def __str__(self) -> str:
        """The formula in normalised R text: expanded terms in R's order, strata and cluster
        last. Parsing it again gives the same formula (apart from ``text``).

        >>> str(parse_formula("Surv(t,e)~strata(g)+x*factor(y)"))
        'Surv(t, e) ~ x + factor(y) + x:factor(y) + strata(g)'
        """
        def name(col: str) -> str:
            text = col if _NAME.match(col) and _NAME.match(col)["bare"] else f"`{col}`"
            return f"factor({text})" if col in self.categorical else text

        outcome = [c for c in (self.start, self.time, self.event) if c is not None]
        rhs = [":".join(name(c) for c in term) for term in self.terms]
        if self.strata:
            rhs.append(f"strata({', '.join(name(c) for c in self.strata)})")
        if self.cluster is not None:
            rhs.append(f"cluster({name(self.cluster)})")
        surv = ", ".join(name(c) for c in outcome)
        return f"Surv({surv}) ~ {' + '.join(rhs) or '1'}"


def parse_formula(
    text: str, columns: Sequence[str] | None = None, *, require_covariates: bool = False
) -> SurvivalFormula:
    """Parse an R-style survival formula, as R's ``coxph``/``survfit`` read one.

    The left-hand side is ``Surv(time, event)`` or ``Surv(start, stop, event)``; the right
    uses R's operators: ``+`` (add), ``:`` (interaction), ``*`` (``a*b`` is
    ``a + b + a:b``), ``^`` (``(a+b+c)^2``: all terms up to two-way), ``/`` (``a/b`` is
    ``a + a:b``), ``-`` (remove a term), ``( )``, and the intercept ``1``/``0``/``-1``,
    accepted and ignored as ``coxph`` ignores it. ``strata(x, ...)`` and ``cluster(id)``
    name strata and the cluster for robust variances; ``factor(x)`` marks ``x`` as
    categorical. Nothing is evaluated.

    Parameters
    ----------
    text : str
        The formula, e.g. ``"Surv(os_months, os_event) ~ complete_resection + dfi_group * age
        + strata(center)"``.
    columns : sequence of str, optional
        Columns of the data the formula will be used with; when given, every column the
        formula names must be among them.
    require_covariates : bool, default False
        Refuse a formula with no covariate term (``~ 1``, ``~ strata(g)``), as a Cox model
        with covariates needs one; Kaplan-Meier accepts ``~ 1``.

    Returns
    -------
    SurvivalFormula
        Outcome columns, covariate terms in R's order (``attr(terms(f), "term.labels")``),
        strata, cluster and the columns written ``factor()``.

    Raises
    ------
    ValueError
        Malformed text (no ``~``, no ``Surv()`` on the left, a ``Surv()`` with neither two
        nor three columns, unbalanced parentheses, an empty right-hand side, an operator R
        does not accept, such as a power below 2), a transformation (``log(age)``,
        ``I(age^2)``, ``pspline(age)``), an interaction with ``strata()``, more than one
        ``cluster()``, or a column written both as ``x`` and ``factor(x)``. The message
        quotes the formula.
    KeyError
        ``columns`` was given and lacks columns the formula names (all of them are listed).

    Examples
    --------
    >>> f = parse_formula("Surv(os_months, os_event) ~ complete_resection + dfi_group * age"
    ...                   " + strata(center)")
    >>> f.covariates
    ('complete_resection', 'dfi_group', 'age', 'dfi_group:age')
    >>> f.time, f.event, f.start, f.strata, f.cluster
    ('os_months', 'os_event', None, ('center',), None)
    >>> parse_formula("Surv(entry, stop, dead) ~ (a + b + c)^2 + cluster(id)").covariates
    ('a', 'b', 'c', 'a:b', 'a:c', 'b:c')
    >>> parse_formula("Surv(t, e) ~ log(age)")
    Traceback (most recent call last):
    ...
    ValueError: transformations in formulas are not supported; compute the column first: log(age) in formula 'Surv(t, e) ~ log(age)'
    """
    if not isinstance(text, str):
        raise TypeError(f"a formula is a string, got {type(text).__name__}")
    lhs, rhs = _split(text)
    start, time, event = _outcome(lhs, text)
    names = _rhs_names(rhs, text)
    terms = _expand(rhs, text, names)

    covariates: list[tuple[str, ...]] = []
    strata: list[str] = []
    clusters: list[str] = []
    for term in terms:
        specials = [names[f] for f in term if names[f][0] in ("strata", "cluster")]
        if specials and len(term) > 1:
            raise _error(text, f"{specials[0][0]}() cannot be part of an interaction "
                               f"(stratify on the columns instead)")
        if specials:
            kind, args = specials[0]
            (strata if kind == "strata" else clusters).extend(args)
        else:
            covariates.append(tuple(names[f][1][0] for f in term))
    if len(clusters) > 1:
        raise _error(text, f"one cluster column only, got {', '.join(clusters)}")
    if require_covariates and not covariates:
        raise _error(text, "the right-hand side has no covariate term")

    # x and factor(x) would be two variables in R (numeric and categorical): refused
    factors = {names[f][1][0] for f in names if names[f][0] == "factor"}
    if both := sorted(factors & {names[f][1][0] for f in names if names[f][0] is None}):
        raise _error(text, f"{both[0]} is used both as factor({both[0]}) and as {both[0]}")
    labels = tuple(":".join(term) for term in covariates)
    result = SurvivalFormula(
        time=time, event=event, start=start, covariates=labels,
        strata=tuple(dict.fromkeys(strata)),
        cluster=clusters[0] if clusters else None,
        categorical=frozenset({c for term in covariates for c in term} & factors), text=text,
        terms=tuple(covariates))
    outcome = {c for c in (start, time, event) if c is not None}
    if used := sorted(outcome & {*result.variables, *result.strata, result.cluster}):
        raise _error(text, f"the outcome column {used[0]} also appears on the right-hand side")
    if columns is not None:
        available = set(columns)
        if missing := [c for c in result.columns if c not in available]:
            raise KeyError(f"column(s) {', '.join(missing)} named in formula {text!r} "
                           f"not found in the data")
    return result


def _error(text: str, what: str) -> ValueError:
    return ValueError(f"{what} in formula {text!r}")


def _split(text: str) -> tuple[str, str]:
    """The two sides of the one top-level ``~``, after checking that brackets balance (a
    check of our own: formulaic's message for it is about "context markers")."""
    depth, quote, tildes = 0, None, []
    for i, char in enumerate(text):
        if quote:
            quote = None if char == quote else quote
        elif char in "`'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                raise _error(text, f"unbalanced parentheses: a ')' at character {i + 1} "
                                   f"closes nothing")
        elif char == "~" and depth == 0:
            tildes.append(i)
    if quote:
        raise _error(text, f"unclosed quote {quote}")
    if depth:
        raise _error(text, f"unbalanced parentheses: {depth} '(' not closed")
    if not tildes:
        raise _error(text, "no '~': write Surv(time, event) ~ covariates")
    if len(tildes) > 1:
        raise _error(text, "more than one '~'")
    lhs, rhs = text[: tildes[0]], text[tildes[0] + 1:]
    if not lhs.strip():
        raise _error(text, "no outcome on the left of '~': write Surv(time, event) ~ ...")
    if not rhs.strip():
        raise _error(text, "the right-hand side is empty (write ~ 1 for no covariate)")
    return lhs, rhs


def _call(expr: str, text: str) -> tuple[str, list[str]] | None:
    """``(function, [column, ...])`` of ``fun(a, b)``, or None when ``expr`` is no call.
    Arguments must be plain column names: anything else would need evaluating."""
    match = _CALL.match(expr)
    if match is None:
        return None
    args, depth, piece = [], 0, ""
    for char in match["args"] + ",":
        depth += (char in "([{") - (char in ")]}")
        if depth < 0:  # "Surv(t, e) + f(x)": not one call
            return None
        if char == "," and depth == 0:
            args.append(piece)
            piece = ""
        else:
            piece += char
    columns = []
    for arg in args:
        name = _NAME.match(arg)
        if name is None:
            if match["fun"] not in ("Surv", *_SPECIALS):
                return match["fun"], []  # a transformation, refused by the caller
            what = "named arguments" if re.match(r"\s*\w+\s*=[^=]", arg) else (
                repr(arg.strip()) if arg.strip() else "an empty argument")
            raise _error(text, f"{match['fun']}() takes column names, not {what}")
        columns.append(name["quoted"] or name["bare"])
    return match["fun"], columns


def _outcome(lhs: str, text: str) -> tuple[str | None, str, str]:
    call = _call(lhs, text)
    if call is None or call[0] != "Surv":
        raise _error(text, f"the left-hand side {lhs.strip()!r} is not Surv(time, event) "
                           f"or Surv(start, stop, event)")
    args = call[1]
    if len(args) not in (2, 3):
        raise _error(text, f"Surv() needs (time, event) or (start, stop, event), got "
                           f"{len(args)} argument{'s' * (len(args) != 1)}")
    if len(set(args)) != len(args):
        raise _error(text, "Surv() names the same column twice")
    return (None, *args) if len(args) == 2 else tuple(args)  # type: ignore[return-value]


def _rhs_names(rhs: str, text: str) -> dict[str, tuple[str | None, list[str]]]:
    """Check every token of the right-hand side before formulaic expands it, and read each
    factor: token text -> (None, [column]) for a column, (special, [columns]) for
    ``strata``/``cluster``/``factor``. Any other call, literal or operator is refused here,
    so formulaic only ever sees names, 0/1, integer powers and R's operators."""
    try:
        tokens = list(tokenize(rhs))
    except FormulaicError as exc:
        raise _error(text, f"cannot read the right-hand side ({_first_line(exc)})") from None
    names: dict[str, tuple[str | None, list[str]]] = {}
    for i, token in enumerate(tokens):
        word = token.token
        if token.kind is Token.Kind.NAME:
            names[word] = (None, [word])
        elif token.kind is Token.Kind.PYTHON:
            call = _call(word, text)
            if call is None or call[0] not in _SPECIALS:
                raise _error(text, f"{_TRANSFORM}: {word}")
            fun, args = call
            if not args or (fun != "strata" and len(args) != 1):
                raise _error(text, f"{fun}() takes {'one column' if fun != 'strata' else 'columns'}")
            names[word] = (fun, args)
        elif token.kind is Token.Kind.OPERATOR:
            if word in _OPERATORS:
                continue
            if set(word) <= set("".join(_OPERATORS)):
                # formulaic would merge them ("a - -b" as "a + b"), R would not: refused
                raise _error(text, f"two operators in a row ({word!r})")
            raise _error(text, f"the operator {word!r} is not supported (use + * : / ^ - "
                               f"and parentheses)")
        elif token.kind is Token.Kind.VALUE:
            after_power = i > 0 and tokens[i - 1].token in ("^", "**")
            if word == ".":
                raise _error(text, "the '.' shorthand (all other columns) is not supported; "
                                   "name the columns")
            if not after_power and word not in ("0", "1"):  # a power is checked in _encode
                raise _error(text, f"{word} is neither a column nor the intercept 1/0")
        elif word not in "()":
            raise _error(text, f"{word!r} is not supported")
    return names


def _expand(rhs: str, text: str, names: dict) -> list[tuple[str, ...]]:
    """The terms of the right-hand side as R's ``terms.formula`` expands them.

    formulaic gives the syntax tree (precedence, associativity, parentheses); the operators
    are then applied with R's own rules (``model.c``: ``PlusTerms``, ``InteractTerms``,
    ``CrossTerms``, ``NestTerms``, ``PowerTerms``, ``DeleteTerms``) rather than formulaic's,
    which order some terms differently and do not agree with R on an empty operand. A term
    is the set of its columns; its label lists them in order of first appearance in the
    formula (R's variable order); terms are then put in order of degree, stably.
    """
    # no automatic intercept: it is meaningless in a Cox model, and with one formulaic
    # inspects the variables of the formula itself
    parser = DefaultFormulaParser(include_intercept=False)
    try:
        tree = parser.get_ast(rhs)
    except (FormulaicError, AttributeError, TypeError) as exc:
        raise _error(text, f"cannot read the right-hand side ({_first_line(exc)})") from None
    if tree is None:
        raise _error(text, "the right-hand side is empty (write ~ 1 for no covariate)")
    position = {word: i for i, word in enumerate(names)}
    terms = _encode(tree, text)
    labelled = [tuple(sorted(term, key=position.__getitem__)) for term in terms]
    return sorted(labelled, key=len)


def _unique(terms: list[frozenset]) -> list[frozenset]:
    # R's TrimRepeats: the first of equal terms is kept
    return list(dict.fromkeys(terms))


def _encode(node, text: str) -> list[frozenset]:
    """R's ``EncodeVars`` on one node of formulaic's syntax tree: its list of terms."""
    if isinstance(node, Token):
        # "1" (and "0", which formulaic writes as "-1") is the intercept: no term. Other
        # literals never get here (refused by _rhs_names), except a power's exponent.
        return [] if node.kind is Token.Kind.VALUE else [frozenset([node.token])]
    symbol, args = node.operator.symbol, list(node.args)
    if node.operator.arity == 1:
        if symbol == "+":
            return _encode(args[0], text)
        if symbol == "-":  # R: DeleteTerms(NULL, x), nothing
            return []
    elif symbol in ("^", "**"):
        power = args[1]
        if not (isinstance(power, Token) and power.token.isdigit() and int(power.token) >= 2):
            raise _error(text, "invalid power: a power is an integer of at least 2")
        base = _encode(args[0], text)
        result = base
        for _ in range(int(power.token) - 1):
            result = _unique([left | right for left in base for right in result])
        return result
    elif symbol in ("+", "-", "*", ":", "/"):
        left, right = _encode(args[0], text), _encode(args[1], text)
        products = [a | b for a in left for b in right]
        if symbol == "+":
            return _unique(left + right)
        if symbol == "-":
            return [term for term in left if term not in set(right)]
        if symbol == ":":
            return _unique(products)
        if not left:
            # R's CrossTerms and NestTerms return nothing when their left operand is empty
            # (``(a - a) * b`` has no term in R): kept so that metsurv agrees with R
            return []
        if symbol == "*":
            return _unique(left + right + products)
        nest = frozenset().union(*left)  # a/b: a + a:b, b nested in all of a
        return _unique(left + [nest | term for term in right])
    raise _error(text, f"the operator {symbol!r} is not supported (use + * : / ^ - and "
                       f"parentheses)")


def _first_line(exc: Exception) -> str:
    # formulaic appends the formula with terminal colour codes after a blank line
    return str(exc).split("\n", 1)[0].strip().rstrip(".")
