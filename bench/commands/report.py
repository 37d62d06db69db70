"""meterbench report: regenerate a run's certificates from the records database."""

from __future__ import annotations

import argparse

ORDER = 30


def run(args) -> int:
    from bench.certify import configured_laboratory, issue_for_run
    from bench.session import open_store

    store = open_store(args.db, create=False)
    try:
        store.run_record(args.run_id)  # InputError when there is no such run
        issued = issue_for_run(
            store,
            args.run_id,
            args.out,
            sign=args.sign,
            lab=configured_laboratory(args.lab),
            positions=[args.position] if args.position else None,
        )
    finally:
        store.close()
    for c in issued:
        print(f"{c.certificate_number}: {c.pdf_path}" + (f"  DCC {c.dcc_path}" if c.dcc_path else ""))
    for pos, reason in sorted((getattr(issued, "not_issued", None) or {}).items()):
        print(f"Position {pos}: no certificate: {reason}")
    if not issued:
        print("no certificate issued")
        return 1
    return 0


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="regenerate certificates of a recorded run", description=__doc__)
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    p.add_argument("--position", type=int, help="only this position")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the certificates")
    p.add_argument("--db", metavar="URL", help="records database URL")
    p.add_argument("--sign", action="store_true", help="sign with the configured signing identity")
    p.add_argument(
        "--lab", metavar="FILE", help="laboratory named on the certificates (default: $MB_LABORATORY)"
    )
    p.set_defaults(func=run)
    return p
