"""RecordStore: the one way test records are written and read (SQLite per bench, or shared PostgreSQL).

Every write is one short transaction that also appends its audit entries (:mod:`bench.records.audit`)
and commits before the method returns — a reading that :meth:`RecordStore.add_reading` accepted is on
disk even if the process is killed the next instant. Writers are serialised per database (SQLite
``BEGIN IMMEDIATE``; PostgreSQL transaction-scoped advisory lock) so the audit chain never forks when
several benches share one PostgreSQL database.

Runs are never deleted or rewritten; a run whose process died is found by
:meth:`RecordStore.recover_interrupted` and can be continued with :meth:`RecordStore.mark_resumed`,
skipping :meth:`RecordStore.completed_points`.

The store is one class in four modules: opening, transactions, benches and recovery here; a run's writes
in :mod:`bench.records.run_writes`; the read-backs in :mod:`bench.records.run_reads`; the row helpers in
:mod:`bench.records.rows`.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from bench.records import audit
from bench.records import models as m
from bench.records.rows import (  # noqa: F401 - re-exported names
    POINT_ROW_COLUMNS,
    POINT_STATUSES,
    ROTATIONS,
    RUN_OUTCOMES,
    TEST_PASSES,
    Tx,
    choice,
    current_rows,
    jsonable,
    point_columns,
)
from bench.records.run_reads import RunReads
from bench.records.run_writes import RunWrites
from procedures.errors import InputError

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


class RecordStore(RunWrites, RunReads):
    """Test records in SQLite (one file per bench, WAL) or PostgreSQL (several benches), audited."""

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self._engine = engine
        self._wengine = engine.execution_options(mb_write=True)
        self._pg = engine.dialect.name == "postgresql"
        self.url = url
        self._local = threading.local()  # the open batch of this thread, if any (see batch())
        self._known_positions: set[tuple[int, int | None]] = set()

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
    def _write(self) -> Iterator[Tx]:
        batch = getattr(self._local, "tx", None)
        if batch is not None:  # inside batch(): one transaction, committed when the batch ends
            yield batch
            return
        with self._write_conn() as conn:
            tx = Tx(conn, m.utcnow())
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
            tx = Tx(conn, m.utcnow())
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

    @staticmethod
    def _require(conn: sa.Connection, table: sa.Table, row_id: int, field_name: str) -> None:
        if conn.execute(sa.select(table.c.id).where(table.c.id == row_id)).first() is None:
            raise InputError(
                field_name, f"no {table.name} row with this id", found=row_id, source="records store"
            )

    def _require_position(self, conn: sa.Connection, run_id: int, position: int | None) -> None:
        # A run's positions are written when it starts and never removed: one found stays found, so a
        # run's thousands of writes ask the database once per position, not once per write.
        if (run_id, position) in self._known_positions:
            return
        rp = m.run_positions.c
        if position is None:
            RecordStore._require(conn, m.runs, run_id, "run_id")
        elif (
            conn.execute(sa.select(rp.id).where(rp.run_id == run_id, rp.position == position)).first() is None
        ):
            raise InputError(
                "position", f"run {run_id} has no such position", found=position, source="records store"
            )
        self._known_positions.add((run_id, position))

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

    # ------------------------------------------------------------------ audit
    def verify_audit(self) -> list[str]:
        """Problems found in the audit chain and audited rows; ``[]`` when everything is intact."""
        with self._read() as conn:
            return audit.verify(conn)
