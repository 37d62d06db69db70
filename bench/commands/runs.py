"""``meterbench runs``: find test runs in the records, or show one run's results.

    meterbench runs [--serial S] [--form F] [--outcome O] [--since DATE] [--until DATE] [--bench B]
                    [--limit N] [--db URL] [--json]
    meterbench runs show ID [--db URL] [--json]

``show`` prints a table of points (rows) by positions (columns): error in percent (%R - 100, positive
= meter fast), its expanded uncertainty U and the verdict, then averages, creep, starting and wiring.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.records.options import add_db_option, add_filter_options, filters, open_store
from procedures.errors import InputError

ORDER = 60


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "runs",
        help="list test runs in the records, or show one",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_filter_options(parser)
    parser.add_argument("--limit", type=int, default=100, help="at most this many runs, newest first (100)")
    add_db_option(parser)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="runs_command", metavar="ACTION", parser_class=type(parser))
    show = sub.add_parser("show", help="one run: positions x points with errors, U and verdicts")
    show.add_argument("run_id", metavar="ID", help="run number (from `meterbench runs`)")
    add_db_option(show, suppress_default=True)
    show.add_argument(
        "--json", dest="show_json", action="store_true", help="print the full run record as JSON"
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    if getattr(args, "runs_command", None) == "show":
        return _show(args)
    return _list(args)


def _console():
    from rich.console import Console

    # Piped output (files, CI logs) gets a wide fixed width instead of rich's 80-column default.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200)


def _list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise InputError("--limit", "must be at least 1", found=args.limit, allowed="a whole number >= 1")
    where = filters(args)
    store = open_store(args)
    try:
        runs = store.list_runs(**where, limit=args.limit)
    finally:
        store.close()
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    from rich.table import Table

    table = Table(title=f"Test runs ({len(runs)})")
    for col in ("run", "started (UTC)", "plan", "bench", "operator", "status", "outcome", "meters"):
        table.add_column(col)
    for r in runs:
        meters = ", ".join(
            f"{p['position']}:{p['serial']} {p['form']} {p['outcome'] or '-'}" for p in r["positions"]
        )
        table.add_row(
            str(r["id"]),
            _when(r["started_at"]),
            f"{r['plan_id']} v{r['plan_version']}",
            r["bench"],
            r["operator"],
            r["status"],
            r["outcome"] or "-",
            meters,
        )
    _console().print(table)
    return 0


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _run_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InputError(
            "ID", "not a run number", found=text, allowed="a whole number from `meterbench runs`"
        )
    return value


def _show(args: argparse.Namespace) -> int:
    run_id = _run_id(args.run_id)
    store = open_store(args)
    try:
        record = store.run_record(run_id)
    except InputError as err:
        raise InputError(
            "ID",
            "no run with this number in the records",
            found=run_id,
            allowed="a run number listed by `meterbench runs`",
        ) from err
    finally:
        store.close()
    if args.show_json:
        print(json.dumps(record, indent=2))
        return 0
    _print_run(record)
    return 0


def _cell(point: dict) -> str:
    res = point["result"]
    if point["status"] in ("running", "interrupted") or res is None:
        return point["status"]
    if res["error_percent"] is None:
        return f"{point['status']} {res['verdict'] or ''}".strip()
    text = f"{res['error_percent']:+.3f}"
    if res["expanded_percent"] is not None:
        text += f" ±{res['expanded_percent']:.3f}"
    return f"{text} {res['verdict'] or point['status']}"


def _print_run(record: dict) -> None:
    from rich.table import Table

    console = _console()
    r = record["run"]
    console.print(
        f"[bold]Run {r['id']}[/bold]  plan {r['plan_id']} v{r['plan_version']} (sha256 {r['plan_sha256'][:12]}…)  "
        f"bench {record['bench']['name']}  operator {r['operator']}"
    )
    console.print(
        f"started {_when(r['started_at'])} UTC  finished {_when(r['finished_at'])}  status {r['status']}"
        f"  outcome {r['outcome'] or '-'}  resumed {r['resumes']}x"
    )
    for inst in record["instruments"]:
        cal = inst["calibration"]["data"] if inst["calibration"] else "no calibration recorded"
        console.print(
            f"  {inst['role']}: {inst['identity']} ({inst['driver']} at {inst['resource']}); calibration {cal}"
        )
    positions = record["positions"]
    table = Table(title="Error % (%R - 100, + = meter fast) ± expanded U %, verdict")
    for col in ("pass", "point", "label", "V", "A", "lag°"):
        table.add_column(col)
    for p in positions:
        table.add_column(f"pos {p['position']}\n{p['meter']['serial']} {p['meter']['form']}", justify="right")
    grid: dict[tuple[str, str], dict] = {}
    for pt in record["points"]:
        key = (pt["test_pass"], pt["point_id"])
        row = grid.setdefault(key, {"point": pt, "cells": {}})
        old = row["cells"].get(pt["position"])
        # A point repeated after a resume: the finished attempt is the result, not the interrupted one.
        if old is None or old["status"] in ("running", "interrupted"):
            row["cells"][pt["position"]] = pt
    for (test_pass, point_id), row in grid.items():
        pt = row["point"]
        cells = [
            _cell(row["cells"][p["position"]]) if p["position"] in row["cells"] else "" for p in positions
        ]
        table.add_row(
            test_pass,
            point_id,
            pt["label"],
            f"{pt['voltage_v']:g}",
            f"{pt['current_a']:g}",
            f"{pt['lag_deg']:g}",
            *cells,
        )
    table.add_row("", "", "outcome", "", "", "", *[p["outcome"] or "-" for p in positions], end_section=True)
    console.print(table)
    for a in record["averages"]:
        console.print(
            f"  average pos {a['position']} {a['test_pass']} ({a['rule']}): {a['value_percent']:+.3f} % {a['verdict']}"
        )
    for name in ("creep", "starting"):
        for c in record[name]:
            console.print(
                f"  {name} pos {c['position']}: {c['pulses']} pulses in {c['seconds']:g} s — {c['verdict']}"
            )
    for w in record["wiring_checks"]:
        where = "supply" if w["position"] is None else f"pos {w['position']}"
        reg = "" if w["registration_percent"] is None else f", registration {w['registration_percent']:.1f} %"
        override = f", OVERRIDDEN: {w['override_reason']}" if w["override_reason"] else ""
        console.print(
            f"  wiring {where}: rotation {w['rotation']}, {len(w['findings'])} finding(s){reg}{override}"
        )
    for c in record["certificates"]:
        console.print(f"  certificate {c['number']} pos {c['position']}: {c['pdf_path']}")
