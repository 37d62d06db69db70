"""``meterbench audit verify``: check the records' hash-chained audit log.

    meterbench audit verify [--db URL]

Exit 0 when the chain is intact and every record matches what was written; exit 1 listing each edited,
deleted or unaudited row and each edited or deleted audit entry.
"""

from __future__ import annotations

import argparse

from bench.records.options import add_db_option, open_store

ORDER = 65


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "audit",
        help="verify the records' tamper-evident audit log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(
        dest="audit_command", metavar="ACTION", parser_class=type(parser), required=True
    )
    verify = sub.add_parser("verify", help="recompute the hash chain and compare every record with it")
    add_db_option(verify)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    store = open_store(args)
    try:
        problems = store.verify_audit()
    finally:
        store.close()
    if not problems:
        print("audit log intact: hash chain verified and every record matches it")
        return 0
    print(f"audit log: {len(problems)} problem(s) found")
    for p in problems:
        print(f"  {p}")
    return 1
