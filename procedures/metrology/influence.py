"""Influence tests: the variation of a meter's error when one influence quantity (voltage, frequency,
harmonics) leaves its reference value, as IEC meter standards define influence limits.

    variation = error(influence condition) − error(reference condition)      [percentage points]

Both errors are measured on the same meter, back to back. Their uncertainties are combined as if
independent (root sum of squares, Welch–Satterthwaite degrees of freedom): conservative, since the
reference standard's calibration and drift are common to both readings and would largely cancel in the
difference. Sign: a positive variation means the meter runs faster under the influence.
"""

from __future__ import annotations

import math

from GTC import reporting

from procedures.metrology.uncertainty import Component, ErrorResult


def variation(reference: ErrorResult, influenced: ErrorResult) -> ErrorResult:
    """The variation of error from ``reference`` to ``influenced``, with its expanded uncertainty."""
    u1, u2 = reference.u_c_percent, influenced.u_c_percent
    u_c = math.hypot(u1, u2)
    den = sum(
        u**4 / nu for u, nu in ((u1, reference.dof), (u2, influenced.dof)) if u > 0 and math.isfinite(nu)
    )
    dof = u_c**4 / den if den > 0 else math.inf
    k = float(reporting.k_factor(dof, p=100.0 * influenced.coverage))
    components = (
        Component("Error at the reference condition", "B", "normal", u1, reference.dof, 1.0, u1, "%",
                  f"{reference.error_percent:+.4f} % ± {reference.expanded_percent:.4f} % (k {reference.k:.2f})"),
        Component("Error at the influence condition", "B", "normal", u2, influenced.dof, 1.0, u2, "%",
                  f"{influenced.error_percent:+.4f} % ± {influenced.expanded_percent:.4f} % (k {influenced.k:.2f})"),
    )  # fmt: skip
    return ErrorResult(
        error_percent=influenced.error_percent - reference.error_percent,
        u_c_percent=u_c,
        k=k,
        expanded_percent=k * u_c,
        dof=dof,
        components=components,
        readings=influenced.readings,
        coverage=influenced.coverage,
        notes=("combined as independent: conservative (the reference's calibration is common to both)",),
    )
