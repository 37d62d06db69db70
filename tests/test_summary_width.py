"""The end-of-run summary in an 80-column terminal: nothing cut, the failing test named."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from bench.cli import main
from bench.records import RecordStore
from bench.summary import print_summary

ROOT = Path(__file__).resolve().parents[1]


def test_the_summary_fits_80_columns_with_every_serial_and_error_whole(tmp_path):
    db = f"sqlite:///{tmp_path / 'r.sqlite'}"
    out = tmp_path / "run.json"
    main(["run", "--bench", str(ROOT / "examples" / "2s-board.toml"), "--plan", "ansi-c12.20-2s", "--db", db,
          "--json", str(out), "--no-certificates"])  # fmt: skip
    doc = json.loads(out.read_text())
    store = RecordStore.open(db)
    try:
        console = Console(width=80, file=io.StringIO(), color_system=None)
        print_summary(store.run_record(doc["run"]["id"]), console=console)
    finally:
        store.close()
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    for p in doc["points"]:
        if p["error_percent"] is not None:
            assert f"{p['error_percent']:+.4f} ± {p['expanded_uncertainty_percent']:.4f}" in text
    for m in doc["meters"]:
        assert m["serial"] in text
    assert "Position 3: FAILED starting-load test STARTING" in text
