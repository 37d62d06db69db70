"""Command-line options the records commands share: --db, the run filters, and date parsing.

Dates: ``YYYY-MM-DD`` or an ISO 8601 time (``2026-11-21T14:00``, ``...Z``, ``...+02:00``); a time
without an offset is UTC. ``--until`` with a bare date includes that whole day.
"""

from __future__ import annotations

import argparse
import contextlib
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bench.records.opening import DB_ENV
from procedures.errors import InputError

if TYPE_CHECKING:  # the store (SQLAlchemy) is imported when a command opens it, not to build --help
    from bench.records.store import RecordStore

_DATE_ALLOWED = "YYYY-MM-DD or an ISO 8601 time such as 2026-11-21T14:30 or 2026-11-21T14:30Z (UTC unless an offset is given)"


def add_db_option(parser: argparse.ArgumentParser, *, suppress_default: bool = False) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=argparse.SUPPRESS if suppress_default else None,
        help=f"records database: sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB "
        f"(default: ${DB_ENV}, else the per-user SQLite file)",
    )


def add_filter_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--serial", help="only runs that tested this meter serial")
    parser.add_argument("--form", help="only runs with a meter of this form, e.g. 2S")
    parser.add_argument("--outcome", help="passed, failed, aborted, error, running or interrupted")
    parser.add_argument("--since", metavar="DATE", help="runs started on or after DATE (UTC)")
    parser.add_argument(
        "--until", metavar="DATE", help="runs started up to DATE (a bare date includes that day)"
    )
    parser.add_argument("--bench", help="only runs on this bench (name)")


OUTCOME_FILTERS = ("passed", "failed", "aborted", "error", "running", "interrupted")


def parse_when(text: str | None, option: str, *, end: bool = False) -> datetime | None:
    """A --since/--until value as an aware UTC datetime; ``end`` makes a bare date exclusive-next-day."""
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start + timedelta(days=1) if end else start
        when = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(option, "not a date or time", allowed=_DATE_ALLOWED, found=text) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def filters(args: argparse.Namespace) -> dict:
    """The run filters from parsed options, validated, as keyword arguments for the store's queries."""
    if args.outcome is not None and args.outcome not in OUTCOME_FILTERS:
        raise InputError("--outcome", "not a run outcome", allowed=OUTCOME_FILTERS, found=args.outcome)
    since = parse_when(args.since, "--since")
    until = parse_when(args.until, "--until", end=True)
    if since and until and until <= since:
        raise InputError("--until", "is not after --since", found=args.until, allowed="a time after --since")
    return {
        "serial": args.serial,
        "form": args.form,
        "outcome": args.outcome,
        "since": since,
        "until": until,
        "bench": args.bench,
    }


def open_store(args: argparse.Namespace) -> RecordStore:
    """The store named by --db (or $MB_DB_URL, or the per-user file); never creates a new SQLite file."""
    from bench.records.store import RecordStore

    store = RecordStore.open(getattr(args, "db", None), create=False)
    # a run whose process died shows as interrupted as soon as anyone looks, not "running"; reading the
    # records must not fail for want of that write
    with contextlib.suppress(Exception):
        store.recover_interrupted()
    return store
