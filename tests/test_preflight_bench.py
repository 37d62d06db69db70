"""What the technician is told before a run energises anything, and why a position got no certificate:
conditions not entered on a real bench are announced once (the certificates say "not measured"), and a
position without a certificate is given the certificate layer's own reason, not a guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.commands.run import why_no_certificate
from bench.records import RecordStore

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = str(ROOT / "examples" / "manifest-2s.csv")


def _real_bench(tmp_path: Path) -> Path:
    """The 2S Fluke + MAD bench without its [simulation] table: a real bench whose instruments are absent."""
    text = (ROOT / "examples" / "2s-fluke-mad.toml").read_text(encoding="utf-8")
    text = text[: text.index("[simulation]")]
    for n in ("101", "102", "103"):  # closed local ports: the run fails at once when it opens them
        text = text.replace(f"192.168.10.{n}::14207", f"127.0.0.1::1{n}")
    bench = tmp_path / "real.toml"
    bench.write_text(text, encoding="utf-8")
    return bench


def _run_real(tmp_path, *extra) -> tuple[int, str]:
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    args = ["run", "--bench", str(_real_bench(tmp_path)), "--meters", MANIFEST, "--plan", "ansi-c12.20-2s",
            "--db", db, "--certificates", str(tmp_path / "certs"), "--operator", "Test Person", *extra]  # fmt: skip
    return main(args), db


def test_a_real_bench_without_conditions_is_told_before_energising(tmp_path, capsys):
    code, _db = _run_real(tmp_path)
    out, err = capsys.readouterr()
    assert code == 3 and "instrument error" in err  # the absent instruments: nothing was energised
    warning = [line for line in out.splitlines() if "not entered" in line]
    assert warning == [
        "Warning: bench temperature and humidity not entered (--temperature, --humidity): the certificates "
        "will say they were not measured."
    ]


def test_entered_conditions_and_a_simulated_bench_give_no_warning(tmp_path, capsys):
    _run_real(tmp_path, "--temperature", "22.5", "--humidity", "40")
    assert "not entered" not in capsys.readouterr().out
    db = f"sqlite:///{tmp_path / 's.sqlite'}"
    main(["run", "--bench", str(ROOT / "examples" / "2s-board.toml"), "--plan", "ansi-c12.20-2s",
          "--db", db, "--no-certificates", "--operator", "Test Person"])  # fmt: skip
    assert "not entered" not in capsys.readouterr().out


@pytest.fixture(scope="module")
def board_record(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("board")
    db = f"sqlite:///{tmp / 'r.sqlite'}"
    main(["run", "--bench", str(ROOT / "examples" / "2s-board.toml"), "--plan", "ansi-c12.20-2s",
          "--db", db, "--no-certificates", "--operator", "Test Person"])  # fmt: skip
    store = RecordStore.open(db)
    try:
        return store.run_record(1)
    finally:
        store.close()


def test_no_certificate_names_the_certificate_layers_reason(board_record):
    import copy

    record = copy.deepcopy(board_record)
    env = record["run"].setdefault("environment", {})
    env.update(simulated=False)
    env.pop("temperature_c", None)
    env.pop("humidity_pct", None)
    reason = why_no_certificate(record, 1, None)
    # whatever the certificate layer refuses, its own words are printed; never "no accuracy result"
    assert "no accuracy result" not in reason
    assert "temperature" in reason or reason.startswith("not issued")
    assert reason.endswith("(passed: every result within its limit)")


@pytest.mark.parametrize("item", ["9=CT B reversed on purpose", "0=typo"])
def test_an_override_for_a_position_the_bench_lacks_is_refused_in_one_line(tmp_path, capsys, item):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    code = main(["run", "--bench", str(ROOT / "examples" / "9s-reversed-ct.toml"), "--plan", "ansi-c12.20-9s",
                 "--db", db, "--no-certificates", "--operator", "Test Person", "--override-wiring", item])  # fmt: skip
    err = capsys.readouterr().err.strip()
    pos = item.split("=")[0]
    assert code == 2 and err == (
        f"meterbench run: error: --override-wiring: no position {pos} on this bench; allowed: 1..3, board"
    )
    assert not (tmp_path / "r.sqlite").exists() or not RecordStore.open(db).list_runs()  # nothing recorded


def test_an_overdue_reference_is_refused_before_any_run_is_recorded_naming_allow_overdue(tmp_path, capsys):
    text = (ROOT / "examples" / "2s-board.toml").read_text(encoding="utf-8")
    bench = tmp_path / "overdue.toml"
    bench.write_text(text.replace("due = 2027-04-12", "due = 2026-11-01"), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    code = main(["run", "--bench", str(bench), "--plan", "ansi-c12.20-2s", "--db", db, "--no-certificates",
                 "--operator", "Test Person"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Run 1" not in out
    assert "reference calibration: is overdue since 2026-11-01" in err and "--allow-overdue" in err
    assert not (tmp_path / "r.sqlite").exists() or not RecordStore.open(db).list_runs()
