"""``metsurv simulate``: a simulation study of a survival method on synthetic cohorts.

Replicate cohorts from a preset of :mod:`metsurv.synthetic`, one named analysis on each, and
the performance measures of Morris, White & Crowther 2019 (bias, empirical SE, mean model SE,
coverage, rejection rate, each with its Monte Carlo SE): :func:`metsurv.simulate.simulate`.
``--workers N`` runs on a local Dask cluster of N processes, ``--scheduler ADDRESS`` on an
existing one; the result is the same wherever it runs.

JSON of ``metsurv simulate --json``::

    {"design": {...}, "replicates", "seed", "n_failed",
     "failed": [{"replicate", "seed", "error"}],
     "summary": [{"term", "n", "truth", "mean", "bias": {"estimate", "mcse"},
                  "empirical_se": {...}, "model_se": {...}, "coverage": {...},
                  "rejection": {...}}],
     "warnings": []}

Undefined values (no stated truth with ``--outcome calibrated``; no estimate for a
log-rank test) are ``null``.
"""

from __future__ import annotations

import argparse
from typing import Any

from metsurv.errors import CohortError

from ._args import add_backend, add_json, column_list, positive_int
from ._errors import EXIT_OK
from ._output import Notes, catching, emit


def add_parser(sub: Any) -> None:
    from metsurv.simulate import ANALYSES

    p = sub.add_parser(
        "simulate", help="simulation study of a method (bias, SE, coverage, power)",
        description="Run a named analysis over replicate synthetic cohorts and report bias, "
        "empirical SE, mean model SE, coverage and rejection rate with Monte Carlo SEs "
        "(Morris, White & Crowther 2019).")
    p.add_argument("--preset", required=True, help="synthetic preset (irlm1997, sarcoma)")
    p.add_argument("--outcome", choices=["calibrated", "ph"], default="ph",
                   help="outcome model: ph (stated true log HRs; default) or calibrated")
    p.add_argument("--treatment-effect", type=float, default=None, metavar="LOG_HR",
                   help="conditional log HR of the synthetic treatment (needs --outcome ph)")
    p.add_argument("--n", type=positive_int, required=True, help="patients per replicate")
    p.add_argument("--analysis", choices=list(ANALYSES), required=True)
    p.add_argument("--covariates", default=None, metavar="A,B",
                   help="Cox covariates, log-rank group (first) or compare confounders")
    p.add_argument("--replicates", type=positive_int, required=True)
    p.add_argument("--seed", type=int, default=0, help="seed of the study")
    p.add_argument("--alpha", type=float, default=0.05, help="test level (default 0.05)")
    add_backend(p)
    add_json(p)
    p.set_defaults(func=run)


def _fmt(m: dict[str, Any] | float | None) -> str:
    if isinstance(m, dict):
        v, s = m["estimate"], m["mcse"]
        return "n/a" if v is None else f"{v:.4f} ({'n/a' if s is None else f'{s:.4f}'})"
    return "n/a" if m is None else f"{m:.4f}"


def run(args: argparse.Namespace) -> int:
    from metsurv.simulate import simulate

    covariates = None
    if args.covariates is not None:
        covariates = column_list(args.covariates, "--covariates",
                                 "dfi_group,n_metastases_group")
    notes = Notes()
    with catching(notes):
        try:
            res = simulate(args.preset, args.n, args.analysis, args.replicates, args.seed,
                           outcome=args.outcome, treatment_effect=args.treatment_effect,
                           covariates=covariates, workers=args.workers,
                           scheduler=args.scheduler, alpha=args.alpha)
        except ValueError as e:
            raise CohortError(f"simulate: {e}") from None
    payload = res.to_dict()
    lines = [f"{args.analysis} on {args.preset} (n {args.n}, outcome {args.outcome}): "
             f"{args.replicates} replicates, seed {args.seed}, {res.n_failed} failed",
             "term | n | truth | bias (MCSE) | empirical SE (MCSE) | model SE (MCSE) | "
             "coverage (MCSE) | rejection (MCSE)"]
    for s in payload["summary"]:
        lines.append(" | ".join([s["term"], str(s["n"]), _fmt(s["truth"]), _fmt(s["bias"]),
                                 _fmt(s["empirical_se"]), _fmt(s["model_se"]),
                                 _fmt(s["coverage"]), _fmt(s["rejection"])]))
    for f in payload["failed"]:
        lines.append(f"failed replicate {f['replicate']} (seed {f['seed']}): {f['error']}")
    emit(payload, "\n".join(lines), args.json, notes)
    return EXIT_OK
