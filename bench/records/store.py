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

import contextlib
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.records import audit, encoding
from bench.records import models as m
from bench.records.held import HeldConnection
from bench.records.opening import (  # noqa: F401 - default_url, mask_url, DB_ENV stay importable from here
    DB_ENV,
    DB_FIX,
    PG_LOCK_KEY,
    URL_ALLOWED,
    database_identity,
    db_problem,
    default_url,
    mask_url,
    pid_alive,
    refuse_foreign,
    sqlite_engine,
)
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


class RecordStore(RunWrites, RunReads):
    """Test records in SQLite (one file per bench, WAL) or PostgreSQL (several benches), audited."""

    def __init__(self, engine: sa.Engine, url: str) -> None:
        self._engine = engine
        self._wengine = engine.execution_options(mb_write=True)
        self._pg = engine.dialect.name == "postgresql"
        # SQLite writes through one connection held between them (bench.records.held); PostgreSQL's pool
        # checks the server at each checkout, so it keeps checking out
        self._held = None if self._pg else HeldConnection(self._wengine)
        self.url = url
        self._local = threading.local()  # the open batch of this thread, if any (see batch())
        self._key: bytes | None = None  # the audit key, loaded (or created) at the first write
        self._anchor: str | None = None  # and where this database's chain head is anchored
        self.identity = database_identity(engine)  # names this database's anchor (audit.write_anchor)
        self._known_positions: set[tuple[int, int | None]] = set()
        # canonical texts of the REMEMBERED rows (points) this store committed: finishing a point updates it
        # without reading it back (the update still checks the row is as remembered: status running)
        self.remembered: dict[int, dict[str, str]] = {}

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> RecordStore:
        """Connect, configure and migrate to the newest schema.

        ``url`` None means ``$MB_DB_URL``, else the per-user SQLite file (:func:`default_url`).
        ``create=False`` refuses a SQLite file that does not exist yet (read-only commands should not
        conjure empty databases); a new file is never created in a folder that does not exist (a mistyped
        path), except the per-user default. A file that is not a SQLite database, a damaged one, or another
        application's database is refused in one line naming it. Passwords never appear in messages.
        """
        default = default_url()
        url = url or os.environ.get(DB_ENV) or default
        if "://" not in url:  # a technician types a path: it is a SQLite file
            url = "sqlite:///" + str(Path(url).expanduser().absolute())
        elif url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        shown = mask_url(url)
        try:
            parsed = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError):
            raise InputError("--db", "not a database URL", allowed=URL_ALLOWED, found=shown) from None
        backend = parsed.get_backend_name()
        if backend not in ("sqlite", "postgresql"):
            raise InputError("--db", "unsupported database", allowed=URL_ALLOWED, found=shown)
        if backend == "sqlite":
            engine = sqlite_engine(parsed, create=create, make_folder=url == default)
        else:
            if (
                parsed.drivername == "postgresql"
            ):  # plain postgresql:// would pick psycopg2; we ship psycopg 3
                parsed = parsed.set(drivername="postgresql+psycopg")
            try:
                engine = sa.create_engine(
                    parsed, pool_pre_ping=True, json_serializer=encoding.json_serializer
                )
            except (sa.exc.ArgumentError, ValueError, TypeError, ImportError) as err:
                raise InputError(
                    "--db", f"not a usable PostgreSQL URL: {err}", allowed=URL_ALLOWED, found=shown
                ) from None
        store = cls(engine, url)
        try:
            store._check_foreign()
            store._migrate()
        except InputError:
            engine.dispose()
            raise
        except (sa.exc.DBAPIError, sa.exc.NoSuchModuleError, ValueError, TypeError) as err:
            engine.dispose()
            raise InputError("--db", db_problem(err), found=shown, allowed=store._fix()) from None
        except Exception as err:  # alembic: a schema revision this version does not know
            engine.dispose()
            raise InputError(
                "--db",
                f"cannot be opened: {type(err).__name__}: {str(err)[:160]}",
                found=shown,
                allowed="the records database of this MeterBench version",
            ) from None
        return store

    def _check_foreign(self) -> None:
        """Refuse another application's PostgreSQL schema rather than add our tables to it (SQLite files
        are checked read-only before connecting, see check_sqlite_file)."""
        if self._pg:
            with self._engine.connect() as conn:
                refuse_foreign(set(sa.inspect(conn).get_table_names()), mask_url(self.url))

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self._transaction(pooled=True) as tx:  # Alembic runs in SQLAlchemy's own transaction
            cfg.attributes["connection"] = tx.conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
        self._engine.dispose()

    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    @contextmanager
    def _transaction(self, *, batch: bool = False, pooled: bool = False) -> Iterator[Tx]:
        """One audited write transaction: the connection (the held one, unless ``pooled``), the PostgreSQL
        writers' lock, the Tx, its queued rows and audit entries, the commit, then the anchor. The one
        generator a single-commit write runs through (issue #14): a damaged database is named here, not by
        a context manager of its own."""
        try:
            with ((None if pooled else self._held) or self._wengine).begin() as conn:
                if self._pg:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_KEY})
                tx = Tx(conn, m.utcnow(), batch=batch)
                if batch:
                    self._local.tx = tx
                try:
                    yield tx
                    tx.flush()
                    # the key is loaded at the first write that has something to seal, not before
                    new_head = (
                        audit.append(conn, tx.entries, tx.at, self._audit_key()) if tx.entries else None
                    )
                finally:
                    if batch:
                        self._local.tx = None
        except (sa.exc.OperationalError, sa.exc.DatabaseError) as err:
            if isinstance(err, sa.exc.IntegrityError):
                raise
            raise self._damaged(err) from None
        self._committed(tx, new_head)

    def _damaged(self, err: Exception) -> InputError:
        return InputError("--db", db_problem(err), found=mask_url(self.url), allowed=self._fix())

    @contextmanager
    def _damage_named(self, *, reading: bool = False) -> Iterator[None]:
        """A damaged page met later than opening (or a lost server) is one line naming the database."""
        try:
            yield
        except InputError:
            raise
        except (sa.exc.OperationalError, sa.exc.DatabaseError) as err:
            if isinstance(err, sa.exc.IntegrityError):
                raise
            raise self._damaged(err) from None
        except (UnicodeDecodeError, ValueError, OverflowError) as err:  # a stored value the file garbled
            if not reading:
                raise
            raise InputError(
                "--db",
                f"holds a damaged record that cannot be read ({type(err).__name__}: {str(err)[:80]})",
                found=mask_url(self.url),
                allowed=self._fix(),
            ) from None

    def _fix(self) -> str:
        return "check the server, the database name and the credentials" if self._pg else DB_FIX

    def _write(self) -> contextlib.AbstractContextManager[Tx]:
        """The write's transaction: this thread's open batch (committed when the batch ends), or its own."""
        batch = getattr(self._local, "tx", None)
        if batch is not None:
            return contextlib.nullcontext(batch)
        return self._transaction()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Writes made inside (by this thread) form one audited transaction: all committed when the block
        ends, none if it raises. For records taken at the same moment, e.g. one gate's readings on every
        position: each is still committed when it is taken, at a fraction of the cost of a commit each.
        """
        if getattr(self._local, "tx", None) is not None:  # nested: the outer batch commits
            yield
            return
        with self._transaction(batch=True):
            yield

    def _audit_key(self) -> bytes:
        if self._key is None:
            self._key = audit.load_key(create=True)
            self._anchor = audit.anchor_file(self.identity)  # found with the key, once (not per commit)
        return self._key

    def _committed(self, tx: Tx, new_head: tuple[int, str] | None) -> None:
        """After the commit: the chain head goes to the anchor file outside the database, and the rows the
        transaction wrote are remembered (only now: a rolled-back row id may be given out again)."""
        if new_head is not None:
            audit.write_anchor(self.identity, *new_head, path=self._anchor)
        if tx.remembered:
            if len(self.remembered) > 20_000:  # a long-lived store (the GUI) forgets old runs' points
                self.remembered.clear()
            self.remembered.update(tx.remembered)

    @contextmanager
    def _read(self) -> Iterator[sa.Connection]:
        with self._damage_named(reading=True), self._engine.connect() as conn:
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

    def mark_interrupted(self, run_id: int) -> None:
        """This process stops its run (Ctrl-C, a signal): the run and its unfinished points are interrupted."""
        with self._write() as tx:
            self._interrupt(tx, run_id)

    def _interrupt(self, tx, run_id: int) -> None:
        tx.update(m.runs, run_id, {"status": "interrupted"})
        p = m.points.c
        for pid in (
            tx.conn.execute(sa.select(p.id).where(p.run_id == run_id, p.status == "running")).scalars().all()
        ):
            tx.update(
                m.points,
                pid,
                {"status": "interrupted", "message": "process ended mid-point", "finished_at": tx.at},
            )

    def recover_interrupted(self, *, stale_after_s: float = 300.0) -> list[int]:
        """Runs left "running" whose process is gone -> "interrupted" (and their unfinished points).

        Same host: the recorded pid is not alive. Other host: no heartbeat for ``stale_after_s``.
        """
        here = socket.gethostname()
        with self._read() as conn:  # nothing running: no write at all (reading the records writes nothing)
            if (
                conn.execute(sa.select(m.runs.c.id).where(m.runs.c.status == "running").limit(1)).first()
                is None
            ):
                return []
        with self._write() as tx:
            now = tx.at
            found = []
            for run in tx.conn.execute(sa.select(m.runs).where(m.runs.c.status == "running")).mappings():
                if run["hostname"] == here:
                    gone = not pid_alive(run["pid"])
                else:
                    gone = now - run["heartbeat_at"] > timedelta(seconds=stale_after_s)
                if gone:
                    found.append(run["id"])
            for run_id in found:
                self._interrupt(tx, run_id)
            return found

    def mark_resumed(self, run_id: int, *, elsewhere: dict | None = None) -> None:
        """An interrupted run continues under this process (status back to "running"); ``elsewhere``: it
        continues on other instruments, with the technician's reason (kept in the run's settings)."""
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
            changes = {
                "status": "running",
                "pid": os.getpid(),
                "hostname": socket.gethostname(),
                "resumes": run["resumes"] + 1,
            }
            if elsewhere:
                settings = dict(run["settings"] or {})
                settings["resumed_elsewhere"] = [*settings.get("resumed_elsewhere", []), elsewhere]
                changes["settings"] = settings
            tx.update(m.runs, run_id, changes)
            tx.conn.execute(sa.update(m.runs).where(m.runs.c.id == run_id).values(heartbeat_at=tx.at))

    # ------------------------------------------------------------------ audit
    def verify_audit(self) -> list[str]:
        """Problems found in the audit chain and audited rows; ``[]`` when everything is intact."""
        key = audit.load_key(create=False)
        with self._read() as conn:
            return audit.verify(conn, key, audit.read_anchor(self.identity))

    def audit_head(self) -> str | None:
        """The chain head as ``"<seq>:<hash>"`` (recorded in certificates), or None for an empty log."""
        with self._read() as conn:
            h = audit.head(conn)
        return f"{h[0]}:{h[1]}" if h else None

    def audit_entry(self, seq: int) -> str | None:
        """The hash of audit entry ``seq``, or None when the log has no such entry."""
        with self._read() as conn:
            return conn.execute(sa.select(m.audit_log.c.hash).where(m.audit_log.c.seq == seq)).scalar()
