"""The README's first command: `meterbench demo` runs the simulated board end to end, issues verifiable
signed certificates, and keeps its simulated runs out of the shop's real records."""

from __future__ import annotations

import shlex

from bench.cli import main


def test_demo_certifies_every_meter_and_keeps_to_its_own_database(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    pdfs = sorted((tmp_path / "certificates").glob("MB-*.pdf"))
    assert [p.stem[-3:] for p in pdfs] == ["P01", "P02", "P03"]
    assert all(p.with_suffix(".xml").is_file() for p in pdfs)
    assert "socket 3" in out and "expected result" in out
    data = tmp_path / "data" / "meterbench"
    assert (data / "demo.sqlite").is_file() and not (data / "meterbench.sqlite").exists()
    verify = next(line for line in out.splitlines() if line.startswith("Verify a certificate: "))
    command = shlex.split(verify.split(": ", 1)[1])
    assert command[:2] == ["meterbench", "verify"]
    assert main(command[1:]) == 0
    assert capsys.readouterr().out.rstrip().endswith("VERIFIED")
