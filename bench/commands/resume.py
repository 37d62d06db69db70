"""meterbench resume: finish an interrupted run without repeating the points already recorded."""

from __future__ import annotations

import argparse

from procedures.errors import InputError

ORDER = 11


def run(args) -> int:
    from bench.commands._preflight import check_bench
    from bench.commands.run import finish, settings_from
    from bench.progress import ProgressView
    from bench.safety import sigterm_as_interrupt
    from bench.service import RunService
    from bench.session import RunRequest, open_store

    service = RunService(open_store(args.db, create=False))
    base = RunRequest(
        bench_file=args.bench or "",
        plan="",
        db_url=args.db,
        json_out=args.json_out,
        settings=settings_from(args),
        speed=args.speed,
    )
    if args.other_bench is not None:
        from procedures import bounds

        base.settings.other_bench = bounds.text("--other-bench", args.other_bench)
        if not base.settings.other_bench.strip():
            raise InputError(
                "--other-bench", "needs a reason", allowed='text, e.g. "bench 1 failed; same lab"'
            )
    req = service.resume_request(args.run_id, base, manifest=args.meters)
    check_bench(req)
    with (
        sigterm_as_interrupt(),
        ProgressView(title=f"resume run {args.run_id}", speed=args.speed or None, started="resumed") as view,
    ):
        outcome = service.resume(args.run_id, req, [view])
    store = service.store
    return finish(outcome, store, args, certificates=not args.no_certificates)


def register(sub) -> argparse.ArgumentParser:
    from bench.commands.run import add_run_options

    p = sub.add_parser("resume", help="finish an interrupted run", description=__doc__)
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    p.add_argument("--bench", metavar="FILE", help="bench file (default: the one the run was started with)")
    p.add_argument("--meters", metavar="MANIFEST.csv", help="meters manifest (default: as recorded)")
    p.add_argument(
        "--other-bench",
        metavar="REASON",
        help="resume on instruments (or a reference calibration) other than the run started with; the "
        "reason is recorded and stated on the certificates",
    )
    add_run_options(p)
    p.set_defaults(func=run)
    return p
