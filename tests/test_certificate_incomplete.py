"""A meter whose test stopped early (no pulses on a received point) is never certified as conforming on
the strength of the points measured before the stop: its certificate says the test was not completed,
why, and which points were not measured (found by the new-user review on the net-metering example)."""

from __future__ import annotations

from pathlib import Path

from bench.certify import build_certificate_data
from bench.records import RecordStore
from bench.service import RunService
from bench.session import RunRequest
from reports.certificate import result_reasons

ROOT = Path(__file__).resolve().parents[1]


def test_a_position_stopped_for_no_pulses_is_not_certified_as_conforming(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    service = RunService(db_url=db)
    out = service.run(RunRequest(bench_file=str(ROOT / "examples" / "2s-net-metering.toml"),
                                 plan="ansi-c12.20-2s-net", operator="Test Technician", db_url=db))  # fmt: skip
    service.store.close()
    assert out.positions[2] == "no pulses"
    store = RecordStore.open(db)
    record = store.run_record(out.run_id)
    store.close()
    data = build_certificate_data(record, 2)
    assert data.overall_verdict == "indeterminate"
    assert "the test was not completed (stopped: no pulses" in data.conformity_statement
    assert "CONFORMS" not in data.conformity_statement
    box = result_reasons(data)
    assert box[0].startswith("NOT COMPLETED — stopped: no pulses") and "not measured: " in box[0]
    assert "FL rcv" in box[0] and "PF" in box[0]
    # a meter tested to the end keeps its verdict and says nothing about completion
    assert build_certificate_data(record, 1).incomplete == ""
