"""Alembic environment: runs on the connection RecordStore hands over (``config.attributes``).

The store has already opened a write transaction holding the database's write lock, so two processes
opening the same fresh database cannot both create the tables. ``render_as_batch`` lets future
ALTERs work on SQLite (copy-and-move table rebuilds).
"""

from alembic import context

from bench.records.models import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached from the alembic CLI, which we do not ship
    raise RuntimeError("run migrations through bench.records.RecordStore.open(url)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
