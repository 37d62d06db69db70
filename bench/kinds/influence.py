"""Influence: the VARIATION of a meter's error when the voltage, the frequency or the waveform leaves its
reference value, judged against the point's limit as IEC influence limits are defined.

One influence point is two measurements on every live position, back to back: the error at the reference
condition (nominal voltage, the plan's frequency, no harmonics; its own row, ``<id>-ref``, recorded with
no verdict) and the error under the influence (the point's row). The point's result is their difference
with both uncertainties combined (procedures.metrology.influence.variation), against its limit.
"""

from __future__ import annotations

from dataclasses import replace

from bench.kernel import records as r
from bench.kernel.registry import frequency_needs
from bench.kinds import TestKind, capability, register_kind
from bench.kinds.accuracy import _needs as accuracy_needs
from bench.kinds.accuracy import judge, measure, results  # one reader of error rows (run JSON)
from procedures.metrology.influence import variation


def reference_condition(point):
    """The same load at the reference condition: nominal voltage, the plan's frequency, no harmonics."""
    return replace(
        point,
        id=f"{point.id}-ref",
        label=f"{point.label} ref",
        kind="influence",
        voltage_v=point.nominal_voltage_v or point.voltage_v,
        frequency_hz=point.reference_frequency_hz,
        harmonics=(),
        limit=None,
        limit_percent=None,
        limit_provenance=None,
    )


def _needs(bench, point) -> list[str]:
    ref = reference_condition(point)
    missing = accuracy_needs(bench, point) + accuracy_needs(bench, ref) + frequency_needs(bench, ref)
    if point.harmonics:
        caps = capability(bench, "source")
        if caps is None or not caps.harmonics:  # a source that declares nothing is not assumed to
            missing.append("harmonics: the source cannot add harmonics")
    return list(dict.fromkeys(missing))


def run(ctx, point, test_pass: str, todo: list[int]) -> None:
    ref_point = reference_condition(point)
    ctx.publish(r.PointStarted.of(ref_point, "influence", test_pass, todo))
    at_ref, failed = measure(ctx, ref_point, test_pass, todo)
    judge(ctx, ref_point, test_pass, todo, at_ref, failed)  # no limit: recorded as information
    todo = [p for p in todo if p in at_ref and p in ctx.live()]
    if not todo:
        return
    ctx.publish(r.PointStarted.of(point, "influence", test_pass, todo))
    influenced, failed = measure(ctx, point, test_pass, todo)
    varied = {p: variation(at_ref[p], influenced[p]) for p in influenced}

    def says(pos, res) -> str:
        return (
            f"variation from the reference condition {res.error_percent:+.4f} % (error "
            f"{influenced[pos].error_percent:+.4f} % under the influence, {at_ref[pos].error_percent:+.4f} % at "
            "the reference condition)"
        )

    judge(ctx, point, test_pass, todo, varied, failed, message=says)


KIND = register_kind(
    TestKind(
        name="influence",
        title="Influence (variation of error from the reference condition)",
        run=run,
        needs=_needs,
        retestable=True,
        plan_fields=(
            "element",
            "current",
            "lag_deg",
            "voltage",
            "frequency_hz",
            "harmonics",
            "quantity",
            "direction",
            "readings",
            "settle_s",
            "limit",
        ),
        results=results,
    )
)
