"""``metsurv power``: events and patients for a two-group survival comparison (Schoenfeld 1983,
Freedman 1982) and, with ``--simulate``, simulated power on the replicate engine
(:mod:`metsurv.power`).

JSON of ``metsurv power --json``::

    {"method", "hr", "hr_source", "alpha", "power", "allocation",
     "events", "events_exact",              (events rounded up, and before rounding)
     "event_probability", "patients", "patients_exact", "per_group": [group 0, group 1],
     "assumptions": {"median", "accrual", "follow_up", "loss", "integration"}
                    or {"event_probability", "preset", "contrast", "eligible"},
     "simulated_power": [{"n", "power", "mcse", "replicates", "failed", "events_mean",
                          "formula_power"}],   (only with --simulate)
     "simulation": {"design", "test", "seed", "backend", "figure"},  (only with --simulate)
     "warnings"}

``patients`` is null without ``--median`` (and ``--follow-up``) or ``--preset``. With
``--preset`` and no ``--median`` the probability of an event, the allocation (unless
``--allocation`` is given) and the share of the preset's patients in the contrast's two
groups come from one draw of 20,000 patients of the preset's ``ph`` outcome model; then
``patients`` counts all patients to draw (``patients_exact = events / (event_probability
* eligible)``). With ``--preset`` one HR answers everything (events, patients, the
simulation and its ``formula_power``): the contrast's true *conditional* hazard ratio of
the ph model; ``--hr`` may be left out or must equal it (else exit 2). ``hr_source`` says
where the HR came from (``"--hr"``, or the preset's conditional HR).
With ``--simulate`` and ``--out DIR`` the power curve is written to
``DIR/figures/power_curve.{png,svg,pdf}`` and the per-replicate rows to
``DIR/power_replicates.csv``; if any of these exists nothing is run (exit 2) unless
``--force`` (then exactly these files are overwritten).
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Any

from metsurv.errors import CohortError, DataError
from metsurv.format import format_num

from ._args import add_backend, add_json, non_negative_int, positive_int
from ._errors import EXIT_OK
from ._output import Notes, catching, emit

#: ``--hr`` with ``--preset`` counts as the model's HR when within this relative distance
#: (``--hr 0.4966`` for exp(-0.7)).
HR_REL_TOL = 1e-3


def _sizes(text: str) -> list[int]:
    """``--n``: one or more sample sizes, comma-separated, each >= 2; returned without
    duplicates, smallest first (``150,150,100`` is ``[100, 150]``)."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"whole numbers of patients separated by commas, e.g. 100,150,200, not {text!r}"
        ) from None
    if not sizes or min(sizes) < 2:
        raise argparse.ArgumentTypeError(f"each n must be at least 2, not {text!r}")
    return sorted(set(sizes))


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "power", help="events, patients and simulated power for a two-group comparison",
        description="Number of events (Schoenfeld 1983 or Freedman 1982) and patients for a "
        "two-sided test of a hazard ratio, and with --simulate the simulated power of a "
        "design (exponential, or a contrast of a synthetic preset) with its Monte Carlo SE.")
    p.add_argument("--hr", type=float, default=None,
                   help="hazard ratio to detect, group 1 vs group 0; with --preset leave it "
                   "out: the contrast's true conditional HR of the ph model is used")
    p.add_argument("--alpha", type=float, default=0.05, help="two-sided level (default 0.05)")
    p.add_argument("--power", type=float, default=0.8, help="target power (default 0.8)")
    p.add_argument("--allocation", type=float, default=None,
                   help="fraction of patients in group 1 (default 0.5; with --preset the "
                   "preset's own)")
    p.add_argument("--method", choices=["schoenfeld", "freedman"], default="schoenfeld")
    p.add_argument("--median", type=float, default=None,
                   help="median survival of group 0, months (exponential)")
    p.add_argument("--accrual", type=float, default=0.0, help="months of uniform accrual")
    p.add_argument("--follow-up", type=float, default=None, dest="follow_up",
                   help="months of follow-up after accrual ends")
    p.add_argument("--loss", type=float, default=0.0,
                   help="proportion lost to follow-up per year (default 0)")
    p.add_argument("--integration", choices=["exact", "simpson"], default="exact",
                   help="mean event probability over accrual: closed form or Simpson's rule")
    p.add_argument("--simulate", action="store_true", help="also simulate the power")
    p.add_argument("--preset", choices=["irlm1997", "sarcoma"], default=None,
                   help="simulate a contrast of this synthetic preset (ph outcome model)")
    p.add_argument("--contrast", default=None,
                   help="with --preset: a term of the ph model, e.g. leiomyosarcoma or "
                   "nodal_status=N1")
    p.add_argument("--n", type=_sizes, default=None,
                   help="patients per simulated data set, or several separated by commas "
                   "(a power curve; duplicates are dropped and the sizes sorted); default: "
                   "the formula's patients")
    p.add_argument("--test", choices=["logrank", "cox"], default="logrank")
    p.add_argument("--replicates", type=positive_int, default=1000)
    p.add_argument("--seed", type=non_negative_int, default=0)
    add_backend(p)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="with --simulate: write figures/power_curve.{png,svg,pdf} and "
                   "power_replicates.csv here (refused if any of them exists)")
    p.add_argument("--force", action="store_true",
                   help="with --out: overwrite those files if they exist (nothing else in "
                   "DIR is touched)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_json(p)
    p.set_defaults(func=run)


def _design(args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """The formula answer (the JSON without simulation) and the simulation design."""
    from metsurv.power import ExponentialDesign, PresetDesign, sample_size

    if args.contrast and not args.preset:
        raise DataError("--contrast needs --preset (the synthetic preset it belongs to)")
    preset = None
    if args.preset:
        if not args.contrast:
            raise DataError("--preset needs --contrast, e.g. --contrast leiomyosarcoma")
        preset = PresetDesign.of(args.preset, args.contrast)
    hr = args.hr
    if preset is not None:
        # one answer, one HR: the simulation draws from the model, so the formula uses its HR
        c = preset.contrast
        model_hr = math.exp(c.log_hr)
        if hr is not None and not math.isclose(hr, model_hr, rel_tol=HR_REL_TOL):
            raise DataError(f"--hr {hr:g} differs from the conditional HR {model_hr:.4g} "
                            f"(exp({c.log_hr:g})) of {c.term} in preset {c.preset}'s ph model, "
                            f"which --preset uses; leave out --hr")
        hr = model_hr
        hr_source = (f"conditional HR exp({c.log_hr:g}) of {c.term} in preset {c.preset}'s "
                     "ph model")
    elif hr is None:
        raise DataError("give --hr, the hazard ratio to detect (e.g. --hr 0.7), or "
                        "--preset with --contrast")
    else:
        hr_source = "--hr"
    allocation = args.allocation
    if args.median is None and args.follow_up is not None:
        raise DataError("--follow-up needs --median (group 0's median survival, months)")
    if args.median is None and args.accrual:
        raise DataError("--accrual needs --median (group 0's median survival, months)")
    if preset is not None and args.median is None:
        drawn = preset.summary()
        allocation = drawn["allocation"] if allocation is None else allocation
        d = sample_size(hr, args.alpha, args.power, allocation, args.method,
                        event_probability=drawn["event_probability"]).to_dict()
        exact = d["events_exact"] / (drawn["event_probability"] * drawn["eligible"])
        n = math.ceil(exact)
        d.update(patients_exact=exact, patients=n,
                 per_group=None if drawn["eligible"] < 1 else d["per_group"])
        d["assumptions"] |= {"preset": args.preset, "contrast": preset.contrast.term,
                             "eligible": drawn["eligible"]}
    else:
        allocation = 0.5 if allocation is None else allocation
        d = sample_size(hr, args.alpha, args.power, allocation, args.method,
                        median=args.median, accrual=args.accrual, follow_up=args.follow_up,
                        loss=args.loss, integration=args.integration).to_dict()
    d = {**d, "hr_source": hr_source}
    if not args.simulate:
        return d, None
    if preset is not None:
        return d, preset
    if args.median is None:
        raise DataError("--simulate needs a design: --median and --follow-up (exponential), "
                        "or --preset with --contrast")
    return d, ExponentialDesign(hr, args.median, args.accrual, args.follow_up, allocation,
                                args.loss)


#: The files ``--out DIR`` writes, relative to DIR.
OUTPUT_FILES = (*(os.path.join("figures", f"power_curve.{ext}") for ext in ("png", "svg", "pdf")),
                "power_replicates.csv")


def check_output_folder(out: str, force: bool = False) -> None:
    """Refuse ``--out DIR`` when DIR is not a folder, or holds any of :data:`OUTPUT_FILES`
    (listed) and ``force`` is not set; as :func:`metsurv.synthetic.cli.check_output_folder`.

    Raises
    ------
    metsurv.errors.CohortError
        One line naming the folder (and the files present) and what to do.
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise CohortError(f"--out {out}: exists and is not a folder; choose an output "
                          "folder (--out DIR)")
    present = [name for name in OUTPUT_FILES
               if os.path.lexists(os.path.join(out, name))]
    if present and not force:
        raise CohortError(f"--out {out}: already holds {', '.join(present)}, which "
                          "power would overwrite; nothing was run: choose a new folder (--out "
                          "DIR), or pass --force to overwrite exactly these files")


def _write(out: str, sim: Any, force: bool = False) -> str:
    from metsurv.power import power_curve_figure
    from metsurv.report.style import PDF_METADATA, PNG_METADATA, SVG_METADATA, figure_style

    check_output_folder(out, force)  # again: the folder may have changed meanwhile
    figures = os.path.join(out, "figures")
    os.makedirs(figures, exist_ok=True)
    fig = power_curve_figure(sim)
    base = os.path.join(figures, "power_curve")
    with figure_style():
        for ext, meta in (("png", PNG_METADATA), ("svg", SVG_METADATA), ("pdf", PDF_METADATA)):
            fig.savefig(f"{base}.{ext}", metadata=meta)
    sim.replicates.to_csv(os.path.join(out, "power_replicates.csv"), index=False)
    return base


def format_power(result: dict[str, Any]) -> str:
    """Human-readable text of the ``metsurv power --json`` object."""
    hr = format_num(result['hr'], '{:.4g}')
    if result.get("hr_source", "--hr") != "--hr":
        hr += f" (the {result['hr_source']})"
    lines = [f"{result['method'].capitalize()}: HR {hr}, two-sided alpha "
             f"{result['alpha']:g}, power {result['power']:g}, "
             f"allocation {format_num(result['allocation'], '{:.3g}')} in group 1",
             f"events needed: {result['events']} ({result['events_exact']:.2f} before rounding)"]
    if result.get("patients") is not None:
        a = result["assumptions"]
        if "median" in a:
            how = (f"exponential, group 0 median {a['median']:g} months, accrual "
                   f"{a['accrual']:g} months, follow-up {a['follow_up']:g} months, loss "
                   f"{a['loss']:g} per year ({a['integration']})")
        else:
            how = f"preset {a['preset']}, contrast {a['contrast']}"
        lines.append(f"patients needed: {result['patients']}"
                     + (f" ({result['per_group'][0]} + {result['per_group'][1]})"
                        if result.get("per_group") else "")
                     + f"; P(event) = {result['event_probability']:.4f} ({how})")
    sims = result.get("simulated_power")
    if sims:
        s = result["simulation"]
        lines += ["", f"simulated power ({s['test']} test, seed {s['seed']}, {s['backend']}):",
                  f"{'n':>8}{'power':>9}{'MC SE':>9}{'formula':>9}{'events':>9}{'failed':>8}"]
        for r in sims:
            lines.append(f"{r['n']:>8}{r['power']:>9.3f}{r['mcse']:>9.3f}"
                         f"{r['formula_power']:>9.3f}{r['events_mean']:>9.1f}{r['failed']:>8}")
        if s.get("figure"):
            lines.append(f"power curve: {s['figure']}.png/.svg/.pdf")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Bad input (an HR of 1, alpha outside (0, 1), a contrast the preset lacks) exits 2 with
    one line ``metsurv: power: <what>; <what to do>``."""
    try:
        return _run(args)
    except (CohortError, DataError) as exc:  # no input file to name: say the subcommand
        raise CohortError(f"power: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    from metsurv.power import simulate_power

    if args.out and not args.simulate:
        raise DataError("--out writes the simulated power curve: add --simulate")
    if args.force and not args.out:
        raise DataError("--force overwrites the files of --out DIR: add --out")
    if args.out:
        check_output_folder(args.out, args.force)  # before the (possibly long) simulation
    notes = Notes()
    with catching(notes):
        result, design = _design(args)
        if design is not None:
            sizes = args.n
            if sizes is None:
                if result.get("patients") is None:
                    raise DataError("--simulate needs --n (patients per data set)")
                sizes = [result["patients"]]
            sim = simulate_power(design, sizes, args.replicates, args.seed, alpha=args.alpha,
                                 test=args.test, method=args.method, workers=args.workers,
                                 scheduler=args.scheduler,
                                 progress=False if args.quiet else None)
            if int(sim.table["failed"].sum()):
                notes.add([f"{int(sim.table['failed'].sum())} replicates failed (left out of "
                           f"the power), e.g.: {sim.failures['error'].iloc[0]}"])
            result["simulated_power"] = sim.to_dict()
            result["simulation"] = {"design": sim.design, "test": sim.test, "seed": args.seed,
                                    "backend": sim.backend,
                                    "figure": (_write(args.out, sim, args.force)
                                               if args.out else None)}
    emit(result, format_power(result), args.json, notes)
    return EXIT_OK
