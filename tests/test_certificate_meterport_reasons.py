"""Page 1's result box names a failing meter-port test by what disagreed: the clock's drift against its
limit, the identity field or status flag, the tier whose register did not match its window."""

from __future__ import annotations

import dataclasses

from reports.certificate import result_reasons
from reports.model import MeterPortTest
from reports.samples import sample_certificate_data


def _port(kind, observed, verdict, value=None, limit=None, unit="%", stage="as-left"):
    return MeterPortTest(point_id=kind.upper(), label=kind.upper(), kind=kind, quantity=f"{kind} check",
                         observed=observed, unit=unit, value=value, expanded_u=None if value is None else 0.2,
                         k=None if value is None else 2.0, limit=limit, limit_source="shop setting [U]",
                         verdict=verdict, stage=stage)  # fmt: skip


def test_the_box_names_what_a_failing_meter_port_test_found():
    base = sample_certificate_data()
    tests = (
        _port("clock", "meter 00:00:00 to 01:00:02 over 3600 s", "fail", 1.918, 0.5, "s/day"),
        _port("identity", "serial S1 (expected S1); manufacturer Mete; model SIM (expected SIM); firmware 1.0 "
              "(expected 2.0); status flags: low battery; events: 2026-01-01 00:00:00 primary power down; "
              "2026-01-01 00:00:00 tamper attempt detected; program identity: not read", "fail"),
        _port("tou", "tier 1: advanced 0.1200 kWh, its window 0.1200 kWh; tier 2: advanced 0.0000 kWh, its "
              "window 0.1200 kWh", "fail"),
    )  # fmt: skip
    assert base.stages[-1] == "as-left"
    passed = tuple(dataclasses.replace(p, verdict="pass") for p in base.points)
    data = dataclasses.replace(base, meterport_tests=tests, overall_verdict="fail", points=passed,
                               functional_tests=(), register_tests=(), weighted_averages=(),
                               wiring=None)  # fmt: skip
    assert result_reasons(data) == [
        "FAIL — clock test CLOCK: +1.918 s/day against ±0.5 s/day",
        "FAIL — identity test IDENTITY: firmware 1.0 (expected 2.0); status flags: low battery",
        "FAIL — tou test TOU: tier 2: advanced 0.0000 kWh, its window 0.1200 kWh",
    ]
