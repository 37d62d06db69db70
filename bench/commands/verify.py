"""meterbench verify: is this certificate intact, validly signed, PDF/A, and does it say what the records say?

Checks the PAdES signature (one changed byte fails it), the PDF/A-2b status, and recomputes the content
hash from the records database to compare with the hash the signed PDF carries.
Exit 0 when every check passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from procedures.errors import InputError

ORDER = 40


def run(args) -> int:
    from bench.certify import build_certificate_data
    from bench.session import open_store
    from reports.model import content_hash
    from reports.verify import verify_pdf

    path = Path(args.file)
    if not path.is_file():
        raise InputError("FILE", "no such certificate file", found=str(path))
    report = verify_pdf(path, trust_roots=args.trust or None)
    problems = list(report.problems)
    lines = [
        f"Certificate      {report.certificate_number or '(none found)'}",
        f"Signature        {'intact' if report.signature_intact else 'BROKEN'}, "
        f"{'valid' if report.signature_valid else 'NOT VALID'}" + (f" - signed by {report.signer}" if report.signer else ""),
        f"PDF/A-2b         {'conforms' if report.pdfa_ok else 'DOES NOT CONFORM'}",
    ]  # fmt: skip
    if not args.no_db:
        store = open_store(args.db, create=False)
        try:
            rec = store.find_certificate(report.certificate_number or "")
            if rec is None:
                problems.append(f"the records ({store.url}) have no certificate {report.certificate_number}")
                lines.append("Records          NOT FOUND")
            else:
                record = store.run_record(rec["run_id"])
                mine = [c for c in record["certificates"] if c["position"] == rec["position"]]
                revision = [c["id"] for c in mine].index(rec["id"])
                data = build_certificate_data(record, rec["position"], revision=revision)
                recomputed = content_hash(data)
                match = recomputed == report.content_hash == rec["content_hash"]
                as_issued = report.content_hash == rec["content_hash"]
                if match:
                    lines.append(f"Records          content matches run {rec['run_id']}")
                elif as_issued and not store.verify_audit():
                    # Issued as it says (the audited hash recorded at issue), but a point was retested since:
                    # authentic, not current.
                    later = [c["number"] for c in mine if c["id"] > rec["id"]]
                    lines.append("Records          content as issued (the audited hash recorded at issue); "
                                 + (f"SUPERSEDED by certificate {later[-1]}" if later else
                                    "SUPERSEDED: results were retested after issue and not yet certified again"))  # fmt: skip
                else:
                    lines.append("Records          CONTENT DIFFERS")
                    problems.append(
                        "the content hash in the PDF differs from the one recomputed from the records"
                    )
        finally:
            store.close()
    for line in lines:
        print(line)
    for p in problems:
        print(f"  problem: {p}")
    ok = report.signature_intact and report.signature_valid and report.pdfa_ok and not problems
    print("VERIFIED" if ok else "NOT VERIFIED")
    return 0 if ok else 1


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("verify", help="verify a certificate PDF: signature, PDF/A, and content against the records",
                       description=__doc__)  # fmt: skip
    p.add_argument("file", metavar="FILE.pdf")
    p.add_argument("--db", metavar="URL", help="records database URL (default: SQLite in the user data dir)")
    p.add_argument("--trust", action="append", metavar="CERT.pem", help="a trusted signer or CA certificate")
    p.add_argument("--no-db", action="store_true", help="check signature and PDF/A only")
    p.set_defaults(func=run)
    return p
