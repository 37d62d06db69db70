"""Shared fixtures for the records tests: one store per backend, and a realistic run to read back.

Backends: SQLite in tmp_path always; PostgreSQL when ``MB_TEST_POSTGRES_URL`` is set (a
``postgresql+psycopg://`` URL to a server). For PostgreSQL each test gets its own fresh schema in that server's database (via ``search_path``), dropped
when the session ends, so tests and parallel CI jobs never see each other's rows. Other test modules import these fixtures by name.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from bench.records import RecordStore

PG_ENV = "MB_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def pg_schemas():
    """The PostgreSQL server URL and a list collecting this session's schemas (dropped at the end), or skip.

    Schemas rather than databases: DROP DATABASE forces a checkpoint, which costs seconds on a busy disk.
    """
    server = os.environ.get(PG_ENV)
    if not server:
        pytest.skip(f"{PG_ENV} not set: PostgreSQL tests skipped")
    created: list[str] = []
    yield server, created
    admin = sa.create_engine(server)
    with admin.begin() as conn:
        for schema in created:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _new_db(request, kind: str, folder) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'records.sqlite'}"
    base, created = request.getfixturevalue("pg_schemas")
    schema = f"mb_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    created.append(schema)
    eng = sa.create_engine(base)
    with eng.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    eng.dispose()
    sep = "&" if "?" in base else "?"
    # synchronous_commit=off only skips the server's WAL flush wait (a server crash could lose the last
    # commits); what the store does is unchanged, and the tests finish in seconds on a shared disk.
    return f"{base}{sep}options={quote(f'-csearch_path={schema} -csynchronous_commit=off')}"


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """An empty records database URL: a SQLite file, or a fresh schema in the session's PostgreSQL db."""
    return _new_db(request, request.param, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_db(request, tmp_path_factory):
    """One database per test module and backend holding two populated runs, for tests that only read.

    Returns (url, ids of run A: SN-1001/SN-1002 form 2S passed, ids of run B: SN-2001 form 9S failed).
    """
    url = _new_db(request, request.param, tmp_path_factory.mktemp("records"))
    s = RecordStore.open(url)
    try:
        a = populate(s)
        b = populate(s, serials=("SN-2001",), form="9S", outcome="failed", bench="bench-B")
    finally:
        s.close()
    return url, a, b


@pytest.fixture
def store(db_url):
    s = RecordStore.open(db_url)
    yield s
    s.close()


def raw_sql(url: str, *statements: str) -> None:
    """Run SQL behind the store's back (what a tamperer with database access could do)."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(stmt)
    eng.dispose()


def populate(
    store: RecordStore,
    *,
    serials=("SN-1001", "SN-1002"),
    form="2S",
    plan_id="ansi-c12.20-2s",
    finish=True,
    outcome="passed",
    bench="bench-A",
) -> dict:
    """One run like the engine writes it: 2 positions, as-found FL/LL/PF points with readings and results,
    a failed point, a wiring check, averages, creep, starting and a certificate. Returns the ids."""
    bench_id = store.upsert_bench(bench, "Meter shop bay 2", {"positions": len(serials), "supply": "3ph"})
    ref = store.upsert_instrument(
        bench_id,
        "reference",
        "radian.rd33",
        "TCPIP::10.0.0.5::INSTR",
        "RD-33-21 #4411",
        {"certificate": "CAL-2026-117", "due": "2027-03-01", "u_percent": 0.01},
    )
    src = store.upsert_instrument(bench_id, "source", "sim.source", "ASRL1::INSTR", "SIM-SRC #1", None)
    meter_ids = {
        pos: store.upsert_meter(
            serial,
            manufacturer="Itron",
            model="CENTRON",
            form=form,
            accuracy_class="0.2",
            current_class="CL200",
            voltage_v=240,
            ta_a=30,
            kh=7.2,
            kt=7.2,
            firmware="1.4.2",
        )
        for pos, serial in enumerate(serials, start=1)
    }
    run_id = store.start_run(
        plan_id=plan_id,
        plan_version="1.0",
        plan_sha256="ab" * 32,
        bench_id=bench_id,
        operator="J. Rivera",
        environment={"temperature_c": 23.1, "humidity_pct": 41},
        settings={"decision_rule": "simple", "seed": 7},
        positions=meter_ids,
    )
    points = {}
    for pos in meter_ids:
        for n, (pid, label, amps, lag) in enumerate(
            [
                ("FL", "Full load", 30.0, 0.0),
                ("LL", "Light load", 3.0, 0.0),
                ("PF", "Power factor", 30.0, 60.0),
            ]
        ):
            prow = store.add_point(
                run_id,
                position=pos,
                point_id=pid,
                label=label,
                element="ABC",
                test_pass="as-found",
                kind="accuracy",
                voltage_v=240.0,
                current_a=amps,
                lag_deg=lag,
                limit_lo=-0.2,
                limit_hi=0.2,
                limit_provenance={"standard": "ANSI C12.20-2015", "clause": "5.5.4", "status": "C"},
                planned={"meter_pulses": 10, "gate_seconds": 12.5, "readings": 2},
            )
            errors = [0.01 * pos + 0.003 * n, 0.01 * pos + 0.003 * n + 0.002]
            for i, e in enumerate(errors):
                store.add_reading(
                    prow,
                    index=i,
                    meter_pulses=10,
                    ref_pulses=10 * (1 - e / 100),
                    kr_wh=0.0012,
                    kt_wh=7.2,
                    gate_seconds=12.5,
                    error_percent=e,
                    instrument_error_percent=None,
                    reference={"v": [240.0, 240.1, 239.9], "i": [amps] * 3, "lag": lag},
                )
            failed = pos == 2 and pid == "PF"
            store.finish_point(
                prow,
                status="failed" if failed else "done",
                error_percent=0.35 if failed else sum(errors) / 2,
                expanded_percent=0.021,
                coverage_factor=2.0,
                dof=58.0,
                budget=[
                    {"name": "reference", "u": 0.005, "dof": None},
                    {"name": "repeatability", "u": 0.003, "dof": 1},
                ],
                verdict="fail" if failed else "pass",
                decision_rule="simple",
                message="outside limit" if failed else "",
            )
            points[(pos, pid)] = prow
    store.add_wiring_check(
        run_id,
        position=None,
        rotation="ABC",
        findings=[],
        phasors={"Va": [240, 0]},
        registration_percent=None,
    )
    store.add_wiring_check(
        run_id,
        position=1,
        rotation="ABC",
        findings=[{"code": "ok"}],
        phasors={"Ia": [30, 0]},
        registration_percent=100.02,
    )
    store.add_average(
        run_id, position=1, test_pass="as-found", rule="ansi-weighted", value_percent=0.013, verdict="pass"
    )
    store.add_creep(run_id, position=1, pulses=0, seconds=600.0, verdict="pass")
    store.add_starting(run_id, position=1, pulses=1, seconds=300.0, verdict="pass")
    store.set_position_outcome(run_id, 1, "passed")
    if 2 in meter_ids:
        store.set_position_outcome(run_id, 2, "failed", "PF outside limit")
    if finish:
        store.finish_run(run_id, outcome, bench_seconds=1234.5, wall_seconds=1300.25)
    store.record_certificate(
        run_id,
        1,
        number=f"MB-{run_id:05d}-1",
        content_hash="sha256:" + "cd" * 32,
        pdf_path="/certs/a.pdf",
        dcc_path="/certs/a.xml",
    )
    return {
        "bench": bench_id,
        "instruments": (ref, src),
        "meters": meter_ids,
        "run": run_id,
        "points": points,
    }
