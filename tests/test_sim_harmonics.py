"""A meter's response to harmonics, measured through the drivers: the Fluke 6105A adds a 5th harmonic
(10 % on the voltage, 40 % on the current, in phase with their fundamentals: 4 % more active power), the
reference counts the whole waveform's energy, and a simulated meter registers the harmonic power with its
own ``harmonic_error_percent``. One that measures the whole waveform shows no variation; one that
registers the fundamental only (-100 %) reads 4/104 = 3.85 % low and fails a 1 % shop limit."""

from __future__ import annotations

import pytest
from test_quantity_runs import run_plan, sim_bench
from test_sim_accuracy import meter

from procedures.plans import load_plan_file

LIMITS = """
id = "shop-harmonics"
title = "shop harmonic influence limit (test)"
version = "1"
family = "iec"

[limits.influence-harmonics]
description = "variation of the active error from the reference condition with a 5th harmonic added"
unit = "percent"
standard = "shop practice"
edition = ""
clause = ""
status = "unconfirmed"
note = "a test's shop setting"
values = [{ class = "1", value = 1.0 }]
"""

PLAN = """
id = "test-harmonics"
title = "active harmonic influence at Ib"
standard = "IEC 62053-21"
version = "1"
forms = ["2S"]
class_family = "iec"
classes = ["1"]
decision_rule = "simple"
target_share = 0.25
limits = "iec-62053-21-22"
limit_files = ["shop-harmonics.toml"]
current_of = "Ib"
frequency_hz = 50

[[points]]
id = "h5"
label = "H5 Ib"
kind = "influence"
element = "series"
current = 1.0
lag_deg = 0.0
harmonics = [[5, 10.0, 40.0]]
readings = 3
settle_s = 5
limit = "shop-harmonics:influence-harmonics"
"""


def harmonic_run(tmp_path, harmonic_error: float) -> dict:
    (tmp_path / "shop-harmonics.toml").write_text(LIMITS, encoding="utf-8")
    (tmp_path / "h.toml").write_text(PLAN, encoding="utf-8")
    m = meter(1, serial="HARM-0001", accuracy_class="iec:1", ib=10.0, imax=60.0, frequency=50.0,
              error_curve=[[1.0, 0.0, 0.20]], noise_percent=0.005, harmonic_error_percent=harmonic_error)  # fmt: skip
    out, doc = run_plan(tmp_path, sim_bench([m], three_phase=False), load_plan_file(tmp_path / "h.toml"))
    return {p["point_id"]: p for p in doc["points"]}


@pytest.mark.parametrize("harmonic_error, variation, verdict", [(0.0, 0.0, "pass"), (-100.0, -3.85, "fail")])
def test_a_meter_that_misses_harmonic_power_reads_low_with_harmonics_and_fails(
    tmp_path, harmonic_error, variation, verdict
):
    points = harmonic_run(tmp_path, harmonic_error)
    ref, h5 = points["h5-ref"], points["h5"]
    assert abs(ref["error_percent"] - 0.20) <= ref["expanded_uncertainty_percent"]  # no harmonics: its curve
    assert h5["verdict"] == verdict
    assert h5["error_percent"] == pytest.approx(
        variation, abs=0.05
    )  # an influence point's error is its variation
    assert abs(h5["error_percent"] - variation) <= h5["expanded_uncertainty_percent"]
