"""``meterbench runs``: find test runs in the records, or show one run's results.

    meterbench runs [--serial S] [--form F] [--outcome O] [--since DATE] [--until DATE] [--bench B]
                    [--limit N] [--db URL] [--json]
    meterbench runs show ID [--db URL] [--json]

``show`` prints a report that fits an 80-column terminal: the run (plan, bench, operator, instruments and
their calibration), then each position with its outcome, what failed (test and point named), and its points:
load, error (in percent: %R - 100, positive = meter fast; a clock test's in s/day) ± its expanded
uncertainty U, limit and verdict, each with its unit.
"""

from __future__ import annotations

import argparse
import json

from bench.meters import record_field_label
from bench.records.options import add_db_option, add_filter_options, filters, open_store
from bench.resultwords import (
    class_text,
    failures,
    final_points,
    findings_text,
    interrupted_at,
    limit_text,
    load_text,
    observed,
    point_text,
    verdict_word,
)
from bench.textfit import fit, make_console, make_table, say, say_path
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
    rows = [
        (
            str(r["id"]),
            _when(r["started_at"]).replace(" ", "\n", 1),
            f"{r['plan_id']}\nv{r['plan_version']}",
            r["operator"] or "not recorded",
            r["bench"],
            (r["outcome"] or r["status"])
            + (f"\nmeterbench resume {r['id']}" if r["status"] == "interrupted" else ""),
            _meters_cell(r["positions"], r["id"]),
        )
        for r in runs
    ]
    meter_lines = [line for r in rows for line in r[6].splitlines() if line[:1].isdigit() and " " in line]
    fit(
        make_console(),
        ("run", "started (UTC)", "plan", "operator", "bench", "outcome", "meters"),
        rows,
        keep=("run", "plan", "outcome", "meters"),
        whole={
            "meters": meter_lines,
            "outcome": [f"meterbench resume {r['id']}" for r in runs if r["status"] == "interrupted"],
        },
        drop=("bench", "operator", "started (UTC)", "plan"),
        title=f"Test runs ({len(runs)})",
        lists=("meters",),
    )
    return 0


#: More meters than this in a run: the list names the failed ones and counts the rest (``runs show`` has all).
LIST_METERS = 8


def _meters_cell(positions: list[dict], run_id: int) -> str:
    lines = [f"{p['position']} {p['serial']} {p['form']} {p['outcome'] or '-'}" for p in positions]
    if len(positions) <= LIST_METERS:
        return "\n".join(lines)
    counts: dict[str, int] = {}
    for p in positions:
        counts[p["outcome"] or "-"] = counts.get(p["outcome"] or "-", 0) + 1
    head = f"{len(positions)} meters: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    odd = [line for p, line in zip(positions, lines, strict=True) if p["outcome"] not in ("passed", None)]
    return "\n".join([head, *odd, f"(all: runs show {run_id})"])


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


def _calibration(cal: dict | None) -> str:
    if not cal:
        return "no calibration recorded"
    data = cal.get("data") or cal
    parts = [str(data[k]) for k in ("certificate",) if data.get(k)]
    if data.get("laboratory"):
        parts.append(f"by {data['laboratory']}")
    if data.get("due"):
        parts.append(f"due {data['due']}")
    u = data.get("uncertainty_percent", data.get("u_percent"))
    if u is not None:
        k = data.get("coverage_factor")
        parts.append(f"U ±{u} %" + (f" (k = {k:g})" if isinstance(k, int | float) else ""))
    return "calibration " + ", ".join(parts) if parts else "calibration recorded without details"


