"""A run resumes only on the bench it started on (its source and reference as they identify themselves, and
the reference standard's calibration), or with the technician's reason, which is recorded on the run and
stated on every certificate of the run (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.kernel import records as r
from bench.records import RecordStore
from bench.service import RunService
from bench.session import RunRequest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "examples" / "2s-board.toml"


def _interrupted_run(db: str) -> None:
    """A 2S run stopped (as by Ctrl-C) once its creep test is recorded."""

    def ctrl_c(rec):
        if type(rec) is r.CountResult:
            raise KeyboardInterrupt

    service = RunService(db_url=db)
    with pytest.raises(KeyboardInterrupt):
        service.run(RunRequest(bench_file=str(BENCH), plan="ansi-c12.20-2s", db_url=db), [ctrl_c])
    service.store.close()


def _other_bench(tmp_path: Path) -> Path:
    """The same board with its reference standard recalibrated (a new certificate, a new due date)."""
    text = BENCH.read_text().replace("SIM-6105A-2026-0412", "SIM-6105A-2026-0901")
    text = text.replace("due = 2027-04-12", "due = 2027-09-01")
    path = tmp_path / "bench-2.toml"
    path.write_text(text)
    return path


def test_resume_on_other_instruments_is_refused_in_one_line(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    _interrupted_run(db)
    other = _other_bench(tmp_path)
    capsys.readouterr()
    code = main(["resume", "1", "--db", db, "--bench", str(other), "--no-certificates", "--speed", "0"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "SIM-6105A-2026-0412" in err and "SIM-6105A-2026-0901" in err and "--other-bench" in err
    with RecordStore.open(db) as store:
        run = store.run_record(1)["run"]
        assert run["status"] == "interrupted" and run["resumes"] == 0  # nothing was resumed
        assert store.verify_audit() == []


def test_resume_on_the_same_bench_needs_no_reason(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    _interrupted_run(db)
    code = main(["resume", "1", "--db", db, "--no-certificates", "--speed", "0"])
    assert code == 1  # position 3 fails its starting test, as the uninterrupted run
    with RecordStore.open(db) as store:
        run = store.run_record(1)["run"]
        assert run["status"] == "finished" and "resumed_elsewhere" not in (run["settings"] or {})


def test_resume_on_another_bench_with_a_reason_is_recorded_and_certified(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'records.sqlite'}"
    _interrupted_run(db)
    other = _other_bench(tmp_path)
    reason = "bench 1 reference sent for calibration; same laboratory, recalibrated standard"
    out = tmp_path / "certs"
    code = main(
        ["resume", "1", "--db", db, "--bench", str(other), "--other-bench", reason, "--speed", "0",
         "--certificates", str(out)]
    )  # fmt: skip
    assert code == 1
    with RecordStore.open(db) as store:
        record = store.run_record(1)
        moved = record["run"]["settings"]["resumed_elsewhere"]
        assert moved[0]["reason"] == reason
        assert any("SIM-6105A-2026-0901" in c for c in moved[0]["changes"])
        from bench.certify import build_certificate_data

        data = build_certificate_data(record, 1)
        line = next(d for d in data.deviations if "other instruments" in d)
        assert reason in line and "SIM-6105A-2026-0412" in line and "SIM-6105A-2026-0901" in line
        assert store.verify_audit() == []
    assert list(out.glob("*.pdf")), "the resumed run's certificates are issued"
    capsys.readouterr()
    assert main(["resume", "1", "--db", db, "--other-bench", "  "]) == 2  # a blank reason is no reason
    assert "--other-bench: needs a reason" in capsys.readouterr().err
