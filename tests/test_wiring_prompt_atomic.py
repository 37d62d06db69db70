"""A wiring check that asks the technician about a finding (the GUI's prompt) is still one moment of the
record: while a question is open nothing of the check has been written, so a process killed then leaves
no board check without its positions'."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from bench.kernel import KernelSettings, RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.plans import load_plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "9s-reversed-ct.toml"


def two_miswired(tmp_path: Path) -> Path:
    """The 9S example with positions 2 and 3 both miswired (and no dead meter)."""
    text = re.sub(r"(?m)^dead = true.*$", 'wiring = ["vt_reversed:C"]', EXAMPLE.read_text())
    path = tmp_path / "9s-two-miswired.toml"
    path.write_text(text, encoding="utf-8")
    return path


def recorded(db: Path) -> tuple[int, int]:
    """(points, results) written so far, read on a connection of its own as another process would."""
    with sqlite3.connect(db) as con:
        return (con.execute("select count(*) from points").fetchone()[0],
                con.execute("select count(*) from results").fetchone()[0])  # fmt: skip


def test_while_the_technician_is_asked_nothing_of_the_check_is_written(tmp_path):
    db = tmp_path / "r.sqlite"
    store = RecordStore.open(f"sqlite:///{db}")
    asked: list[tuple[int | None, tuple[int, int]]] = []

    def decide(pos, findings):
        asked.append((pos, recorded(db)))
        return "CT marked wrongly on the socket, checked with a clamp meter" if pos == 2 else None

    try:
        with open_bench(two_miswired(tmp_path), speed=0) as bench:
            kernel = RunKernel(bench, store, load_plan("ansi-c12.20-9s"), meters_from_bench(bench.config),
                               settings=KernelSettings(wiring_decision=decide))  # fmt: skip
            out = kernel.run()
        doc = store.run_record(out.run_id)
    finally:
        store.close()
    assert [pos for pos, _ in asked] == [2, 3]
    assert asked[0][1] == asked[1][1] == (0, 0)  # the second question still finds the check unwritten
    wiring = {q["position"]: q for q in doc["points"] if q["point_id"] == "wiring"}
    assert wiring[2]["result"]["verdict"] == "pass" and "overridden by the operator" in wiring[2]["message"]
    assert wiring[3]["result"]["verdict"] == "fail" and wiring[1]["result"]["verdict"] == "pass"
