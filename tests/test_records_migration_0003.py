"""Migration 0003 (a point's quantity and direction) on a database written before it: the old rows keep
NULL there, read as active energy delivered (all they measured), and the sealed audit log still verifies
them — a column a later migration adds is absent from their audited JSON and compares as NULL.

The old database is written by the code of the commit before 0003 (6871f33, taken from this repository's
history with ``git archive``), in a subprocess; skipped where the history is not available."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bench.records import RecordStore
from bench.runjson import build_run_json

ROOT = Path(__file__).resolve().parents[1]
BEFORE_0003 = "6871f33"
WRITE = """
import sys
sys.path.insert(0, sys.argv[1])
from bench.kernel import RunKernel
from bench.records import RecordStore
from bench.session import meters_from_bench
from instruments.bench import open_bench
from procedures.plans import load_plan
store = RecordStore.open(sys.argv[2])
with open_bench(sys.argv[1] + "/examples/2s-board.toml", speed=0) as bench:
    RunKernel(bench, store, load_plan("ansi-c12.20-2s"), meters_from_bench(bench.config)).run()
store.close()
"""


def old_tree(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    got = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_0003], capture_output=True, check=False)
    if got.returncode != 0:
        pytest.skip(f"commit {BEFORE_0003} is not in this checkout's history")
    tree = tmp_path / "old"
    with tarfile.open(fileobj=io.BytesIO(got.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def test_rows_written_before_0003_read_as_active_delivered_and_still_verify(tmp_path, monkeypatch):
    tree = old_tree(tmp_path)
    # one audit key and anchor folder for the old writer and this reader
    monkeypatch.setenv("MB_AUDIT_DIR", str(tmp_path / "audit"))
    monkeypatch.setenv("MB_AUDIT_KEY_FILE", str(tmp_path / "key"))
    env = dict(os.environ)
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    script = tmp_path / "write.py"
    script.write_text(WRITE, encoding="utf-8")
    subprocess.run([sys.executable, str(script), str(tree), url], check=True, env=env, cwd=tmp_path,
                   capture_output=True, timeout=300)  # fmt: skip
    store = RecordStore.open(url)  # migrates to 0003
    try:
        with store._engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "0003"
            assert conn.exec_driver_sql("SELECT DISTINCT quantity, direction FROM points").fetchall() == [
                (None, None)
            ]
        assert store.verify_audit() == []
        doc = build_run_json(store.run_record(1))
        assert doc["points"] and {(p["quantity"], p["direction"]) for p in doc["points"]} == {
            ("active", "delivered")
        }
        # an old row changed afterwards is still caught
        with store._engine.begin() as conn:
            conn.exec_driver_sql("UPDATE points SET quantity = 'reactive' WHERE id = 1")
        assert any("points row 1: edited" in p and "quantity" in p for p in store.verify_audit())
    finally:
        store.close()
