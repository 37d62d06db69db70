"""``meterbench bench check``: open every instrument of a bench, identify it, leave it safe, and check
that the reference standard is within its calibration.

    meterbench bench check FILE [--allow-overdue] [--json]

Each instrument is opened through its driver, asked for its identity and put in its safe state (source
outputs off, error calculators stopped). An overdue reference standard is an error (exit 1) unless
``--allow-overdue``; an instrument that does not answer properly is exit 3; a bad bench file exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from instruments.errors import InstrumentError

ORDER = 15
EXIT_OK, EXIT_FAILED, EXIT_INSTRUMENT = 0, 1, 3
DUE_SOON_DAYS = 30


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="bench files: check the instruments of a bench",
        description="Work with bench files (the instruments of one meter-test bench).",
    )
    sub = parser.add_subparsers(dest="bench_command", metavar="ACTION")
    check = sub.add_parser(
        "check",
        help="open every instrument, read its identity, leave it safe, check the reference's calibration",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("file", metavar="FILE", help="bench file (TOML), e.g. examples/2s-board.toml")
    check.add_argument("--allow-overdue", action="store_true", help="accept a reference past its due date")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    check.add_argument("--today", type=date.fromisoformat, default=None, help=argparse.SUPPRESS)
    check.set_defaults(func=run)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    return parser


def _instruments(bench) -> list[tuple[list[str], object, str, str]]:
    """(roles, instrument object, driver, resource) for each physical instrument of the bench."""
    found: dict[int, tuple[list[str], object, str, str]] = {}
    for role, configs in bench.config.instruments.items():
        for c in configs:
            if role == "source":
                obj = bench.source
            elif role == "reference":
                obj = bench.reference
            elif role == "meter_ports":
                obj = bench.meter_ports[c.positions[0]]
            else:
                calc = bench.calculators[c.positions[0]]
                obj = getattr(calc, "rack", calc)
            label = f"{role.replace('_', ' ').rstrip('s')} {_span(c.positions)}" if c.positions else role
            label = label.replace("calculator ", "calculators ")
            if id(obj) in found:
                found[id(obj)][0].append(label)
            else:
                found[id(obj)] = ([label], obj, c.driver, c.resource)
    return list(found.values())


def _span(positions: tuple[int, ...]) -> str:
    ps = sorted(positions)
    if ps == list(range(ps[0], ps[-1] + 1)) and len(ps) > 1:
        return f"{ps[0]}-{ps[-1]}"
    return ",".join(str(p) for p in ps)


def run(args: argparse.Namespace) -> int:
    today = args.today or date.today()
    try:
        from instruments.bench import open_bench

        bench = open_bench(args.file)
    except InstrumentError as err:
        print(f"meterbench bench check: instrument error: {err}", file=sys.stderr)
        return EXIT_INSTRUMENT
    rows = []
    failed_instrument = False
    try:
        for roles, obj, driver, resource in _instruments(bench):
            row = {"roles": roles, "driver": driver, "resource": resource, "identity": None, "state": None}
            try:
                row["identity"] = obj.identify()
                obj.safe_state()
                row["state"] = "safe"
            except InstrumentError as err:
                row["state"] = f"ERROR: {err}"
                failed_instrument = True
            rows.append(row)
        leftover = bench.safe_state()
        # a safe state is only safe once the instrument says so: ask each one (after the source's ramp)
        for problem in bench.confirm_safe():
            failed_instrument = True
            for row, (_roles, obj, _d, _r) in zip(rows, _instruments(bench), strict=False):
                if problem.startswith(f"{getattr(obj, 'name', '')}:") and row["state"] == "safe":
                    row["state"] = f"NOT CONFIRMED SAFE: {problem}"
                    break
            else:
                rows.append(
                    {
                        "roles": ["safe state"],
                        "driver": "",
                        "resource": "",
                        "identity": None,
                        "state": f"NOT CONFIRMED SAFE: {problem}",
                    }
                )
    except BaseException:
        leftover = bench.safe_state()
        raise
    finally:
        bench.close()
    for err in leftover:
        failed_instrument = True
        rows.append(
            {
                "roles": ["safe state"],
                "driver": "",
                "resource": "",
                "identity": None,
                "state": f"ERROR: {err}",
            }
        )
    cal = bench.config.calibration
    overdue = cal.overdue(today)
    days = (cal.due - today).days
    calibration = {
        "certificate": cal.certificate,
        "laboratory": cal.laboratory,
        "calibrated": cal.calibrated.isoformat(),
        "due": cal.due.isoformat(),
        "days_left": days,
        "overdue": overdue,
        "uncertainty_percent": cal.uncertainty_percent,
        "coverage_factor": cal.coverage_factor,
        "traceability": cal.traceability,
    }
    verdict = "ok"
    if failed_instrument:
        verdict = "instrument error"
    elif overdue and not args.allow_overdue:
        verdict = "reference overdue"
    if args.json:
        print(
            json.dumps(
                {
                    "bench": bench.name,
                    "file": bench.config.path,
                    "simulated": bench.config.simulated,
                    "today": today.isoformat(),
                    "instruments": rows,
                    "calibration": calibration,
                    "verdict": verdict,
                },
                indent=2,
            )
        )
    else:
        _print_table(bench, rows, calibration, today, args.allow_overdue)
    if failed_instrument:
        return EXIT_INSTRUMENT
    if overdue and not args.allow_overdue:
        return EXIT_FAILED
    return EXIT_OK


def _print_table(bench, rows, cal, today, allow_overdue) -> None:
    out = sys.stdout
    sim = " (SIMULATED)" if bench.config.simulated else ""
    print(f"Bench: {bench.name}{sim}  [{bench.config.path}]", file=out)
    if bench.location:
        print(f"Location: {bench.location}", file=out)
    mode = "three-phase source" if bench.three_phase_source else "single-phase series-parallel"
    print(f"Positions: {bench.positions}, {mode}", file=out)
    print(file=out)
    from bench.textfit import fit, make_console

    head = ("ROLE", "DRIVER", "RESOURCE", "IDENTITY", "STATE")
    table = [
        (" + ".join(r["roles"]), r["driver"], r["resource"], r["identity"] or "-", r["state"]) for r in rows
    ]
    # the state (safe / NOT CONFIRMED SAFE) stays whole beside its instrument; identities wrap, never cut
    fit(
        make_console(),
        head,
        table,
        keep=("ROLE", "DRIVER", "RESOURCE", "STATE"),
        drop=("IDENTITY",),
        whole={"STATE": [r[4] for r in table if len(r[4]) <= 40]},
    )
    print(file=out)
    status = "OK"
    if cal["overdue"]:
        status = (
            "OVERDUE (accepted with --allow-overdue)" if allow_overdue else "OVERDUE: do not test with it"
        )
    elif cal["days_left"] <= DUE_SOON_DAYS:
        status = f"due in {cal['days_left']} days"
    print(f"Reference calibration: certificate {cal['certificate']} by {cal['laboratory']}", file=out)
    print(
        f"  calibrated {cal['calibrated']}, due {cal['due']} (today {today.isoformat()}): {status}", file=out
    )
    print(
        f"  U = {cal['uncertainty_percent']:g} % (k = {cal['coverage_factor']:g}); {cal['traceability']}",
        file=out,
    )
