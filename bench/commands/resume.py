"""meterbench resume: finish an interrupted run without repeating the points already recorded."""

from __future__ import annotations

import argparse

from procedures.errors import InputError

ORDER = 11


def run(args) -> int:
    from bench.commands.run import finish, settings_from
    from bench.meters import LoadedMeter
    from bench.progress import ProgressView
    from bench.safety import sigterm_as_interrupt
    from bench.session import RunRequest, execute, open_store

    store = open_store(args.db, create=False)
    record = store.run_record(args.run_id)
    run = record["run"]
    if run["status"] != "interrupted":
        raise InputError("RUN_ID", f"run {args.run_id} is {run['status']}; only an interrupted run can be resumed",
                         allowed="an interrupted run (see `meterbench runs --outcome interrupted`)")  # fmt: skip
    bench_file = args.bench or record["bench"]["config"].get("path")
    settings = run.get("settings") or {}
    meters = settings.get("meters") or {}
    req = RunRequest(bench_file=bench_file, plan=run["plan_id"], manifest=args.meters, operator=run["operator"],
                     db_url=args.db, json_out=args.json_out, settings=settings_from(args), speed=args.speed,
                     meters=None if args.meters else [LoadedMeter(**m) for m in meters.values()] or None)  # fmt: skip
    with sigterm_as_interrupt(), ProgressView(title=f"resume run {args.run_id}") as view:
        outcome, store = execute(req, [view], store=store, resume_run=args.run_id)
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
