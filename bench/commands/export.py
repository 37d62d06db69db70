"""``meterbench export``: point results as a table for spreadsheets and fleet analysis.

    meterbench export --format csv|xlsx|parquet|json [--out FILE] [--serial S] [--form F]
                      [--outcome O] [--since DATE] [--until DATE] [--bench B] [--db URL]

One row per test point per position (its result, limits, verdict and how many readings), newest run
last. ``error_percent`` is %R - 100 (positive = meter fast); ``expanded_percent`` is its expanded
uncertainty U at ``coverage_factor``. Times are UTC. csv and json go to stdout without --out; xlsx and
parquet need --out. A file is written whole or not at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from bench.records.options import add_db_option, add_filter_options, filters, open_store
from procedures.errors import InputError

ORDER = 70
FORMATS = ("csv", "xlsx", "parquet", "json")
_BINARY = ("xlsx", "parquet")


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export point results as csv, xlsx, parquet or json",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--format", required=True, help="csv, xlsx, parquet or json")
    parser.add_argument("--out", metavar="FILE", help="write here (required for xlsx and parquet)")
    add_filter_options(parser)
    add_db_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    fmt = (args.format or "").lower()
    if fmt not in FORMATS:
        raise InputError("--format", "not an export format", allowed=FORMATS, found=args.format)
    if fmt in _BINARY and not args.out:
        raise InputError("--out", f"{fmt} is a binary format and needs a file", allowed=f"--out FILE.{fmt}")
    out = Path(args.out) if args.out else None
    if out is not None and not out.parent.is_dir():
        raise InputError("--out", "the folder does not exist", found=str(out))
    where = filters(args)
    store = open_store(args)
    try:
        rows = store.point_rows(**where)
    finally:
        store.close()
    data = _render(rows, fmt)
    if out is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        _write_whole(out, data)
        print(f"wrote {len(rows)} point row(s) to {out}", file=sys.stderr)
    return 0


#: What a spreadsheet reads as the start of a formula (or of DDE): such a cell is written with a leading
#: apostrophe so it is shown as the text it is (OWASP "CSV injection"). Numbers are not text and keep their sign.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell that a spreadsheet would run as a formula, prefixed with ``'``; other values unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _safe(rows: list[dict]) -> list[dict]:
    return [{k: neutralise(v) for k, v in r.items()} for r in rows]


def _frame(rows: list[dict], fmt: str):
    import pandas as pd

    from bench.records.rows import POINT_ROW_COLUMNS

    df = pd.DataFrame(_safe(rows) if fmt == "xlsx" else rows, columns=list(POINT_ROW_COLUMNS))
    if fmt == "parquet":
        df["started_at"] = pd.to_datetime(df["started_at"], utc=True)
    else:  # Excel cannot hold timezone-aware times: naive UTC, as every export time is UTC
        df["started_at"] = pd.to_datetime(df["started_at"], utc=True).dt.tz_localize(None)
    return df


def _render(rows: list[dict], fmt: str) -> bytes:
    from bench.records.audit import iso
    from bench.records.rows import POINT_ROW_COLUMNS

    if fmt == "json":
        plain = [{k: (iso(v) if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
        return (json.dumps(plain, indent=2) + "\n").encode("utf-8")
    if fmt == "csv":
        plain = [{k: (iso(v) if isinstance(v, datetime) else v) for k, v in r.items()} for r in rows]
        import pandas as pd

        return pd.DataFrame(_safe(plain), columns=list(POINT_ROW_COLUMNS)).to_csv(index=False).encode("utf-8")
    import io

    buf = io.BytesIO()
    if fmt == "xlsx":
        _frame(rows, fmt).to_excel(buf, index=False, sheet_name="points", engine="openpyxl")
    else:
        _frame(rows, fmt).to_parquet(buf, index=False)
    return buf.getvalue()


def _write_whole(out: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
