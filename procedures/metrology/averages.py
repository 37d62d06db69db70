"""Weighted average registration by named rule, and the in-service (C12.1-style) verdict.

Commissions average the shop test points differently; the rule is data, chosen by name in a plan and
printed on the certificate with its provenance. Labels are the shop's test-point names: ``FL`` (full
load, TA, PF 1), ``LL`` (light load, PF 1) and ``PF`` (TA at PF 0.5 lag).

A weighted average is linear, so it works the same on percent registration or on percent error;
:func:`in_service_verdict` takes **percent registration** (%R, 100 = exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from procedures.errors import InputError
from procedures.metrology._checks import non_negative, real

# Test points at unity power factor and at PF 0.5 lag, for the adjustment thresholds.
PF1_POINTS = ("FL", "LL")
PF05_POINTS = ("PF",)

_PROVENANCE = (
    "Weighted average by jurisdiction [C]: ANSI C12.1 in-service practice as adopted by state commissions. "
    "Check your commission's current rule before relying on it."
)
# Comparisons at the 98–102 % boundary are made with this slack so (4·102 + 102)/5 = 102.00000000000001
# still counts as inside.
_EPS = 1e-9


@dataclass(frozen=True)
class AverageRule:
    """A weighted-average rule: ``Σ w·value / Σ w`` over the labelled test points."""

    name: str
    title: str
    weights: Mapping[str, float]
    provenance: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InputError("rule.name", "is empty", allowed="a non-empty rule name", found=self.name)
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise InputError(
                "rule.weights",
                "has no test points",
                allowed="a mapping such as {'FL': 4, 'LL': 1}",
                found=self.weights,
            )
        clean: dict[str, float] = {}
        for label, w in self.weights.items():
            if not isinstance(label, str) or not label.strip():
                raise InputError(
                    "rule.weights",
                    "has a blank test-point label",
                    allowed="labels like FL, LL, PF",
                    found=label,
                )
            clean[label] = non_negative(f"rule.weights[{label}]", w, allowed="a finite weight >= 0")
        if math.fsum(clean.values()) <= 0:
            raise InputError(
                "rule.weights", "sum to zero", allowed="at least one weight > 0", found=dict(self.weights)
            )
        object.__setattr__(self, "weights", MappingProxyType(clean))

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.weights.items()))))

    @property
    def formula(self) -> str:
        """The rule as a shop writes it, e.g. ``(4·FL + LL) / 5``."""
        terms = [label if w == 1 else f"{w:g}·{label}" for label, w in self.weights.items()]
        total = math.fsum(self.weights.values())
        if len(terms) == 1:
            return terms[0]
        return f"({' + '.join(terms)}) / {total:g}"


AVERAGE_RULES: Mapping[str, AverageRule] = MappingProxyType(
    {
        "method-1": AverageRule(
            "method-1", "Method 1 (common single-phase)", {"FL": 4, "LL": 1}, _PROVENANCE
        ),
        "method-2": AverageRule("method-2", "Method 2", {"FL": 1, "LL": 1}, _PROVENANCE),
        "method-3": AverageRule("method-3", "Method 3 (single load point, FL)", {"FL": 1}, _PROVENANCE),
        "nc-method-4": AverageRule(
            "nc-method-4",
            "North Carolina method 4 (polyphase)",
            {"FL": 4, "LL": 2, "PF": 1},
            _PROVENANCE + " The two seven-divisor rules disagree between sources.",
        ),
        "nd-polyphase": AverageRule(
            "nd-polyphase",
            "North Dakota polyphase",
            {"FL": 4, "LL": 1, "PF": 2},
            _PROVENANCE + " The two seven-divisor rules disagree between sources.",
        ),
    }
)


def single_point_rule(point: str = "FL") -> AverageRule:
    """Method 3: the 'average' is one named load point."""
    if not isinstance(point, str) or not point.strip():
        raise InputError("point", "is blank", allowed="a test-point label such as FL, LL, PF", found=point)
    return AverageRule("method-3", f"Method 3 (single load point, {point})", {point: 1}, _PROVENANCE)


def custom_rule(weights: Mapping[str, float], name: str = "custom", title: str | None = None) -> AverageRule:
    """A shop's own rule, e.g. ``custom_rule({"FL": 3, "LL": 1})``; provenance says it is the shop's."""
    rule = AverageRule(name, title or "Custom weighted average", weights, "shop-defined weights")
    if title is None:
        rule = AverageRule(name, f"Custom weighted average {rule.formula}", rule.weights, rule.provenance)
    return rule


def get_rule(name: str, *, point: str | None = None) -> AverageRule:
    """A registered rule by name; ``point`` picks the load point of ``method-3`` only."""
    if name not in AVERAGE_RULES:
        raise InputError(
            "average_rule", "is not a known averaging rule", allowed=sorted(AVERAGE_RULES), found=name
        )
    if point is not None:
        if name != "method-3":
            raise InputError(
                "point", f"only applies to method-3, not {name}", allowed="method-3", found=point
            )
        return single_point_rule(point)
    return AVERAGE_RULES[name]


def weighted_average(rule: AverageRule, values: Mapping[str, float]) -> float:
    """``Σ w·values[label] / Σ w`` over the rule's labels; labels the rule does not use are ignored."""
    if not isinstance(rule, AverageRule):
        raise InputError(
            "rule", "is not an averaging rule", allowed="an AverageRule (see get_rule)", found=rule
        )
    missing = [label for label in rule.weights if label not in values]
    if missing:
        raise InputError(
            "values",
            f"lack test point(s) {', '.join(missing)} needed by {rule.name} {rule.formula}",
            allowed=f"values for {', '.join(rule.weights)}",
            found=sorted(values),
        )
    total = math.fsum(rule.weights.values())
    acc = math.fsum(w * real(f"values[{label}]", values[label]) for label, w in rule.weights.items())
    return acc / total


