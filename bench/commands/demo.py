"""meterbench demo: a simulated 2S board through starting, creep, LL, PF and FL, recorded and certified.

Runs on embedded defaults: a simulated three-position 2S bench (virtual time), the records in a demo SQLite
file in the user data directory, apart from the shop's real records (or --db), and a signed PDF/A certificate with its DCC XML per meter in
./certificates (or --out). The signing identity is a throw-away demonstration one; its public certificate
is written beside the certificates so `meterbench verify --trust` can check them.
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

ORDER = 1


def run(args) -> int:
    from bench.certify import ephemeral_demo_signer, issue_for_run
    from bench.cli import EXIT_INSTRUMENT, EXIT_OK
    from bench.kernel import KernelSettings
    from bench.progress import ProgressView
    from bench.safety import sigterm_as_interrupt
    from bench.service import RunService
    from bench.session import RunRequest
    from bench.summary import print_summary

    bench_file = resources.files("bench.data").joinpath("demo-bench.toml")
    out = Path(args.out or Path.cwd() / "certificates")
    with resources.as_file(bench_file) as path:
        # the demo's simulated runs go to a database of their own, never into the shop's records
        db = args.db or demo_url()
        req = RunRequest(
            bench_file=str(path),
            plan="ansi-c12.20-2s",
            operator=args.operator or "demo technician",
            db_url=db,
            json_out=args.json_out,
            settings=KernelSettings(),
        )
        with sigterm_as_interrupt(), ProgressView(title="MeterBench demo: 2S board", plain=True) as view:
            service = RunService(db_url=db)
            outcome, store = service.run(req, [view] if args.verbose else []), service.store
    try:
        issued = []
        if outcome.outcome in ("passed", "failed"):
            out.mkdir(parents=True, exist_ok=True)
            signer, cert_path = ephemeral_demo_signer(out / "demo-signer")
            issued = issue_for_run(store, outcome.run_id, out, signer=signer)
        print_summary(store.run_record(outcome.run_id), issued)
        print(
            "Demo board: socket 3 holds a meter that does not start at its starting current; its FAIL is the "
            "expected result, so the run as a whole is FAILED."
        )
        from bench.records.store import mask_url

        print(f"Records: {mask_url(store.url)}")
        if issued:
            print(
                f"Verify a certificate: meterbench verify {issued[0].pdf_path} --trust {cert_path} --db {db}"
            )
    finally:
        store.close()
    # The demo board has a meter that fails to start: a failed meter is a correct demo, not an error.
    return EXIT_OK if outcome.outcome in ("passed", "failed") else EXIT_INSTRUMENT


def demo_url() -> str:
    """demo.sqlite beside the shop's records file."""
    from bench.records.store import default_url

    return default_url().replace("meterbench.sqlite", "demo.sqlite")


def register(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "demo",
        help="run a simulated 2S bench end to end and issue certificates",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", metavar="DIR", help="certificate folder (default: ./certificates)")
    p.add_argument(
        "--db",
        metavar="URL",
        help="records database URL (default: demo.sqlite in the user data dir, apart from real records)",
    )
    p.add_argument("--json", metavar="OUT", dest="json_out", help="also write the run as JSON")
    p.add_argument("--operator", default="", help="technician's name on the certificates")
    p.add_argument("-v", "--verbose", action="store_true", help="print every reading as it arrives")
    p.set_defaults(func=run)
    return p