def _print_run(record: dict) -> None:
    console = make_console()
    r = record["run"]
    outcome = (r["outcome"] or "not finished").upper()  # an interrupted run has no outcome yet, not "-"
    console.print(f"[bold]Run {r['id']}: {outcome}[/bold] ({r['status']})")
    if r["status"] == "interrupted":
        console.print(f"Stopped before its end; finish it with: meterbench resume {r['id']}")
    head = make_table("", "", title=None)
    head.show_header = False
    rows = [
        ("plan", f"{r['plan_id']} v{r['plan_version']} (sha256 {r['plan_sha256'][:12]}…)"),
        ("bench", record["bench"]["name"]),
        ("operator", r["operator"] or "not recorded"),
        ("started", f"{_when(r['started_at'])} UTC"),
        ("finished", f"{_when(r['finished_at'])} UTC" if r["finished_at"] else "-"),
    ]
    if r.get("resumes"):
        rows.append(("resumed", f"{r['resumes']} time(s)"))
    for inst in record["instruments"]:
        rows.append(
            (
                inst["role"],
                f"{inst['identity']} ({inst['driver']} at {inst['resource']}); "
                f"{_calibration(inst['calibration'])}",
            )
        )
    for row in rows:
        head.add_row(*row)
    console.print(head)
    console.print("Error % = %R - 100 (+ = meter fast), ± its expanded uncertainty U %.")
    certs = {c["position"]: c for c in record["certificates"]}
    for p in record["positions"]:
        _print_position(console, record, p, certs.get(p["position"]))


def _print_position(console, record: dict, p: dict, cert: dict | None) -> None:
    m = p["meter"]
    nameplate = " ".join(
        x
        for x in (
            m["form"],
            f"class {class_text(m['accuracy_class'])}",
            m.get("current_class") or "",
            f"Kh {m['kh']:g}",
        )
        if x
    )
    console.print()
    console.print(
        f"[bold]Position {p['position']}  {m['serial']}[/bold]  {nameplate}: "
        f"[bold]{(p['outcome'] or '-').upper()}[/bold]"
    )
    snap = ((record["run"].get("settings") or {}).get("meters") or {}).get(str(p["position"])) or {}
    about = [
        f"type {snap['meter_type']}" if snap.get("meter_type") else "",
        f"customer {snap.get('customer') or snap.get('owner')}"
        if snap.get("customer") or snap.get("owner")
        else "",
        *(f"{record_field_label(k)} {v}" for k, v in snap.get("record_fields") or ()),
    ]
    if any(about):
        say(console, "; ".join(a for a in about if a), 2)
    for line in failures(record, p["position"]):
        say(console, f"failed: {line}", 2)
    for line in interrupted_at(record, p["position"]):
        say(console, f"interrupted during: {line}", 2)
    points = final_points(record, p["position"])
    passes = list(dict.fromkeys(pt["test_pass"] for pt in points))
    # the unit is in each cell: a clock test's error is in s/day, an accuracy point's in %
    cols = ("pass",) * (len(passes) > 1) + ("point", "load", "error ± U", "limit", "verdict")
    rows = [
        (pt["test_pass"],) * (len(passes) > 1)
        + (point_text(pt), load_text(pt), observed(record, pt), limit_text(pt), verdict_word(pt))
        for pt in points
    ]
    bad = {i: "bold red" for i, r in enumerate(rows) if r[-1] in ("FAIL", "INDETERMINATE", "NOT MEASURED")}
    whole = {c: [r[cols.index(c)] for r in rows] for c in ("error ± U", "verdict", "limit")}
    fit(console, cols, rows, whole=whole, drop=("load",), right=("error ± U",), styles=bad)
    kinds = {pt["kind"] for pt in points}
    for kind, name in (("creep", "no-load (creep)"), ("starting", "starting load")):
        for c in record[kind]:
            if c["position"] == p["position"] and kind not in kinds:  # recorded without a plan point
                say(console, f"{name}: {c['pulses']} pulse(s) in {c['seconds']:g} s {c['verdict'].upper()}")
    for a in record["averages"]:
        if a["position"] == p["position"]:
            say(
                console,
                f"weighted average ({a['rule']}, {a['test_pass']}): {a['value_percent']:+.3f} % "
                f"{a['verdict'].upper()}",
            )
    for w in record["wiring_checks"]:
        if w["position"] == p["position"] or (w["position"] is None and p is record["positions"][0]):
            where = "supply" if w["position"] is None else "wiring"
            reg = (
                ""
                if w["registration_percent"] is None
                else f", registration {w['registration_percent']:.1f} %"
            )
            override = f", OVERRIDDEN: {w['override_reason']}" if w["override_reason"] else ""
            findings = findings_text(w) or "no findings"
            say(console, f"{where} check: rotation {w['rotation']}{reg}: {findings}{override}")
    if cert:
        say(console, f"certificate {cert['number']}:")
        say_path(console, "PDF", cert["pdf_path"], 4)
