"""RecordStore: the one way test records are written and read (SQLite per bench, or shared PostgreSQL).

Every write is one short transaction that also appends its audit entries (:mod:`bench.records.audit`)
and commits before the method returns — a reading that :meth:`RecordStore.add_reading` accepted is on
disk even if the process is killed the next instant. Writers are serialised per database (SQLite
``BEGIN IMMEDIATE``; PostgreSQL transaction-scoped advisory lock) so the audit chain never forks when
several benches share one PostgreSQL database.

Runs are never deleted or rewritten; a run whose process died is found by
:meth:`RecordStore.recover_interrupted` and can be continued with :meth:`RecordStore.mark_resumed`,
skipping :meth:`RecordStore.completed_points`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from bench.records import audit
from bench.records import models as m
from procedures.errors import InputError

TEST_PASSES = ("as-found", "as-left")
POINT_STATUSES = ("done", "failed", "skipped")
RUN_OUTCOMES = ("passed", "failed", "aborted", "error")
ROTATIONS = ("ABC", "CBA", "n/a")
_PG_LOCK_KEY = 0x4D42_5245  # "MBRE": one advisory lock serialises all audited writers
_NETWORK_FS = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "sshfs",
    "afs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "davfs",
    "fuse.davfs2",
    "lustre",
    "gpfs",
}
_URL_ALLOWED = "sqlite:///PATH (a local file) or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


def default_url() -> str:
    """The per-user SQLite file: ``platformdirs.user_data_path("meterbench")/meterbench.sqlite``."""
    import platformdirs

    path = platformdirs.user_data_path("meterbench", appauthor=False) / "meterbench.sqlite"
    return f"sqlite:///{path}"


def _filesystem_type(path: Path) -> str | None:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    best, fstype = "", None
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3:
            mnt = parts[1].replace("\\040", " ")
            if (target == mnt or target.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                best, fstype = mnt, parts[2]
    return fstype


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed but un-reaped child still answers kill(0); it is dead for our purpose
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


@dataclass
class _Tx:
    """One audited write transaction: inserts and updates collect their audit entries here."""

    conn: sa.Connection
    at: datetime
    entries: list[tuple[str, int, str, str]] = field(default_factory=list)

    def insert(self, table: sa.Table, values: Mapping[str, Any]) -> int:
        vals = {k: audit.coerce(table, k, v) for k, v in values.items()}
        # Values as parameters, not baked into the statement: SQLAlchemy then compiles each statement
        # shape once instead of on every row (a large share of the engine's CPU per reading).
        row_id = self.conn.execute(sa.insert(table).returning(table.c.id), vals).scalar_one()
        vals["id"] = row_id
        self.entries.append((table.name, row_id, "insert", audit.dumps(audit.canonical_row(table, vals))))
        return row_id

    def insert_many(self, table: sa.Table, rows: list[dict[str, Any]]) -> list[int]:
        rows = [{k: audit.coerce(table, k, v) for k, v in r.items()} for r in rows]
        ids = (
            self.conn.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows)
            .scalars()
            .all()
        )
        for row_id, vals in zip(ids, rows, strict=True):
            vals["id"] = row_id
            self.entries.append((table.name, row_id, "insert", audit.dumps(audit.canonical_row(table, vals))))
        return list(ids)

    def update(self, table: sa.Table, row_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        row = self.conn.execute(sa.select(table).where(table.c.id == row_id)).mappings().one_or_none()
        if row is None:
            raise InputError(f"{table.name} id", "no such row", found=row_id, source="records store")
        vals = {k: audit.coerce(table, k, v) for k, v in changes.items()}
        self.conn.execute(
            sa.update(table).where(table.c.id == sa.bindparam("row_id_")), {**vals, "row_id_": row_id}
        )
        merged = {**row, **vals}
        self.entries.append((table.name, row_id, "update", audit.dumps(audit.canonical_row(table, merged))))
        return merged


def _current(rows: list[dict], key: tuple[str, ...]) -> tuple[list[dict], list[dict]]:
    """Split rows (in id order) into the latest per ``key`` and the earlier ones it superseded."""
    latest = {tuple(r[k] for k in key): r["id"] for r in rows}
    current: list[dict] = []
    old: list[dict] = []
    for r in rows:
        newest = latest[tuple(r[k] for k in key)]
        (current.append(r) if newest == r["id"] else old.append(r | {"superseded_by": newest}))
    return current, old


def _jsonable(row: Mapping[str, Any], *, drop: Iterable[str] = ()) -> dict[str, Any]:
    skip = set(drop)
    return {k: (audit.iso(v) if isinstance(v, datetime) else v) for k, v in row.items() if k not in skip}


def _choice(field_name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InputError(
            field_name, "not a recognised value", allowed=allowed, found=value, source="records store"
        )
    return value


def _point_columns() -> list:
    r, p, res, rp, mt = m.runs.c, m.points.c, m.results.c, m.run_positions.c, m.meters.c
    n_readings = (
        sa.select(sa.func.count()).where(m.readings.c.point_id == p.id).correlate(m.points).scalar_subquery()
    )
    later = m.points.alias("later")
    superseded_by = (  # the newest row for the same point: a retest (or a resumed run) replaced this one
        sa.select(sa.func.max(later.c.id))
        .where(
            later.c.run_id == p.run_id,
            later.c.position == p.position,
            later.c.point_id == p.point_id,
            later.c.test_pass == p.test_pass,
            later.c.id > p.id,
        )  # fmt: skip
        .correlate(m.points)
        .scalar_subquery()
    )
    # Nameplate from the run's snapshot would need JSON paths per backend; the meters row is the same
    # meter (serial is unique) and only firmware/ratings edits could differ.
    return [
        r.id.label("run_id"),
        r.started_at,
        r.plan_id,
        r.plan_version,
        m.benches.c.name.label("bench"),
        r.operator,
        r.status.label("run_status"),
        r.outcome.label("run_outcome"),
        p.position,
        mt.serial,
        mt.manufacturer,
        mt.model,
        mt.form,
        mt.accuracy_class,
        rp.outcome.label("position_outcome"),
        p.test_pass,
        p.point_id,
        p.label,
        p.element,
        p.kind,
        p.voltage_v,
        p.current_a,
        p.lag_deg,
        p.status,
        res.error_percent,
        res.expanded_percent,
        res.coverage_factor,
        res.dof,
        p.limit_lo,
        p.limit_hi,
        res.verdict,
        res.decision_rule,
        n_readings.label("readings"),
        p.id.label("point_row"),
        superseded_by.label("superseded_by"),  # empty for the current result; fleet statistics skip the rest
    ]


#: The keys of every :meth:`RecordStore.point_rows` row, in export column order.
POINT_ROW_COLUMNS: tuple[str, ...] = tuple(c.key for c in _point_columns())


class RecordStore:
    """Test records in SQLite (one file per bench, WAL) or PostgreSQL (several benches), audited."""

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self._engine = engine
        self._wengine = engine.execution_options(mb_write=True)
        self._pg = engine.dialect.name == "postgresql"
        self.url = url
        self._local = threading.local()  # the open batch of this thread, if any (see batch())

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> RecordStore:
        """Connect, configure and migrate to the newest schema.

        ``url`` None means the per-user SQLite file (:func:`default_url`). ``create=False`` refuses a
        SQLite file that does not exist yet (read-only commands should not conjure empty databases).
        """
        url = url or default_url()
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise InputError("--db", "not a database URL", allowed=_URL_ALLOWED, found=url) from None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise InputError("--db", "unsupported database", allowed=_URL_ALLOWED, found=url)
        if backend == "sqlite":
            engine = cls._sqlite_engine(parsed, create=create)
        else:
            if (
                parsed.drivername == "postgresql"
            ):  # plain postgresql:// would pick psycopg2; we ship psycopg 3
                parsed = parsed.set(drivername="postgresql+psycopg")
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        store = cls(engine, url)
        try:
            store._migrate()
        except sa.exc.OperationalError as err:
            engine.dispose()
            raise InputError("--db", f"cannot open the database: {err.orig}", found=url) from None
        return store

    @staticmethod
    def _sqlite_engine(url: sa.URL, *, create: bool) -> sa.Engine:
        if not url.database or url.database == ":memory:":
            raise InputError(
                "--db",
                "records need a SQLite file, not an in-memory database",
                allowed=_URL_ALLOWED,
                found=str(url),
            )
        path = Path(url.database).expanduser()
        if not path.exists():
            if not create:
                raise InputError("--db", "no records database at this path", found=str(path))
            path.parent.mkdir(parents=True, exist_ok=True)
        fstype = _filesystem_type(path.parent)
        if fstype in _NETWORK_FS:
            raise InputError(
                "--db",
                f"SQLite file is on a network share ({fstype}); SQLite locking is not safe there",
                allowed="a local disk, or a PostgreSQL URL for shared records",
                found=str(path),
            )
        engine = sa.create_engine(url.set(database=str(path)), connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # FULL: a committed reading survives power loss too, not only a killed process
            cur.execute("PRAGMA synchronous=FULL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            # IMMEDIATE takes the write lock up front, so reading the audit head and appending to it
            # cannot be overtaken by another process (no SQLITE_BUSY_SNAPSHOT half-way through).
            conn.exec_driver_sql(
                "BEGIN IMMEDIATE" if conn.get_execution_options().get("mb_write") else "BEGIN"
            )

        return engine

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self._write_conn() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _write_conn(self) -> Iterator[sa.Connection]:
        with self._wengine.begin() as conn:
            if self._pg:
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            yield conn

    @contextmanager
    def _write(self) -> Iterator[_Tx]:
        batch = getattr(self._local, "tx", None)
        if batch is not None:  # inside batch(): one transaction, committed when the batch ends
            yield batch
            return
        with self._write_conn() as conn:
            tx = _Tx(conn, m.utcnow())
            yield tx
            audit.append(conn, tx.entries, tx.at)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes made inside (by this thread) form one audited transaction: all committed when the block
        ends, none if it raises. For records taken at the same moment, e.g. one gate's readings on every
        position: each is still committed when it is taken, at a fraction of the cost of a commit each.
        """
        if getattr(self._local, "tx", None) is not None:  # nested: the outer batch commits
            yield
            return
        with self._write_conn() as conn:
            tx = _Tx(conn, m.utcnow())
            self._local.tx = tx
            try:
                yield
                audit.append(conn, tx.entries, tx.at)
            finally:
                self._local.tx = None

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._engine.connect() as conn:
            if self._pg:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    # ------------------------------------------------------------------ benches, instruments, meters
    def upsert_bench(self, name: str, location: str, config: dict) -> int:
        t = m.benches
        with self._write() as tx:
            row = tx.conn.execute(sa.select(t).where(t.c.name == name)).mappings().one_or_none()
            if row is None:
                return tx.insert(
                    t,
                    {
                        "name": name,
                        "location": location,
                        "config": config,
                        "created_at": tx.at,
                        "updated_at": tx.at,
                    },
                )
            if row["location"] != location or row["config"] != audit.coerce(t, "config", config):
                tx.update(t, row["id"], {"location": location, "config": config, "updated_at": tx.at})
            return row["id"]

    def upsert_instrument(
        self, bench_id: int, role: str, driver: str, resource: str, identity: str, calibration: dict | None
    ) -> int:
        """The instrument now in ``role`` on the bench; a changed ``calibration`` adds a calibration row.

        The run started next records, per role, the instrument most recently upserted and its latest
        calibration — so call this for each instrument before :meth:`start_run`.
        """
        t, c = m.instruments, m.calibrations
        with self._write() as tx:
            self._require(tx.conn, m.benches, bench_id, "bench_id")
            key = (
                t.c.bench_id == bench_id,
                t.c.role == role,
                t.c.driver == driver,
                t.c.resource == resource,
                t.c.identity == identity,
            )
            inst_id = tx.conn.execute(sa.select(t.c.id).where(*key)).scalar_one_or_none()
            if inst_id is None:
                inst_id = tx.insert(
                    t,
                    {
                        "bench_id": bench_id,
                        "role": role,
                        "driver": driver,
                        "resource": resource,
                        "identity": identity,
                        "created_at": tx.at,
                        "seen_at": tx.at,
                    },
                )
            else:
                tx.update(t, inst_id, {"seen_at": tx.at})
            if calibration is not None:
                digest = hashlib.sha256(audit.dumps(calibration).encode()).hexdigest()
                last = tx.conn.execute(
                    sa.select(c.c.data_sha256)
                    .where(c.c.instrument_id == inst_id)
                    .order_by(c.c.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                if last != digest:
                    tx.insert(
                        c,
                        {
                            "instrument_id": inst_id,
                            "data": calibration,
                            "data_sha256": digest,
                            "recorded_at": tx.at,
                        },
                    )
            return inst_id

    def upsert_meter(
        self,
        serial: str,
        *,
        manufacturer: str = "",
        model: str = "",
        form: str,
        accuracy_class: str,
        current_class: str | None,
        voltage_v: float,
        ta_a: float | None,
        ib_a: float | None = None,
        in_a: float | None = None,
        imax_a: float | None = None,
        kh: float,
        kt: float,
        firmware: str = "",
    ) -> int:
        if not serial or not serial.strip():
            raise InputError("serial", "a meter needs a serial number", found=serial, source="records store")
        t = m.meters
        values = {
            "manufacturer": manufacturer,
            "model": model,
            "form": form,
            "accuracy_class": accuracy_class,
            "current_class": current_class,
            "voltage_v": voltage_v,
            "ta_a": ta_a,
            "ib_a": ib_a,
            "in_a": in_a,
            "imax_a": imax_a,
            "kh": kh,
            "kt": kt,
            "firmware": firmware,
        }
        with self._write() as tx:
            row = tx.conn.execute(sa.select(t).where(t.c.serial == serial)).mappings().one_or_none()
            if row is None:
                return tx.insert(t, {"serial": serial, **values, "created_at": tx.at, "updated_at": tx.at})
            changed = {k: v for k, v in values.items() if row[k] != audit.coerce(t, k, v)}
            if changed:
                tx.update(t, row["id"], {**changed, "updated_at": tx.at})
            return row["id"]

    # ------------------------------------------------------------------ runs
    def start_run(
        self,
        *,
        plan_id: str,
        plan_version: str,
        plan_sha256: str,
        bench_id: int,
        operator: str,
        environment: dict,
        settings: dict,
        positions: dict[int, int],
        instruments: list[int] | None = None,
    ) -> int:
        """A new run, status "running", owned by this process. ``positions`` maps position -> meter id.

        ``instruments`` (ids) defaults to the bench's most recently upserted instrument per role.
        """
        if not positions:
            raise InputError(
                "positions", "a run needs at least one position with a meter", source="records store"
            )
        with self._write() as tx:
            conn = tx.conn
            self._require(conn, m.benches, bench_id, "bench_id")
            meters = {}
            for pos, meter_id in positions.items():
                row = (
                    conn.execute(sa.select(m.meters).where(m.meters.c.id == meter_id))
                    .mappings()
                    .one_or_none()
                )
                if row is None:
                    raise InputError(
                        f"positions[{pos}]", "no meter with this id", found=meter_id, source="records store"
                    )
                meters[pos] = _jsonable(row, drop=("created_at", "updated_at"))
            run_id = tx.insert(
                m.runs,
                {
                    "plan_id": plan_id,
                    "plan_version": plan_version,
                    "plan_sha256": plan_sha256,
                    "bench_id": bench_id,
                    "operator": operator,
                    "environment": environment,
                    "settings": settings,
                    "status": "running",
                    "outcome": None,
                    "started_at": tx.at,
                    "finished_at": None,
                    "bench_seconds": None,
                    "wall_seconds": None,
                    "pid": os.getpid(),
                    "hostname": socket.gethostname(),
                    "resumes": 0,
                    "heartbeat_at": tx.at,
                },
            )
            for inst_id in (
                instruments if instruments is not None else self._current_instruments(conn, bench_id)
            ):
                self._require(conn, m.instruments, inst_id, "instruments")
                cal = conn.execute(
                    sa.select(m.calibrations.c.id)
                    .where(m.calibrations.c.instrument_id == inst_id)
                    .order_by(m.calibrations.c.id.desc())
                    .limit(1)
                ).scalar_one_or_none()
                tx.insert(
                    m.run_instruments, {"run_id": run_id, "instrument_id": inst_id, "calibration_id": cal}
                )
            for pos in sorted(positions):
                tx.insert(
                    m.run_positions,
                    {
                        "run_id": run_id,
                        "position": pos,
                        "meter_id": positions[pos],
                        "meter": meters[pos],
                        "outcome": None,
                        "message": "",
                    },
                )
            return run_id

    @staticmethod
    def _current_instruments(conn: sa.Connection, bench_id: int) -> list[int]:
        t = m.instruments
        newest: dict[str, tuple[datetime, int]] = {}
        for row in conn.execute(sa.select(t.c.id, t.c.role, t.c.seen_at).where(t.c.bench_id == bench_id)):
            if row.role not in newest or (row.seen_at, row.id) > newest[row.role]:
                newest[row.role] = (row.seen_at, row.id)
        return [newest[r][1] for r in sorted(newest)]

    @staticmethod
    def _require(conn: sa.Connection, table: sa.Table, row_id: int, field_name: str) -> None:
        if conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is None:
            raise InputError(
                field_name, f"no {table.name} row with this id", found=row_id, source="records store"
            )

    def heartbeat(self, run_id: int) -> None:
        """Say "this run's process is alive" (not audited: liveness, not a record)."""
        with self._write_conn() as conn:
            conn.execute(sa.update(m.runs).where(m.runs.c.id == run_id).values(heartbeat_at=m.utcnow()))

    def add_point(
        self,
        run_id: int,
        *,
        position: int,
        point_id: str,
        label: str,
        element: str,
        test_pass: str,
        kind: str,
        voltage_v: float,
        current_a: float,
        lag_deg: float,
        limit_lo: float | None,
        limit_hi: float | None,
        limit_provenance: dict,
        planned: dict,
    ) -> int:
        _choice("test_pass", test_pass, TEST_PASSES)
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                m.points,
                {
                    "run_id": run_id,
                    "position": position,
                    "point_id": point_id,
                    "label": label,
                    "element": element,
                    "test_pass": test_pass,
                    "kind": kind,
                    "voltage_v": voltage_v,
                    "current_a": current_a,
                    "lag_deg": lag_deg,
                    "limit_lo": limit_lo,
                    "limit_hi": limit_hi,
                    "limit_provenance": limit_provenance,
                    "planned": planned,
                    "status": "running",
                    "message": "",
                    "started_at": tx.at,
                    "finished_at": None,
                },
            )

    @staticmethod
    def _require_position(conn: sa.Connection, run_id: int, position: int | None) -> None:
        rp = m.run_positions.c
        if position is None:
            RecordStore._require(conn, m.runs, run_id, "run_id")
        elif (
            conn.execute(sa.select(rp.id).where(rp.run_id == run_id, rp.position == position)).first() is None
        ):
            raise InputError(
                "position", f"run {run_id} has no such position", found=position, source="records store"
            )

    def add_reading(
        self,
        point_row: int,
        *,
        index: int,
        meter_pulses: int,
        ref_pulses: float,
        kr_wh: float,
        kt_wh: float,
        gate_seconds: float,
        error_percent: float,
        instrument_error_percent: float | None,
        reference: dict,
    ) -> int:
        """Store one raw reading; it is committed (audited, on disk) when this returns."""
        with self._write() as tx:
            return tx.insert(
                m.readings,
                {
                    "point_id": point_row,
                    "idx": index,
                    "meter_pulses": meter_pulses,
                    "ref_pulses": ref_pulses,
                    "kr_wh": kr_wh,
                    "kt_wh": kt_wh,
                    "gate_seconds": gate_seconds,
                    "error_percent": error_percent,
                    "instrument_error_percent": instrument_error_percent,
                    "reference": reference,
                    "taken_at": tx.at,
                },
            )

    def add_readings_bulk(self, point_row: int, readings: Iterable[Mapping[str, Any]]) -> int:
        """Many readings in one transaction (imports, benchmarks); the engine uses :meth:`add_reading`.

        Each mapping has :meth:`add_reading`'s keyword names. Returns how many were stored.
        """
        with self._write() as tx:
            rows = [
                {
                    "point_id": point_row,
                    "idx": r["index"],
                    "meter_pulses": r["meter_pulses"],
                    "ref_pulses": r["ref_pulses"],
                    "kr_wh": r["kr_wh"],
                    "kt_wh": r["kt_wh"],
                    "gate_seconds": r["gate_seconds"],
                    "error_percent": r["error_percent"],
                    "instrument_error_percent": r.get("instrument_error_percent"),
                    "reference": r["reference"],
                    "taken_at": tx.at,
                }
                for r in readings
            ]
            return len(tx.insert_many(m.readings, rows)) if rows else 0

    def finish_point(
        self,
        point_row: int,
        *,
        status: str,
        error_percent: float | None,
        expanded_percent: float | None,
        coverage_factor: float | None,
        dof: float | None,
        budget: list[dict],
        verdict: str | None,
        decision_rule: str | None,
        message: str = "",
    ) -> None:
        _choice("status", status, POINT_STATUSES)
        with self._write() as tx:
            point = (
                tx.conn.execute(sa.select(m.points).where(m.points.c.id == point_row))
                .mappings()
                .one_or_none()
            )
            if point is None:
                raise InputError("point_row", "no such point", found=point_row, source="records store")
            if point["status"] != "running":
                raise InputError(
                    "point_row",
                    f"point already {point['status']}; a result is recorded once",
                    found=point_row,
                    source="records store",
                )
            tx.update(m.points, point_row, {"status": status, "message": message, "finished_at": tx.at})
            tx.insert(
                m.results,
                {
                    "point_id": point_row,
                    "error_percent": error_percent,
                    "expanded_percent": expanded_percent,
                    "coverage_factor": coverage_factor,
                    "dof": dof,
                    "budget": budget,
                    "limit_lo": point["limit_lo"],
                    "limit_hi": point["limit_hi"],
                    "verdict": verdict,
                    "decision_rule": decision_rule,
                    "created_at": tx.at,
                },
            )

    def add_wiring_check(
        self,
        run_id: int,
        *,
        position: int | None,
        rotation: str,
        findings: list[dict],
        phasors: dict,
        registration_percent: float | None,
        override_reason: str | None = None,
    ) -> int:
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                m.wiring_checks,
                {
                    "run_id": run_id,
                    "position": position,
                    "rotation": rotation,
                    "findings": findings,
                    "phasors": phasors,
                    "registration_percent": registration_percent,
                    "override_reason": override_reason,
                    "checked_at": tx.at,
                },
            )

    def add_average(
        self, run_id: int, *, position: int, test_pass: str, rule: str, value_percent: float, verdict: str
    ) -> int:
        _choice("test_pass", test_pass, TEST_PASSES)
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                m.averages,
                {
                    "run_id": run_id,
                    "position": position,
                    "test_pass": test_pass,
                    "rule": rule,
                    "value_percent": value_percent,
                    "verdict": verdict,
                    "created_at": tx.at,
                },
            )

    def _pulse_test(
        self, table: sa.Table, run_id: int, position: int, pulses: int, seconds: float, verdict: str
    ) -> int:
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            return tx.insert(
                table,
                {
                    "run_id": run_id,
                    "position": position,
                    "pulses": pulses,
                    "seconds": seconds,
                    "verdict": verdict,
                    "created_at": tx.at,
                },
            )

    def add_creep(self, run_id: int, *, position: int, pulses: int, seconds: float, verdict: str) -> int:
        return self._pulse_test(m.creep, run_id, position, pulses, seconds, verdict)

    def add_starting(self, run_id: int, *, position: int, pulses: int, seconds: float, verdict: str) -> int:
        return self._pulse_test(m.starting, run_id, position, pulses, seconds, verdict)

    def set_position_outcome(self, run_id: int, position: int, outcome: str, message: str = "") -> None:
        rp = m.run_positions.c
        with self._write() as tx:
            row_id = tx.conn.execute(
                sa.select(rp.id).where(rp.run_id == run_id, rp.position == position)
            ).scalar_one_or_none()
            if row_id is None:
                raise InputError(
                    "position", f"run {run_id} has no such position", found=position, source="records store"
                )
            tx.update(m.run_positions, row_id, {"outcome": outcome, "message": message})

    def finish_run(self, run_id: int, outcome: str, *, bench_seconds: float, wall_seconds: float) -> None:
        _choice("outcome", outcome, RUN_OUTCOMES)
        with self._write() as tx:
            tx.update(
                m.runs,
                run_id,
                {
                    "status": "finished",
                    "outcome": outcome,
                    "finished_at": tx.at,
                    "bench_seconds": bench_seconds,
                    "wall_seconds": wall_seconds,
                },
            )

    def recover_interrupted(self, *, stale_after_s: float = 300.0) -> list[int]:
        """Runs left "running" whose process is gone -> "interrupted" (and their unfinished points).

        Same host: the recorded pid is not alive. Other host: no heartbeat for ``stale_after_s``.
        """
        here = socket.gethostname()
        with self._write() as tx:
            now = tx.at
            found = []
            for run in tx.conn.execute(sa.select(m.runs).where(m.runs.c.status == "running")).mappings():
                if run["hostname"] == here:
                    gone = not _pid_alive(run["pid"])
                else:
                    gone = now - run["heartbeat_at"] > timedelta(seconds=stale_after_s)
                if gone:
                    found.append(run["id"])
            for run_id in found:
                tx.update(m.runs, run_id, {"status": "interrupted"})
                p = m.points.c
                for pid in (
                    tx.conn.execute(sa.select(p.id).where(p.run_id == run_id, p.status == "running"))
                    .scalars()
                    .all()
                ):
                    tx.update(
                        m.points,
                        pid,
                        {"status": "interrupted", "message": "process ended mid-point", "finished_at": now},
                    )
            return found

    def mark_resumed(self, run_id: int) -> None:
        """An interrupted run continues under this process (status back to "running")."""
        with self._write() as tx:
            run = tx.conn.execute(sa.select(m.runs).where(m.runs.c.id == run_id)).mappings().one_or_none()
            if run is None:
                raise InputError("run", "no such run", found=run_id, source="records store")
            if run["status"] != "interrupted":
                raise InputError(
                    "run",
                    f"only an interrupted run can be resumed; this one is {run['status']}",
                    found=run_id,
                    source="records store",
                )
            tx.update(
                m.runs,
                run_id,
                {
                    "status": "running",
                    "pid": os.getpid(),
                    "hostname": socket.gethostname(),
                    "resumes": run["resumes"] + 1,
                },
            )
            tx.conn.execute(sa.update(m.runs).where(m.runs.c.id == run_id).values(heartbeat_at=tx.at))

    def completed_points(self, run_id: int) -> set[tuple[int, str, str]]:
        """(position, point_id, test_pass) already done, failed or skipped: what a resumed run must not
        repeat."""
        p = m.points.c
        with self._read() as conn:
            rows = conn.execute(
                sa.select(p.position, p.point_id, p.test_pass).where(
                    p.run_id == run_id, p.status.in_(("done", "failed", "skipped"))
                )
            )
            return {(r.position, r.point_id, r.test_pass) for r in rows}

    # ------------------------------------------------------------------ certificates
    def record_certificate(
        self,
        run_id: int,
        position: int,
        *,
        number: str,
        content_hash: str,
        pdf_path: str,
        dcc_path: str | None,
        laboratory: dict | None = None,
    ) -> None:
        """Record an issued certificate; ``laboratory`` is the laboratory it was issued under, as data."""
        with self._write() as tx:
            self._require_position(tx.conn, run_id, position)
            c = m.certificates.c
            if tx.conn.execute(sa.select(c.id).where(c.number == number)).first() is not None:
                raise InputError(
                    "number",
                    "a certificate with this number is already recorded",
                    found=number,
                    source="records store",
                )
            cert_id = tx.insert(
                m.certificates,
                {
                    "run_id": run_id,
                    "position": position,
                    "number": number,
                    "content_hash": content_hash,
                    "pdf_path": pdf_path,
                    "dcc_path": dcc_path,
                    "issued_at": tx.at,
                },
            )
            if laboratory is not None:
                tx.insert(
                    m.certificate_snapshots,
                    {"certificate_id": cert_id, "laboratory": laboratory, "created_at": tx.at},
                )

    def find_certificate(self, number: str) -> dict | None:
        """The certificate row plus its run's plan, meter serial and position outcome, or None."""
        c, rp = m.certificates.c, m.run_positions.c
        with self._read() as conn:
            row = conn.execute(sa.select(m.certificates).where(c.number == number)).mappings().one_or_none()
            if row is None:
                return None
            out = _jsonable(row)
            pos = (
                conn.execute(
                    sa.select(m.run_positions).where(
                        rp.run_id == row["run_id"], rp.position == row["position"]
                    )
                )
                .mappings()
                .one()
            )
            run = conn.execute(sa.select(m.runs).where(m.runs.c.id == row["run_id"])).mappings().one()
            out.update(
                serial=pos["meter"]["serial"],
                meter=pos["meter"],
                position_outcome=pos["outcome"],
                plan_id=run["plan_id"],
                plan_version=run["plan_version"],
                run_outcome=run["outcome"],
                run_started_at=audit.iso(run["started_at"]),
            )
            return out

    # ------------------------------------------------------------------ reading back
    def run_record(self, run_id: int) -> dict:
        """Everything about one run as plain JSON-able data (times as ISO 8601 UTC text)."""
        with self._read() as conn:
            run = conn.execute(sa.select(m.runs).where(m.runs.c.id == run_id)).mappings().one_or_none()
            if run is None:
                raise InputError("run", "no such run", found=run_id)

            def rows(table: sa.Table, *where, order=None) -> list[dict]:
                stmt = sa.select(table).where(*where).order_by(*(order or [table.c.id]))
                return [_jsonable(r) for r in conn.execute(stmt).mappings()]

            bench = rows(m.benches, m.benches.c.id == run["bench_id"])[0]
            instruments = []
            for link in rows(m.run_instruments, m.run_instruments.c.run_id == run_id):
                inst = rows(m.instruments, m.instruments.c.id == link["instrument_id"])[0]
                cal = link["calibration_id"]
                inst["calibration"] = rows(m.calibrations, m.calibrations.c.id == cal)[0] if cal else None
                instruments.append(inst)
            pts = rows(m.points, m.points.c.run_id == run_id)
            by_point = {p["id"]: p for p in pts}
            for p in pts:
                p["readings"], p["result"] = [], None
            if by_point:
                ids = list(by_point)
                for r in rows(
                    m.readings,
                    m.readings.c.point_id.in_(ids),
                    order=[m.readings.c.point_id, m.readings.c.idx, m.readings.c.id],
                ):
                    by_point[r["point_id"]]["readings"].append(r)
                for r in rows(m.results, m.results.c.point_id.in_(ids)):
                    by_point[r["point_id"]]["result"] = r
            points, old_points = _current(pts, ("position", "point_id", "test_pass"))
            averages, old_averages = _current(
                rows(m.averages, m.averages.c.run_id == run_id), ("position", "test_pass", "rule")
            )
            certs = rows(m.certificates, m.certificates.c.run_id == run_id)
            if certs:
                snaps = {
                    sn["certificate_id"]: sn["laboratory"]
                    for sn in rows(
                        m.certificate_snapshots,
                        m.certificate_snapshots.c.certificate_id.in_([c["id"] for c in certs]),
                    )
                }
                for c in certs:
                    c["laboratory"] = snaps.get(c["id"])
            return {
                "run": _jsonable(run, drop=("heartbeat_at",))
                | {"heartbeat_at": audit.iso(run["heartbeat_at"])},
                "bench": bench,
                "instruments": instruments,
                "positions": rows(
                    m.run_positions, m.run_positions.c.run_id == run_id, order=[m.run_positions.c.position]
                ),
                "points": points,
                "wiring_checks": rows(m.wiring_checks, m.wiring_checks.c.run_id == run_id),
                "averages": averages,
                # Rows a later attempt replaced (a retested point, an interrupted point run again on
                # resume, an average recomputed after a retest): kept and shown, never the result.
                "superseded": {"points": old_points, "averages": old_averages},
                "creep": rows(m.creep, m.creep.c.run_id == run_id),
                "starting": rows(m.starting, m.starting.c.run_id == run_id),
                "certificates": certs,
            }

    @staticmethod
    def _run_filters(
        stmt: sa.Select, *, serial=None, form=None, outcome=None, since=None, until=None, bench=None
    ) -> sa.Select:
        r, rp, mt = m.runs.c, m.run_positions.c, m.meters.c
        if serial is not None or form is not None:
            sub = sa.select(rp.run_id).join(m.meters, mt.id == rp.meter_id)
            if serial is not None:
                sub = sub.where(mt.serial == serial)
            if form is not None:
                sub = sub.where(mt.form == form)
            stmt = stmt.where(r.id.in_(sub))
        if outcome is not None:
            stmt = stmt.where(
                r.status == outcome if outcome in ("running", "interrupted") else r.outcome == outcome
            )
        if since is not None:
            stmt = stmt.where(r.started_at >= since)
        if until is not None:
            stmt = stmt.where(r.started_at < until)
        if bench is not None:
            stmt = stmt.where(r.bench_id.in_(sa.select(m.benches.c.id).where(m.benches.c.name == bench)))
        return stmt

    def list_runs(
        self,
        *,
        serial: str | None = None,
        form: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bench: str | None = None,
        limit: int = 100,
    ) -> list[dict]:
        """Newest first: run summary with bench name and positions (serial, form, outcome).

        ``outcome`` may also be "running" or "interrupted" (a status); ``until`` is exclusive.
        """
        r = m.runs.c
        stmt = sa.select(m.runs, m.benches.c.name.label("bench")).join(
            m.benches, m.benches.c.id == r.bench_id
        )
        stmt = (
            self._run_filters(
                stmt, serial=serial, form=form, outcome=outcome, since=since, until=until, bench=bench
            )
            .order_by(r.started_at.desc(), r.id.desc())
            .limit(limit)
        )
        with self._read() as conn:
            out = [
                _jsonable(row, drop=("environment", "settings", "heartbeat_at"))
                for row in conn.execute(stmt).mappings()
            ]
            if out:
                rp = m.run_positions.c
                positions: dict[int, list] = {}
                for row in conn.execute(
                    sa.select(rp.run_id, rp.position, rp.meter, rp.outcome)
                    .where(rp.run_id.in_([o["id"] for o in out]))
                    .order_by(rp.position)
                ):
                    positions.setdefault(row.run_id, []).append(
                        {
                            "position": row.position,
                            "serial": row.meter["serial"],
                            "form": row.meter["form"],
                            "outcome": row.outcome,
                        }
                    )
                for o in out:
                    o["positions"] = positions.get(o["id"], [])
            return out

    def point_rows(
        self,
        *,
        serial: str | None = None,
        form: str | None = None,
        outcome: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        bench: str | None = None,
        run_id: int | None = None,
    ) -> list[dict]:
        """One flat row per point (with its result, if any): what exports and fleet analysis read.

        Filters select runs as in :meth:`list_runs`; ``serial``/``form`` also select the position.
        """
        r, p, rp, mt = m.runs.c, m.points.c, m.run_positions.c, m.meters.c
        stmt = (
            sa.select(*_point_columns())
            .select_from(m.points)
            .join(m.runs, r.id == p.run_id)
            .join(m.benches, m.benches.c.id == r.bench_id)
            .join(m.run_positions, sa.and_(rp.run_id == p.run_id, rp.position == p.position))
            .join(m.meters, mt.id == rp.meter_id)
            .outerjoin(m.results, m.results.c.point_id == p.id)
        )
        stmt = self._run_filters(stmt, outcome=outcome, since=since, until=until, bench=bench)
        if serial is not None:
            stmt = stmt.where(mt.serial == serial)
        if form is not None:
            stmt = stmt.where(mt.form == form)
        if run_id is not None:
            stmt = stmt.where(r.id == run_id)
        stmt = stmt.order_by(r.started_at, r.id, p.position, p.id)
        with self._read() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    def meter_history(self, serial: str) -> list[dict]:
        """Every run of one meter, oldest first: run, position, outcome, and each point's result."""
        r, rp, mt = m.runs.c, m.run_positions.c, m.meters.c
        stmt = (
            sa.select(
                r.id.label("run_id"),
                r.started_at,
                r.plan_id,
                r.plan_version,
                m.benches.c.name.label("bench"),
                r.operator,
                r.status.label("run_status"),
                r.outcome.label("run_outcome"),
                rp.position,
                rp.outcome.label("position_outcome"),
                rp.meter,
            )
            .select_from(m.run_positions)
            .join(m.runs, r.id == rp.run_id)
            .join(m.benches, m.benches.c.id == r.bench_id)
            .join(m.meters, mt.id == rp.meter_id)
            .where(mt.serial == serial)
            .order_by(r.started_at, r.id, rp.position)
        )
        with self._read() as conn:
            history = {
                (row["run_id"], row["position"]): {**_jsonable(row), "points": []}
                for row in conn.execute(stmt).mappings()
            }
        keys = ("test_pass", "point_id", "label", "status", "error_percent", "expanded_percent",
                "coverage_factor", "limit_lo", "limit_hi", "verdict", "readings")  # fmt: skip
        for row in self.point_rows(serial=serial):
            entry = history.get((row["run_id"], row["position"]))
            if entry is not None:  # a run started between the two queries is left for next time
                entry["points"].append({k: row[k] for k in keys})
        return list(history.values())

    # ------------------------------------------------------------------ audit
    def verify_audit(self) -> list[str]:
        """Problems found in the audit chain and audited rows; ``[]`` when everything is intact."""
        with self._read() as conn:
            return audit.verify(conn)
