"""``meterbench audit verify``: check the records' hash-chained audit log.

    meterbench audit verify [--db URL]

Exit 0 when the chain is intact and every record matches what was written; exit 1 listing each edited,
deleted or unaudited row, each edited, deleted or re-hashed audit entry (the chain is sealed with the
bench's audit key, see bench.records.audit), and a log shorter than the head this bench anchored outside
the database (a truncated tail, a rolled-back run, an emptied log).
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
    from bench.records import audit

    store = open_store(args)
    try:
        problems = store.verify_audit()
        anchor = audit.read_anchor(store.identity)
    finally:
        store.close()
    key = audit.load_key(create=False)
    if not problems:
        print("audit log intact: sealed chain verified and every record matches it")
    if key is not None:
        print(f"  audit key {audit.key_fingerprint(key)} ({audit.key_path()})")
    print(
        f"  anchored head: entry seq {anchor['seq']} (kept outside the database by this bench)"
        if anchor
        else "  no anchor on this bench for this database: truncation or rollback cannot be ruled out here "
        "(a certificate's recorded chain head can still show it)"
    )
    if not problems:
        return 0
    print(f"audit log: {len(problems)} problem(s) found")
    for p in problems:
        print(f"  {p}")
    return 1
