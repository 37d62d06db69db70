"""What a regulator reads for an IEC var meter: its class as the standard names it ("2", not the
catalogue's "iec23:2") and, for each var point, the sine of its angle in the PF column (a var point's
power factor is 0.00 at sin phi 1, which says nothing of the point)."""

from __future__ import annotations

from test_quantity_runs import REACTIVE_PLAN, SPEC, sim_bench, var_meter

from bench.certify import build_certificate_data
from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.plans import load_plan_file
from reports.certificate import point_row


def test_a_var_meter_certificate_names_its_class_and_each_points_sin_phi(tmp_path):
    path = tmp_path / "reactive.toml"
    path.write_text(REACTIVE_PLAN, encoding="utf-8")
    store = RecordStore.open(f"sqlite:///{tmp_path / 'r.sqlite'}")
    try:
        with open_bench(sim_bench([var_meter(1, "VAR-0030")], three_phase=False)) as bench:
            out = RunKernel(bench, store, load_plan_file(path), meters_from_bench(bench.config),
                            settings=KernelSettings(**SPEC)).run()  # fmt: skip
        data = build_certificate_data(store.run_record(out.run_id), 1)
    finally:
        store.close()
    assert data.meter.accuracy_class == "2"
    pf = {p.point_id: point_row(p)[4] for p in data.points}
    assert pf["sin1-Ib"] == "sin 1.00 (90.0\u00b0 lag)"
    assert pf["sin05i-Ib"] == "sin 0.50 (30.0\u00b0 lag)"
    assert pf["sin05c-Ib"] == "sin -0.50 (-30.0\u00b0 lag)"
