"""Cox proportional-hazards regression, as R ``survival::coxph`` (and ``cox.zph``).

A thin front end over separate parts, as R survival separates ``coxph.R`` from
``coxph.fit.R``/``agreg.fit.R`` and ``cox.zph.R``:

- :mod:`.fit`: :func:`cox`, the front end (data, design, R's NA terms and warnings, robust
  variance, tests);
- :mod:`.design`: the design matrix (factors against a reference level, interactions);
- :mod:`.risk`: sorted risk sets and the vectorised sums over them (log-likelihood, score,
  information, score residuals; case weights, Efron and Breslow, (start, stop] data);
- :mod:`.newton`: R ``coxfit6``/``agfit4``'s Newton iteration and generalised Cholesky;
- :mod:`.concordance`: Harrell's C as R ``concordancefit``;
- :mod:`.zph`: the PH test :func:`cox_zph` (R ``cox.zph``);
- :mod:`.result`: :class:`CoxResult`, :class:`PHTestResult`.
"""

from __future__ import annotations

from .design import design_matrix
from .fit import TIES, cox
from .result import CoxResult, PHTestResult
from .zph import cox_zph

__all__ = ["TIES", "CoxResult", "PHTestResult", "cox", "cox_zph", "design_matrix"]
