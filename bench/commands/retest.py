"""meterbench retest: test one point of a finished run again (a knocked board, a reseated meter).

The earlier result stays on the record and on the new certificate as superseded, with the reason; the
retested positions' outcomes and the run's outcome follow from the current results, and the retested
meters get new certificates.
"""

from __future__ import annotations

import argparse

from procedures.errors import InputError

ORDER = 12


def run(args) -> int:
    from bench.commands._preflight import check_bench
    from bench.commands.run import environment_from, finish, settings_from
    from bench.people import operator_name
    from bench.progress import ProgressView
    from bench.safety import sigterm_as_interrupt
    from bench.service import RunService
    from bench.session import RunRequest, open_store
    from procedures import bounds

    reason = bounds.text("--reason", args.reason, max_len=bounds.NOTE_MAX)
    if not reason:
        raise InputError("--reason", "must say why the point is tested again", found=args.reason)
    service = RunService(open_store(args.db, create=False))
    base = RunRequest(
        bench_file=args.bench or "",
        plan="",
        operator=operator_name(args.operator) if args.operator else "",
        db_url=args.db,
        json_out=args.json_out,
        settings=settings_from(args),
        speed=args.speed,
        environment=environment_from(args),
    )
    req = service.retest_request(args.run_id, base)
    check_bench(req)
    title = f"retest {args.point} of run {args.run_id}"
    with sigterm_as_interrupt(), ProgressView(title=title, speed=args.speed or None) as view:
        outcome = service.retest(
            req,
            [view],
            run_id=args.run_id,
            point_id=args.point,
            reason=reason,
            positions=args.position or None,
            test_pass=args.test_pass,
        )
    store = service.store
    return finish(
        outcome, store, args, certificates=not args.no_certificates, positions=args.position or None
    )


def register(sub) -> argparse.ArgumentParser:
    from bench.commands.run import add_run_options

    p = sub.add_parser("retest", help="test one point of a finished run again", description=__doc__)
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    p.add_argument("--point", required=True, metavar="ID", help="the plan point to test again, e.g. FL")
    p.add_argument("--reason", required=True, help="why (recorded, and shown on the certificate)")
    p.add_argument(
        "--position",
        type=int,
        action="append",
        metavar="N",
        help="position to retest (repeat for several; default: every position of the run)",
    )
    p.add_argument(
        "--pass",
        dest="test_pass",
        choices=("as-found", "as-left"),
        help="which pass (default: the run's last)",
    )
    p.add_argument("--bench", metavar="FILE", help="bench file (default: the one the run was started with)")
    add_run_options(p)
    p.set_defaults(func=run)
    return p
