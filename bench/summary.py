"""The end-of-run summary a technician reads: per meter, every point's error ± U, limit and verdict."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

WORD = {"pass": "PASS", "fail": "FAIL", "indeterminate": "INDETERMINATE", "info": "-", None: "-"}


def print_summary(record: dict, issued=(), console: Console | None = None) -> None:
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=132)  # a log or a pipe: wide enough that numbers never wrap
    run = record["run"]
    settings = run.get("settings") or {}
    meters = {int(k): v for k, v in (settings.get("meters") or {}).items()}
    t = Table(title=f"Run {run['id']} - plan {run['plan_id']} - bench {record['bench']['name']}")
    for col, just in [
        ("Pos", "right"),
        ("Serial", "left"),
        ("Point", "left"),
        ("Elem", "left"),
        ("Pass", "left"),
        ("Error %", "right"),
        ("U % (k)", "right"),
        ("Limit %", "right"),
        ("Verdict", "left"),
    ]:
        t.add_column(col, justify=just)
    for p in record["points"]:
        res = p.get("result") or {}
        serial = meters.get(p["position"], {}).get("serial", "")
        err = res.get("error_percent")
        u = res.get("expanded_percent")
        k = res.get("coverage_factor")
        lim = p.get("limit_hi")
        verdict = res.get("verdict") or ("fail" if p.get("status") == "failed" else None)
        style = {"pass": "green", "fail": "bold red", "indeterminate": "yellow"}.get(verdict, "")
        t.add_row(
            str(p["position"]),
            serial,
            p["label"],
            p["element"],
            p["test_pass"],
            f"{err:+.4f}" if err is not None else (res.get("message") or p.get("message") or "")[:60],
            f"{u:.4f} ({k:.2f})" if u is not None and k is not None else "",
            f"±{lim:g}" if lim is not None else "",
            f"[{style}]{WORD.get(verdict, verdict)}[/]" if style else WORD.get(verdict, str(verdict)),
        )
    console.print(t)
    for line in retest_lines(record):
        console.print(line)
    for a in record["averages"]:
        console.print(
            f"Position {a['position']}: weighted average ({a['rule']}) {a['value_percent']:.3f} %R "
            f"-> {WORD.get(a['verdict'], a['verdict'])}"
        )
    from bench.readmodel import RunRecord

    for v in RunRecord(record).in_service():
        console.print(
            f"Position {v.position}: in-service verdict ({v.test_pass}) {v.verdict.upper()}: "
            + "; ".join(v.reasons)
        )
    for w in record["wiring_checks"]:
        where = f"position {w['position']}" if w["position"] is not None else "board"
        found = "; ".join(f["message"] for f in w["findings"]) or "correct"
        console.print(f"Wiring ({where}): rotation {w['rotation']}: {found}")
    for p in record["positions"]:
        console.print(
            f"Position {p['position']}: {str(p.get('outcome') or '').upper()} {p.get('message') or ''}"
        )
    outcome = run.get("outcome") or run.get("status")
    console.print(
        f"Run outcome: [bold]{str(outcome).upper()}[/]   bench time {run.get('bench_seconds') or 0:.1f} s, "
        f"wall time {run.get('wall_seconds') or 0:.2f} s"
    )
    console.print(
        "Sign convention: error % = 100 x meter energy / reference energy - 100 (positive = meter fast)."
    )
    for c in issued:
        console.print(
            f"Certificate {c.certificate_number}: {c.pdf_path}"
            + (f"  (DCC {c.dcc_path})" if c.dcc_path else "")
        )


def retest_lines(record: dict) -> list[str]:
    """One line per retested point: why, and the earlier result the retest superseded."""
    from bench.retests import describe, retests

    return [f"Retested, position {r['position']}: {describe(r)}" for r in retests(record)]
