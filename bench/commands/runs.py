"""``meterbench runs``: find test runs in the records, or show one run's results.

    meterbench runs [--serial S] [--form F] [--outcome O] [--since DATE] [--until DATE] [--bench B]
                    [--limit N] [--db URL] [--json]
    meterbench runs show ID [--db URL] [--json]

``show`` prints a report that fits an 80-column terminal: the run (plan, bench, operator, instruments and
their calibration), then each position with its outcome, what failed (test and point named), and its points:
load, error in percent (%R - 100, positive = meter fast) ± its expanded uncertainty U, limit and verdict.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.meters import record_field_label
from bench.records.options import add_db_option, add_filter_options, filters, open_store
from bench.resultwords import (
    failures,
    final_points,
    findings_text,
    limit_text,
    load_text,
    observed,
    point_text,
    verdict_word,
)
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
    """A console as wide as the terminal (``COLUMNS`` wins, as rich reads it); piped output gets 100 columns.

    Nothing printed depends on the width being large: cells fold (never an ellipsis), so a serial or an
    error is always printed whole.
    """
    import os

    from rich.console import Console

    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100
    return Console(file=sys.stdout, width=width, highlight=False)


def _table(
    *columns: str,
    title: str | None = None,
    right: tuple[str, ...] = (),
    keep: dict | None = None,
    whole: dict | None = None,
    squeeze: dict | None = None,
):
    """A table whose cells fold rather than end in an ellipsis; ``keep`` maps a column to the cells whose
    words it must not split (its width at least their longest word), e.g. serials; ``whole`` to cells that
    must stay on one line, e.g. an error ± U; ``squeeze`` to cells a column wraps to their longest word."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        padding=(0, 1, 0, 0),
        title_justify="left",
        title_style="bold",
    )
    for col in columns:
        words = [w for c in (keep or {}).get(col, []) for w in c.split()]
        words += (whole or {}).get(col, [])
        widest = max(map(len, words), default=None)
        narrow = None
        if squeeze and col in squeeze:
            narrow = max((len(w) for c in [*squeeze[col], col] for w in c.split()), default=None)
        table.add_column(
            col,
            overflow="fold",
            justify="right" if col in right else "left",
            min_width=widest,
            max_width=narrow,
        )
    return table


def _fit(
    console,
    columns: tuple[str, ...],
    rows: list[tuple],
    *,
    keep: tuple[str, ...] = (),
    drop: tuple[str, ...] = (),
    title: str | None = None,
    right: tuple[str, ...] = (),
    styles=None,
    lists: tuple[str, ...] = (),
    whole: dict[str, list[str]] | None = None,
) -> None:
    """Print ``rows`` as a table no wider than the console with every word of the ``keep`` columns whole.

    ``whole`` maps a column to texts that must stay on one line (an error ± U, a meter's line). When the words do not fit, the ``drop`` columns go first (in that order); when even then they do not,
    each row is printed as ``column: value`` lines (a ``lists`` column one item a line). Nothing is cut off
    either way.
    """
    import io

    from rich.console import Console

    cols = list(columns)

    def cells(c: str) -> list[str]:
        return [str(r[columns.index(c)]) for r in rows]

    must = {w for c in keep for v in cells(c) for w in v.split()}
    whole = whole or {}
    lines = {line for texts in whole.values() for line in texts}
    for n, squeezed in ((n, sq) for n in range(len(drop) + 1) for sq in (False, True)):
        cols = [c for c in columns if c not in drop[:n]]
        free = {c: cells(c) for c in cols if c not in keep and c not in whole} if squeezed else None
        table = _table(
            *cols,
            title=title,
            right=right,
            keep={c: cells(c) for c in keep if c in cols},
            whole={c: texts for c, texts in whole.items() if c in cols},
            squeeze=free,
        )
        for i, row in enumerate(rows):
            table.add_row(*(row[columns.index(c)] for c in cols), style=(styles or {}).get(i))
        trial = Console(width=console.width, file=io.StringIO(), highlight=False, color_system=None)
        trial.print(table)
        text = trial.file.getvalue()
        heads = {w for c in cols for w in c.split()}
        if (
            must | heads <= set(text.split())
            and all(line in text for line in lines)
            and max(map(len, text.splitlines()), default=0) <= console.width
        ):
            console.print(table)
            return
    if title:
        console.print(f"[bold]{title}[/bold]")
    for row in rows:
        for i, (c, v) in enumerate(zip(columns, row, strict=True)):
            first, *more = str(v).splitlines() if c in lists else [" ".join(str(v).split())]
            _say(console, f"{c}: {first}", 0 if i == 0 else 2)
            for line in more:
                _say(console, line, 4)


def _say(console, text: str, indent: int = 2) -> None:
    """A line of the report, wrapped with a hanging indent so a wrapped line stays under its heading."""
    from rich.padding import Padding

    console.print(Padding(text, (0, 0, 0, indent)))


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
            r["outcome"] or r["status"],
            _meters_cell(r["positions"], r["id"]),
        )
        for r in runs
    ]
    meter_lines = [line for r in rows for line in r[6].splitlines() if line[:1].isdigit() and " " in line]
    _fit(
        _console(),
        ("run", "started (UTC)", "plan", "operator", "bench", "outcome", "meters"),
        rows,
        keep=("run", "plan", "outcome", "meters"),
        whole={"meters": meter_lines},
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
    console = _console()
    r = record["run"]
    outcome = (r["outcome"] or "-").upper()
    console.print(f"[bold]Run {r['id']}: {outcome}[/bold] ({r['status']})")
    head = _table("", "", title=None)
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
        for x in (m["form"], f"class {m['accuracy_class']}", m.get("current_class") or "", f"Kh {m['kh']:g}")
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
        _say(console, "; ".join(a for a in about if a), 2)
    for line in failures(record, p["position"]):
        _say(console, f"failed: {line}", 2)
    points = final_points(record, p["position"])
    passes = list(dict.fromkeys(pt["test_pass"] for pt in points))
    cols = ("pass",) * (len(passes) > 1) + ("point", "load", "error ± U %", "limit %", "verdict")
    rows = [
        (pt["test_pass"],) * (len(passes) > 1)
        + (point_text(pt), load_text(pt), observed(record, pt), limit_text(pt), verdict_word(pt))
        for pt in points
    ]
    bad = {i: "bold red" for i, r in enumerate(rows) if r[-1] in ("FAIL", "INDETERMINATE", "NOT MEASURED")}
    whole = {c: [r[cols.index(c)] for r in rows] for c in ("error ± U %", "verdict", "limit %")}
    _fit(console, cols, rows, whole=whole, drop=("load",), right=("error ± U %",), styles=bad)
    kinds = {pt["kind"] for pt in points}
    for kind, name in (("creep", "no-load (creep)"), ("starting", "starting load")):
        for c in record[kind]:
            if c["position"] == p["position"] and kind not in kinds:  # recorded without a plan point
                _say(console, f"{name}: {c['pulses']} pulse(s) in {c['seconds']:g} s {c['verdict'].upper()}")
    for a in record["averages"]:
        if a["position"] == p["position"]:
            _say(
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
            _say(console, f"{where} check: rotation {w['rotation']}{reg}: {findings}{override}")
    if cert:
        _say(console, f"certificate {cert['number']}: {cert['pdf_path']}")
