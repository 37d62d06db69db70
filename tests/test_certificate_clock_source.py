"""Where a meter-port clock test's limit comes from, as the certificate says it: an ANSI meter's clock limit is
the shop's setting (no ANSI clock figure is confirmed), never an IEC time-switch standard's clause."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
ANSI = ROOT / "examples" / "2s-meterport-c1218.toml"


def test_the_ansi_clock_row_cites_the_shop_setting_not_an_iec_standard(tmp_path):
    certs = tmp_path / "certs"
    main(["run", "--bench", str(ANSI), "--plan", "ansi-meterport-2s", "--db", f"sqlite:///{tmp_path / 'r.sqlite'}",
          "--json", str(tmp_path / "run.json"), "--operator", "Test Person", "--certificates", str(certs)])  # fmt: skip
    doc = json.loads((tmp_path / "run.json").read_text())
    clock = [r for r in doc["meter_port"] if r["kind"] == "clock"]
    assert clock and all(r["limit_provenance"]["standard"] == "shop setting" for r in clock)
    assert all(r["limit_provenance"]["status"] == "unconfirmed" for r in clock)
    pdf = next(certs.glob("*P02.pdf"))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "62054" not in text  # nowhere on the certificate: not in the table, not among the provenances
    flat = " ".join(text.split())
    assert "shop setting [U]" in flat
    # the limits' provenance says, in words, that the clock limit is the shop's and which figure it borrows
    assert "no ANSI standard's clock accuracy figure is confirmed here" in flat
    xml = pdf.with_suffix(".xml").read_text()
    clock_results = [part for part in xml.split("<dcc:result ")[1:] if "meterbench_clockTest" in part]
    assert clock_results and all("(shop setting [U])" in r and "62054" not in r for r in clock_results)
