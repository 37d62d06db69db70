"""What a technician reads at the end of a run at 80 columns: every row's error, U and limit in its own
unit (a clock test's s/day is never printed under a "%" header), nothing split mid-value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
ANSI = ROOT / "examples" / "2s-meterport-c1218.toml"


@pytest.fixture(scope="module")
def meterport_run(tmp_path_factory):
    """One ANSI meter-port run (accuracy, demand, TOU, clock), its certificates in a folder whose path is
    longer than a line, and its recorded database."""
    tmp = tmp_path_factory.mktemp("summary")
    certs = tmp / "shop-certificates-for-the-meter-port-acceptance-run" / "2026" / "batch-0001"
    db = f"sqlite:///{tmp / 'r.sqlite'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("COLUMNS", "80")
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    try:
        with redirect_stdout(out):
            code = main(["run", "--bench", str(ANSI), "--plan", "ansi-meterport-2s", "--db", db,
                         "--certificates", str(certs), "--operator", "Test Person"])  # fmt: skip
    finally:
        mp.undo()
    return code, out.getvalue(), db, certs


def _summary(text: str) -> str:
    return text[text.index("Run 1 - plan") :]


def test_summary_headers_carry_no_unit_and_each_row_carries_its_own(meterport_run):
    code, out, _db, certs = meterport_run
    assert code == 1  # socket 1's clock gains 2 s/day and fails
    text = _summary(out)
    header = next(line for line in text.splitlines() if line.startswith("Pos "))
    assert "%" not in header and "Error ± U (k)" in header and "Limit" in header
    rows = [line for line in text.splitlines() if re.match(r"\s+\d\s+SIM2S-", line)]
    clock = [r for r in rows if " CLOCK " in r]
    energy = [r for r in rows if " FL " in r]
    assert len(clock) == 3 and len(energy) == 6  # FL and DEMAND FL
    for row in clock:
        assert re.search(r"[+-]\d\.\d{4} ± \d\.\d{4} s/day \(\d\.\d\d\)", row), row
        assert "±0.5 s/day" in row and "%" not in row
    for row in energy:
        assert re.search(r"[+-]\d\.\d{4} ± \d\.\d{4} % \(\d\.\d\d\)", row), row
        assert row.split()[-2:-1] == ["%"] and "±0.5 %" in row and "s/day" not in row
    # the live lines give a TOU or identity check its verdict and findings, not a meaningless "+0.0000 kWh"
    assert " TOU reading" not in out and " IDENTITY reading" not in out and " DEMAND FL reading 1: " in out
    assert "pos  3 TOU FAIL: tier 1 advanced" in out
    # a clock that keeps time (sockets 2 and 3) is +0.0000 s/day, never "-0.0000", live or in the summary
    assert "-0.0000" not in out and "-0.000 " not in out
    # the failed meter's line names the test with its value and limit in s/day
    flat = " ".join(text.split())
    assert re.search(r"Position 1: FAILED clock test CLOCK \(as-found, 240 V 0 A\): "
                     r"\+\d\.\d{3} ± \d\.\d{3} s/day against ±0.5 s/day - FAIL", flat)  # fmt: skip
    # every line fits 80 columns but the certificates' paths, which are never split
    paths = [str(p) for p in sorted(certs.iterdir())]
    assert len(paths) == 6 and all(len(p) > 80 for p in paths)  # a PDF and a DCC per meter
    for line in text.splitlines():
        assert len(line) <= 80 or line.split()[-1] in paths, line


def test_certificate_paths_print_whole_on_their_own_lines(meterport_run):
    _code, out, _db, certs = meterport_run
    lines = _summary(out).splitlines()
    for pdf in sorted(certs.glob("*.pdf")):
        number = pdf.stem
        at = lines.index(f"Certificate {number}:")
        assert lines[at + 1] == f"  PDF {pdf}" and lines[at + 2] == f"  DCC {pdf.with_suffix('.xml')}"


def test_a_value_and_its_uncertainty_stay_on_one_line():
    """Lines under the table wrap at 80 columns between words, never inside "value ± U unit"."""
    from bench.textfit import wrap

    text = ("Position 1: FAILED clock test CLOCK (as-found, 240 V 0 A): +1.918 ± 0.215 s/day against "
            "±0.5 s/day - FAIL; accuracy point Power factor (PF) (as-found, 240 V 30 A): +0.350 ± 0.021 % "
            "against ±0.2 % - FAIL")  # fmt: skip
    for width in (80, 60, 44, 30):
        lines = wrap(text, width, 0, 2)
        assert " ".join(" ".join(lines).split()) == text
        joined = "\n".join(lines)
        for whole in ("+1.918 ± 0.215 s/day", "±0.5 s/day", "+0.350 ± 0.021 %", "±0.2 %", "240 V"):
            assert whole in joined, (width, joined)
        assert all(len(line) <= width for line in lines)
        assert all(line.startswith("  ") for line in lines[1:])


def test_runs_show_prints_each_point_in_its_unit(meterport_run, capsys, monkeypatch):
    _code, _out, db, certs = meterport_run
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["runs", "show", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "error ± U %" not in out and "limit %" not in out
    pos1 = out[out.index("Position 1") : out.index("Position 2")]
    flat = " ".join(pos1.split())
    assert re.search(r"CLOCK 240 V 0 A [+-]\d\.\d{3} ± \d\.\d{3} s/day ±0.5 s/day FAIL", flat) or re.search(
        r"point: CLOCK .* error ± U: [+-]\d\.\d{3} ± \d\.\d{3} s/day limit: ±0.5 s/day verdict: FAIL", flat
    ), pos1
    assert re.search(r"[+-]\d\.\d{3} ± \d\.\d{3} % .*±0.5 %", flat)
    pdf = next(certs.glob("*P01.pdf"))
    assert f"    PDF {pdf}" in pos1.splitlines()


def test_the_technician_is_told_when_commands_found_in_no_public_source_were_sent(
    tmp_path, capsys, monkeypatch
):
    """The 16S Fluke bench opts in to the 6105A's [U] energy-test commands: the run's last lines say so,
    as the certificate's deviations do (before, only the JSON and the certificate did)."""
    monkeypatch.setenv("COLUMNS", "80")
    code = main(["run", "--bench", str(ROOT / "examples" / "16s-fluke6105a.toml"), "--plan", "ansi-c12.20-16s",
                 "--db", f"sqlite:///{tmp_path / 'r.sqlite'}", "--no-certificates", "--operator", "Dana W"])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert code == 0
    assert "Note: Instrument commands not confirmed by any public documentation" in out
    assert "ENER:TEST:STAR" in out
