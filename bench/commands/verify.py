"""meterbench verify: is this certificate (PDF) or DCC (XML) what the laboratory issued, and does it say
what the records say?

    meterbench verify FILE.pdf|FILE.xml [--trust CERT.pem] [--db URL] [--lab FILE] [--no-db]

Without the records it checks the PAdES signature (one changed byte fails it; an unsigned file is "not
signed"), the PDF/A-2b status, and for a DCC that the XML still hashes to the value its embedded, signed
PDF carries. A valid signature proves only that the holder of the signing key signed the file — a bench
key signs whatever it is given — so with the records (--db, else $MB_DB_URL, else the per-user file) it
also renders the certificate afresh from them and compares every page's text (errors, U, limits,
verdicts, the outcome), recomputes the content hash, rebuilds the DCC's values, and checks that the
audit chain entry the certificate recorded at issue is still in the records unchanged. It ends by
listing what it could not check.

Exit codes: 0 VERIFIED (every check passes and the certificate is current); 4 VERIFIED, BUT SUPERSEDED (the
file is authentic as issued, but a point was retested since: a later certificate, or none yet, replaces
it, so do not accept it as the meter's current certificate); 1 NOT VERIFIED; 2 bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from procedures.errors import InputError

ORDER = 40

_WITHOUT_RECORDS = (
    "the printed values (errors, U, limits, verdicts, outcome) against the records",
    "the content hash against the records",
    "that the records' audit chain still holds the entry recorded at issue",
)


def _signature_line(report) -> str:
    if report is None:
        return "Signature        none (the DCC embeds no PDF)"
    if not report.signed:
        return "Signature        not signed"
    return (
        f"Signature        {'intact' if report.signature_intact else 'BROKEN'}, "
        f"{'valid' if report.signature_valid else 'NOT VALID'}"
        + (f" - signed by {report.signer}" if report.signer else "")
    )


def run(args) -> int:
    from reports.verify import verify_dcc, verify_pdf

    path = Path(args.file)
    if not path.is_file():
        raise InputError("FILE", "no such certificate file", found=str(path))
    trust = args.trust or None
    try:
        head = path.open("rb").read(1024)
    except OSError as err:
        raise InputError("FILE", f"cannot be read: {err.strerror}", found=str(path)) from None
    is_dcc = path.suffix.lower() == ".xml" or head.lstrip().startswith(b"<")
    if not is_dcc and b"%PDF-" not in head:
        raise InputError(
            "FILE",
            "is neither a PDF certificate nor a DCC (XML) file",
            found=str(path),
            allowed="a certificate .pdf or its .xml DCC",
        )
    dcc = None
    if is_dcc:
        dcc = verify_dcc(path, trust)
        report, pdf = dcc.pdf_report, dcc.pdf
        number = dcc.certificate_number
        problems = list(dcc.problems)
    else:
        report = verify_pdf(path, trust)
        pdf = path.read_bytes()
        number = report.certificate_number
        problems = list(report.problems)
    lines = [f"Certificate      {number or '(none found)'}", _signature_line(report)]
    if report is not None:
        lines.append(f"PDF/A-2b         {'conforms' if report.pdfa_ok else 'DOES NOT CONFORM'}")
    if dcc is not None:
        lines.append(
            "DCC XML          "
            + (
                "intact: hashes to the value its signed PDF carries"
                if dcc.integrity_ok
                else "NOT AUTHENTICATED: hashes to the value its PDF carries, but that PDF is not signed"
                if dcc.hash_matches
                else "NOT AUTHENTICATED"
            )
        )
    unchecked: list[str] = []
    superseded = None
    if args.no_db:
        unchecked += _WITHOUT_RECORDS
    else:
        superseded = _check_records(args, report, pdf, dcc, path, number, lines, problems, unchecked)
    if report is not None and not report.signed:
        unchecked.append("who issued it: an unsigned file can be checked only against the records")
    for line in lines:
        print(line)
    for p in problems:
        print(f"  problem: {p}")
    if unchecked:
        print("Not checked:")
        for u in unchecked:
            print(f"  - {u}")
    ok = report is not None and report.signed and report.signature_intact and report.signature_valid
    ok = ok and report.pdfa_ok and not problems and (dcc is None or dcc.integrity_ok)
    from bench.cli import EXIT_FAILED, EXIT_OK, EXIT_SUPERSEDED

    if not ok:
        print("NOT VERIFIED")
        return EXIT_FAILED
    if superseded is not None:  # authentic but withdrawn: a script on the exit code must not accept it
        print(f"VERIFIED, BUT SUPERSEDED {superseded}: not the meter's current certificate")
        return EXIT_SUPERSEDED
    print("VERIFIED")
    return EXIT_OK


def _changed_since(rec: dict, record: dict, mine: list[dict]) -> bool:
    """Whether the position's results moved on after this certificate: a later certificate, or a point of
    the position finished after it was issued (a retest)."""
    from datetime import datetime

    def when(text) -> datetime | None:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")) if text else None

    issued = when(rec.get("issued_at"))
    if any(c["id"] > rec["id"] for c in mine) or issued is None:
        return True
    return any(
        q["position"] == rec["position"] and (t := when(q.get("finished_at"))) is not None and t > issued
        for q in record["points"]
    )


def _check_records(args, report, pdf, dcc, path, number, lines, problems, unchecked) -> str | None:
    """Compare with the records; returns what supersedes the certificate ("by <number>", or why), if any."""
    superseded = None
    from bench.certify import build_certificate_data, configured_laboratory
    from bench.records.options import open_store
    from bench.records.store import mask_url
    from reports.certificate import render_certificate
    from reports.dcc import build_dcc, dcc_data_hash
    from reports.layout import LAYOUT_REVISION
    from reports.model import content_hash
    from reports.verify import compare_pages

    lab = configured_laboratory(args.lab)
    store = open_store(args)
    try:
        rec = store.find_certificate(number) if number else None
        if rec is None:
            problems.append(f"the records ({mask_url(store.url)}) have no certificate {number}")
            lines.append("Records          NOT FOUND")
            unchecked.extend(_WITHOUT_RECORDS)
            return
        record = store.run_record(rec["run_id"])
        mine = [c for c in record["certificates"] if c["position"] == rec["position"]]
        revision = [c["id"] for c in mine].index(rec["id"])
        data = build_certificate_data(record, rec["position"], revision=revision, lab=lab)
        recomputed = content_hash(data)
        carried = report.content_hash if report is not None else dcc.content_hash
        if recomputed == carried == rec["content_hash"]:
            lines.append(f"Records          content matches run {rec['run_id']}")
            if pdf and report is not None and report.layout != LAYOUT_REVISION:
                # printed by an earlier version of the certificate's layout: today's rendering of the same
                # records reads differently, which says nothing about tampering
                printed = f"layout {report.layout}" if report.layout else "a layout before revision 2"
                lines.append(
                    f"Pages            not compared: printed with {printed}; this version prints layout "
                    f"{LAYOUT_REVISION}"
                )
                unchecked.append("the printed values against the records (an earlier certificate layout)")
            elif pdf:
                plain = render_certificate(
                    data,
                    page_size=report.page_size if report else "letter",
                    sha256=recomputed,
                    signed=bool(report and report.signed),
                    audit_head=report.audit_head if report else None,
                )
                diffs = compare_pages(pdf, plain)
                problems.extend(diffs)
                lines.append(
                    "Pages            "
                    + (
                        "every page reads as rendered from the records"
                        if not diffs
                        else "PRINTED VALUES DIFFER FROM THE RECORDS"
                    )
                )
            if dcc is not None:
                want = dcc_data_hash(build_dcc(data, recomputed, audit_head=dcc.audit_head))
                same = want == dcc_data_hash(path.read_bytes())
                lines.append(
                    "DCC values       " + ("equal the records" if same else "DIFFER FROM THE RECORDS")
                )
                if not same:
                    problems.append("the DCC's values differ from those rebuilt from the records")
        elif (
            carried == rec["content_hash"]
            and not store.verify_audit()
            and not _changed_since(rec, record, mine)
        ):
            # Issued as it says (the audited hash recorded at issue) and nothing of its position recorded
            # since: this version of MeterBench builds a certificate's content differently (its wording)
            lines.append(
                "Records          content as issued (the audited hash recorded at issue), its results "
                "unchanged since; this version words a certificate differently, so its content was not rebuilt"
            )
            unchecked.append(
                "the printed values against the records (certificate content built differently today)"
            )
        elif carried == rec["content_hash"] and not store.verify_audit():
            # Issued as it says (the audited hash recorded at issue), but a point was retested since:
            # authentic, not current.
            later = [c["number"] for c in mine if c["id"] > rec["id"]]
            superseded = f"by {later[-1]}" if later else "(retested after issue, not yet certified again)"
            lines.append(
                "Records          content as issued (the audited hash recorded at issue); "
                + (
                    f"SUPERSEDED by certificate {later[-1]}"
                    if later
                    else "SUPERSEDED: results were retested after issue and not yet certified again"
                )
            )
            unchecked.append(
                "the printed values: the records now hold the retested results, not those issued"
            )
        else:
            lines.append("Records          CONTENT DIFFERS")
            problems.append(
                "the content hash in the certificate differs from the one recomputed from the records"
            )
        head = (report.audit_head if report is not None else None) or (dcc.audit_head if dcc else None)
        if head:
            seq, _, mac = head.partition(":")
            now = store.audit_entry(int(seq))
            if now == mac:
                lines.append(f"Audit chain      entry {seq} recorded at issue is present and unchanged")
            else:
                lines.append(
                    "Audit chain      ENTRY RECORDED AT ISSUE " + ("MISSING" if now is None else "CHANGED")
                )
                problems.append(
                    f"the records' audit log no longer holds entry {seq} as it was when this "
                    "certificate was issued: the records were rewritten, rolled back or truncated"
                )
        else:
            unchecked.append("the audit chain head (this certificate records none)")
    finally:
        store.close()
    return superseded


def register(sub) -> argparse.ArgumentParser:
    from bench.records.options import add_db_option

    p = sub.add_parser(
        "verify",
        help="verify a certificate (PDF) or DCC (XML): signature, pages and values against the records",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", metavar="FILE")
    add_db_option(p)
    p.add_argument("--trust", action="append", metavar="CERT.pem", help="a trusted signer or CA certificate")
    p.add_argument(
        "--lab",
        metavar="FILE",
        help="the laboratory file the certificate was issued with "
        "(default: $MB_LABORATORY, else the demonstration laboratory)",
    )
    p.add_argument("--no-db", action="store_true", help="check signature, PDF/A and DCC binding only")
    p.set_defaults(func=run)
    return p