@dataclass(frozen=True)
class InServiceVerdict:
    """The in-service verdict: is the meter acceptable as found, and must it be adjusted?"""

    average: float
    acceptable: bool
    adjust: bool
    reasons: tuple[str, ...]
    rule: AverageRule
    thresholds: Mapping[str, float] = field(default_factory=dict)


def in_service_verdict(
    values_by_label: Mapping[str, float],
    rule: AverageRule | str,
    average_limit_percent: float = 2.0,
    adjust_pf1: float = 1.0,
    adjust_pf05: float = 2.0,
    creep_ok: bool = True,
) -> InServiceVerdict:
    """Judge an in-service meter from its percent registrations (standards.md §2.3).

    Acceptable when it does not creep and its weighted average registration is within
    ``100 ± average_limit_percent`` (98–102 % by default, boundaries included). Adjust when the error
    exceeds ``adjust_pf1`` at FL or LL, or ``adjust_pf05`` at PF (strictly greater). The thresholds come
    from the plan as data; points not present are simply not judged for adjustment.
    """
    if isinstance(rule, str):
        rule = get_rule(rule)
    limit = non_negative("average_limit_percent", average_limit_percent)
    a1 = non_negative("adjust_pf1", adjust_pf1)
    a05 = non_negative("adjust_pf05", adjust_pf05)
    if not isinstance(creep_ok, bool):
        raise InputError("creep_ok", "is not true/false", allowed="True or False", found=creep_ok)
    for label, v in values_by_label.items():
        real(f"values_by_label[{label}]", v, allowed="a finite percent registration")

    avg = weighted_average(rule, values_by_label)
    reasons: list[str] = []
    acceptable = True
    if not creep_ok:
        acceptable = False
        reasons.append("meter creeps (registers with no load)")
    if abs(avg - 100.0) > limit + _EPS:
        acceptable = False
        reasons.append(
            f"average registration {avg:.3f} % by {rule.name} {rule.formula} is outside "
            f"{100 - limit:g}–{100 + limit:g} %"
        )
    adjust = False
    for labels, threshold, what in ((PF1_POINTS, a1, "PF 1"), (PF05_POINTS, a05, "PF 0.5")):
        for label in labels:
            if label in values_by_label:
                err = float(values_by_label[label]) - 100.0
                if abs(err) > threshold + _EPS:
                    adjust = True
                    reasons.append(f"{label} error {err:+.3f} % exceeds ±{threshold:g} % ({what}): adjust")
    if acceptable and not adjust:
        reasons.append(
            f"average registration {avg:.3f} % by {rule.name} {rule.formula}; no point needs adjusting"
        )
    return InServiceVerdict(
        average=avg,
        acceptable=acceptable,
        adjust=adjust,
        reasons=tuple(reasons),
        rule=rule,
        thresholds=MappingProxyType({"average_limit_percent": limit, "adjust_pf1": a1, "adjust_pf05": a05}),
    )
