"""Test records: the audited store every run writes to, and the queries reports and exports read.

``RecordStore.open(url)`` gives SQLite (one file per bench, WAL) or PostgreSQL (several benches) with
the schema migrated to head; see :mod:`bench.records.store` and :mod:`bench.records.audit`.

The names below load on first use, so a command that only builds its argument parser (``--help``) does
not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.records.store import RecordStore, default_url

__all__ = ["RecordStore", "default_url"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from bench.records import store

        return getattr(store, name)
    raise AttributeError(f"module 'bench.records' has no attribute {name!r}")
