"""A reference used past its calibration due date (only with --allow-overdue) is recorded on the run and
stated on each certificate, so the reader knows; without the flag the run is refused before energising."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bench.certify import build_certificate_data
from bench.records import RecordStore
from bench.service import RunService
from bench.session import RunRequest

ROOT = Path(__file__).resolve().parents[1]


def _overdue_bench(tmp_path: Path) -> Path:
    text = (ROOT / "examples" / "2s-board.toml").read_text(encoding="utf-8")
    assert "due = 2027-04-12" in text
    bench = tmp_path / "overdue.toml"
    bench.write_text(text.replace("due = 2027-04-12", "due = 2026-11-05"), encoding="utf-8")
    return bench


def _request(tmp_path, bench, db, allow):
    from bench.kernel import KernelSettings

    settings = dataclasses.replace(KernelSettings(), allow_overdue=allow)
    return RunRequest(bench_file=str(bench), plan="ansi-c12.20-2s", operator="Test Technician",
                      db_url=db, settings=settings, positions=[1])  # fmt: skip


def test_overdue_reference_is_refused_without_the_flag(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    service = RunService(db_url=db)
    out = service.run(_request(tmp_path, _overdue_bench(tmp_path), db, allow=False))
    service.store.close()
    assert out.outcome == "error" and out.bench_seconds == 0.0  # nothing was energised
    assert "reference calibration: is overdue since 2026-11-05" in out.message


def test_allowed_overdue_reference_is_recorded_and_stated_on_the_certificate(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    service = RunService(db_url=db)
    out = service.run(_request(tmp_path, _overdue_bench(tmp_path), db, allow=True))
    service.store.close()
    assert out.outcome == "passed"
    store = RecordStore.open(db)
    record = store.run_record(out.run_id)
    store.close()
    assert record["run"]["settings"]["allow_overdue"] is True
    data = build_certificate_data(record, 1)
    stated = [d for d in data.deviations if "past its calibration due date 2026-11-05" in d]
    assert stated and "--allow-overdue" in stated[0]
