"""Test records: the audited store every run writes to, and the queries reports and exports read.

``RecordStore.open(url)`` gives SQLite (one file per bench, WAL) or PostgreSQL (several benches) with
the schema migrated to head; see :mod:`bench.records.store` and :mod:`bench.records.audit`.
"""

from bench.records.store import RecordStore, default_url

__all__ = ["RecordStore", "default_url"]
