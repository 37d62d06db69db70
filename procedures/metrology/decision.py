"""Decision rules: how an error and its expanded uncertainty become pass, fail or indeterminate.

ISO/IEC 17025:2017 §7.8.6 requires the decision rule to be documented and applied, so every verdict
carries the rule's name, and every rule carries a ``statement`` a certificate prints verbatim
(ILAC-G8 style). Limits are ``limit_lo ≤ error ≤ limit_hi`` in percent error (%R − 100); they may be
asymmetric. Boundaries are inclusive: an error exactly on the limit passes under simple acceptance.

**Indeterminate** (guard-banded only) means the error lies within the limit but closer to it than U, or
outside it by less than U. A shop must **not** treat it as a pass: the meter is not accepted as tested;
retest with more pulses or readings (smaller U), or adjust it. :attr:`Verdict.accepted` is true only for
"pass".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from procedures.errors import InputError
from procedures.metrology._checks import non_negative, positive, real

Outcome = Literal["pass", "fail", "indeterminate"]


@dataclass(frozen=True)
class Verdict:
    """The outcome of one test point under a named decision rule."""

    outcome: Outcome
    rule: str
    tur: float
    reason: str

    @property
    def accepted(self) -> bool:
        """True only for a pass; an indeterminate result is not an acceptance."""
        return self.outcome == "pass"


def test_uncertainty_ratio(limit_half_width: float, expanded: float) -> float:
    """TUR = limit half-width ÷ expanded uncertainty U (inf when U = 0).

    Example (standards.md §6): a class 0.2 meter (±0.2 %) needs U ≤ 0.05 % for 4:1.
    """
    half = positive("limit_half_width", limit_half_width, allowed="the tolerance half-width in % > 0")
    u = non_negative("expanded", expanded, allowed="the expanded uncertainty U in % >= 0")
    return math.inf if u == 0 else half / u


# Not a pytest test, though its name starts with "test_": stop pytest collecting it when imported.
test_uncertainty_ratio.__test__ = False  # type: ignore[attr-defined]


def _checked(
    error_percent: float, expanded_percent: float, limit_lo: float, limit_hi: float
) -> tuple[float, float, float, float, float]:
    e = real("error_percent", error_percent, allowed="a finite percent error")
    u = non_negative("expanded_percent", expanded_percent, allowed="the expanded uncertainty U in % >= 0")
    lo = real("limit_lo", limit_lo, allowed="a finite lower limit in % error")
    hi = real("limit_hi", limit_hi, allowed="a finite upper limit in % error")
    if not lo < hi:
        raise InputError(
            "limit_lo", f"is not below limit_hi {hi!r}", allowed="limit_lo < limit_hi", found=limit_lo
        )
    return e, u, lo, hi, test_uncertainty_ratio((hi - lo) / 2.0, u)


@runtime_checkable
class DecisionRule(Protocol):
    """What every decision rule offers: a name, a title, a certificate statement and ``decide``."""

    name: str
    title: str
    statement: str

    def decide(
        self, error_percent: float, expanded_percent: float, limit_lo: float, limit_hi: float
    ) -> Verdict: ...


@dataclass(frozen=True)
class SimpleAcceptance:
    """Pass when the measured error is within the limit; U is reported but not used in the decision."""

    name: str = "simple"
    title: str = "Simple acceptance (shared risk)"
    statement: str = (
        "Conformity is decided by simple acceptance: a result passes when the measured error lies within "
        "the specified limit. The measurement uncertainty is reported but not used in the decision, so "
        "results close to the limit carry a risk of false acceptance of up to 50 %."
    )

    def decide(
        self, error_percent: float, expanded_percent: float, limit_lo: float, limit_hi: float
    ) -> Verdict:
        e, u, lo, hi, tur = _checked(error_percent, expanded_percent, limit_lo, limit_hi)
        if lo <= e <= hi:
            return Verdict(
                "pass", self.name, tur, f"error {e:+.4f} % within {lo:+g} … {hi:+g} % (U ±{u:.4f} % not used)"
            )
        return Verdict(
            "fail", self.name, tur, f"error {e:+.4f} % outside {lo:+g} … {hi:+g} % (U ±{u:.4f} % not used)"
        )


@dataclass(frozen=True)
class GuardBandedAcceptance:
    """Pass within limit − U, fail outside limit + U, indeterminate in between (guard band = U)."""

    name: str = "guard-banded"
    title: str = "Guard-banded acceptance (guard band w = U)"
    statement: str = (
        "Conformity is decided with a guard band equal to the expanded uncertainty U (ILAC-G8): a result "
        "passes when the error lies within the limit reduced by U, fails when it lies outside the limit "
        "widened by U, and is otherwise indeterminate; an indeterminate result is not accepted."
    )

    def decide(
        self, error_percent: float, expanded_percent: float, limit_lo: float, limit_hi: float
    ) -> Verdict:
        e, u, lo, hi, tur = _checked(error_percent, expanded_percent, limit_lo, limit_hi)
        span = f"{lo:+g} … {hi:+g} %"
        if lo + u <= e <= hi - u:
            return Verdict("pass", self.name, tur, f"error {e:+.4f} % ± {u:.4f} % lies wholly within {span}")
        if e < lo - u or e > hi + u:
            return Verdict("fail", self.name, tur, f"error {e:+.4f} % ± {u:.4f} % lies wholly outside {span}")
        return Verdict(
            "indeterminate",
            self.name,
            tur,
            f"error {e:+.4f} % ± {u:.4f} % straddles a limit of {span}: not accepted; retest with smaller U or adjust",
        )


DECISION_RULES: Mapping[str, DecisionRule] = MappingProxyType(
    {"simple": SimpleAcceptance(), "guard-banded": GuardBandedAcceptance()}
)


def get_decision_rule(name: str) -> DecisionRule:
    """A decision rule by name: ``simple`` or ``guard-banded``."""
    try:
        return DECISION_RULES[name]
    except (KeyError, TypeError):
        raise InputError(
            "decision_rule", "is not a known decision rule", allowed=sorted(DECISION_RULES), found=name
        ) from None
