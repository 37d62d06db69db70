"""Opening a records database safely: the per-user default, which URLs and files are ours, what a damaged
or foreign file is called, and masking passwords wherever a URL is printed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from procedures.errors import InputError

if TYPE_CHECKING:  # SQLAlchemy is imported by the functions that open a database, not by `--help`
    import sqlalchemy as sa

PG_LOCK_KEY = 0x4D42_5245  # "MBRE": one advisory lock serialises all audited writers
NETWORK_FS = {
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
URL_ALLOWED = "sqlite:///PATH (a local file) or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"


def default_url() -> str:
    """The per-user SQLite file: ``platformdirs.user_data_path("meterbench")/meterbench.sqlite``."""
    import platformdirs

    path = platformdirs.user_data_path("meterbench", appauthor=False) / "meterbench.sqlite"
    return f"sqlite:///{path}"


def in_user_data(path: Path) -> bool:
    import platformdirs

    return path.resolve().is_relative_to(platformdirs.user_data_path("meterbench", appauthor=False).resolve())


def filesystem_type(path: Path) -> str | None:
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


def database_identity(engine: sa.Engine) -> str:
    """Which database this is, for its audit anchor: the SQLite file's real path, or the PostgreSQL
    server, database and options (schema), never the password."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return "sqlite:" + str(Path(url.database or "").resolve())
    return url.set(drivername="postgresql", password=None).render_as_string(hide_password=True)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for every message that prints a database URL. Up to
    the last ``@`` before the host, so a password holding ``@`` does not leak its tail."""
    import re

    return re.sub(r"(://[^:/@\s]*:)[^/\s]*@", r"\1***@", str(url))


DB_ENV = "MB_DB_URL"
SQLITE_MAGIC = b"SQLite format 3\x00"
DB_FIX = "restore the file from a backup, or give another --db (the file was left as it is)"


def check_sqlite_file(path: Path) -> None:
    """A file that is there must be a SQLite database (or empty), readable by us."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as err:
        raise InputError("--db", f"cannot be read: {err.strerror}", found=str(path)) from None
    if head and head != SQLITE_MAGIC:
        raise InputError(
            "--db", "is not a SQLite database file (wrong file, or damaged)", found=str(path), allowed=DB_FIX
        )
    if not head:
        return
    import sqlite3

    # Read-only and before our engine sets WAL: a foreign or damaged file is left byte for byte as it was.
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except (sqlite3.DatabaseError, UnicodeDecodeError) as err:
        raise InputError("--db", db_problem(err), found=str(path), allowed=DB_FIX) from None
    refuse_foreign(names, str(path))


def refuse_foreign(names: set[str], shown: str) -> None:
    """Another application's database is refused rather than given our tables."""
    from bench.records import models as m

    ours = {t.name for t in m.metadata.sorted_tables} | {"alembic_version"}
    if names and "alembic_version" not in names and not names <= ours:
        listed = ", ".join(sorted(names)[:5])
        raise InputError(
            "--db",
            f"is another application's database (tables: {listed}), not MeterBench records",
            found=shown,
            allowed="a MeterBench records database, or a new file",
        )


def db_problem(err: Exception) -> str:
    """A database error as a short sentence, without the SQL or the URL it came with."""
    orig = getattr(err, "orig", None) or err
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = text.lower()
    if "malformed" in low or "not a database" in low or "file is encrypted" in low:
        return f"is damaged or not a SQLite database ({text})"
    return f"cannot open the database: {mask_url(text)}"


def pid_alive(pid: int) -> bool:
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


def sqlite_engine(url: sa.URL, *, create: bool, make_folder: bool = False) -> sa.Engine:
    """A SQLite engine on a local file, WAL, one writer; refuses folders, missing folders, network shares,
    damaged and foreign files in one line (nothing is created where the user evidently meant another file)."""
    if not url.database or url.database == ":memory:":
        raise InputError(
            "--db",
            "records need a SQLite file, not an in-memory database",
            allowed=URL_ALLOWED,
            found=str(url),
        )
    path = Path(url.database).expanduser()
    if path.is_dir():
        raise InputError(
            "--db",
            "is a folder, not a database file",
            found=str(path),
            allowed="sqlite:///PATH/TO/records.sqlite",
        )
    if not path.exists():
        if not create:
            raise InputError(
                "--db",
                "no records database at this path",
                found=str(path),
                allowed="the path of an existing records file (check for a typo), or $MB_DB_URL",
            )
        if make_folder or in_user_data(path):  # our own per-user files: their folder is ours to make
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.parent.is_dir():
            raise InputError(
                "--db",
                f"the folder {path.parent} does not exist (a mistyped path?)",
                found=str(path),
                allowed="a path in an existing folder; nothing was created",
            )
    else:
        check_sqlite_file(path)
    fstype = filesystem_type(path.parent)
    if fstype in NETWORK_FS:
        raise InputError(
            "--db",
            f"SQLite file is on a network share ({fstype}); SQLite locking is not safe there",
            allowed="a local disk, or a PostgreSQL URL for shared records",
            found=str(path),
        )
    import sqlite3

    import sqlalchemy as sa
    from sqlalchemy import event

    from bench.records.encoding import json_serializer

    engine = sa.create_engine(
        url.set(database=str(path)), connect_args={"timeout": 30}, json_serializer=json_serializer
    )

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
        # sent to the driver directly (SQLAlchemy's statement machinery costs more than the BEGIN, once per
        # committed reading); a driver error is raised as SQLAlchemy's, as exec_driver_sql would
        driver = conn.connection.driver_connection
        if driver.in_transaction:  # begun by the held write connection (bench.records.held): join it
            return
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get("mb_write") else "BEGIN"
        try:
            driver.execute(sql)
        except sqlite3.Error as err:
            raise sa.exc.DBAPIError.instance(sql, (), err, sqlite3.Error) from err

    return engine
