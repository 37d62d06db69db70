"""meterbench resume: finish an interrupted run without repeating the points already recorded."""

from __future__ import annotations

import argparse

ORDER = 11


def run(args) -> int:
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
    req = service.resume_request(args.run_id, base, manifest=args.meters)
    with sigterm_as_interrupt(), ProgressView(title=f"resume run {args.run_id}") as view:
        outcome = service.resume(args.run_id, req, [view])
    store = service.store
    return finish(outcome, store, args, certificates=not args.no_certificates)


def register(sub) -> argparse.ArgumentParser:
    from bench.commands.run import add_run_options

    p = sub.add_parser("resume", help="finish an interrupted run", description=__doc__)
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    p.add_argument("--bench", metavar="FILE", help="bench file (default: the one the run was started with)")
    p.add_argument("--meters", metavar="MANIFEST.csv", help="meters manifest (default: as recorded)")
    add_run_options(p)
    p.set_defaults(func=run)
    return p
