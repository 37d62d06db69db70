"""The metrology core: registration, averages, test-time planning, uncertainty, decisions, transformers,
the register test.

Pure functions on numbers, no I/O. Sign convention everywhere: %R = 100 × meter energy / true energy;
error = %R − 100; positive error = meter fast (customer over-billed). Every function validates its inputs
and raises :class:`procedures.errors.InputError` naming the parameter and what is allowed.
"""

from procedures.metrology.averages import (
    AVERAGE_RULES,
    AverageRule,
    InServiceVerdict,
    custom_rule,
    get_rule,
    in_service_verdict,
    single_point_rule,
    weighted_average,
)
from procedures.metrology.decision import (
    DECISION_RULES,
    DecisionRule,
    GuardBandedAcceptance,
    SimpleAcceptance,
    Verdict,
    get_decision_rule,
    test_uncertainty_ratio,
)
from procedures.metrology.planning import GatePlan, element_test_pulses, plan_from_uncertainty, plan_gate
from procedures.metrology.register import RegisterPlan, RegisterResult, plan_register, register_result
from procedures.metrology.registration import (
    error_percent,
    registration_pulse_gating,
    registration_register,
    registration_timed,
)
from procedures.metrology.transformers import parse_ratio, primary_kh, register_multiplier, transformer_factor
from procedures.metrology.uncertainty import Component, ErrorResult, error_budget

__all__ = [
    "AVERAGE_RULES",
    "DECISION_RULES",
    "AverageRule",
    "Component",
    "DecisionRule",
    "ErrorResult",
    "GatePlan",
    "GuardBandedAcceptance",
    "InServiceVerdict",
    "RegisterPlan",
    "RegisterResult",
    "SimpleAcceptance",
    "Verdict",
    "custom_rule",
    "element_test_pulses",
    "error_budget",
    "error_percent",
    "get_decision_rule",
    "get_rule",
    "in_service_verdict",
    "parse_ratio",
    "plan_from_uncertainty",
    "plan_gate",
    "plan_register",
    "primary_kh",
    "register_multiplier",
    "register_result",
    "registration_pulse_gating",
    "registration_register",
    "registration_timed",
    "single_point_rule",
    "test_uncertainty_ratio",
    "transformer_factor",
    "weighted_average",
]
