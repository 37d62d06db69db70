"""A run whose process died shows as interrupted, with its resume command, as soon as anyone looks; a
technician may give --db as a plain path."""

from __future__ import annotations

import socket

import sqlalchemy as sa

from bench.cli import main
from bench.records import RecordStore
from bench.records import models as m


def test_a_dead_run_shows_as_interrupted_with_its_resume_command(tmp_path, capsys):
    db = tmp_path / "records.sqlite"
    url = f"sqlite:///{db}"
    store = RecordStore.open(url)
    store.close()
    main(
        [
            "run",
            "--bench",
            "examples/2s-board.toml",
            "--plan",
            "ansi-c12.20-2s",
            "--db",
            url,
            "--no-certificates",
        ]
    )
    eng = sa.create_engine(url)  # as a killed process leaves it: still "running", its pid long gone
    with eng.begin() as conn:
        conn.execute(sa.update(m.runs).values(status="running", outcome=None, pid=2**22 + 7,
                                              hostname=socket.gethostname()))  # fmt: skip
    eng.dispose()
    capsys.readouterr()
    assert main(["runs", "--db", str(db)]) == 0  # a plain path is the SQLite file
    out = capsys.readouterr().out
    assert "interrupted" in out and "meterbench resume 1" in out
