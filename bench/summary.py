"""The end-of-run summary a technician reads: per meter, every point's error ± U, limit and verdict."""

from __future__ import annotations

from rich.console import Console

WORD = {"pass": "PASS", "fail": "FAIL", "indeterminate": "INDETERMINATE", "info": "-", None: "-"}


def print_summary(record: dict, issued=(), console: Console | None = None) -> None:
    from bench.resultwords import limit_text, signed, unit_text
    from bench.textfit import fit, make_console, say, say_path

    console = console or make_console()
    run = record["run"]
    settings = run.get("settings") or {}
    meters = {int(k): v for k, v in (settings.get("meters") or {}).items()}
    # the unit is in each row, not the header: a clock test's error is in s/day, an accuracy point's in %
    columns = ("Pos", "Serial", "Point", "Elem", "Pass", "Error ± U (k)", "Limit", "Verdict")
    rows, errors, styles = [], [], {}
    for i, p in enumerate(record["points"]):
        res = p.get("result") or {}
        err, u, k = res.get("error_percent"), res.get("expanded_percent"), res.get("coverage_factor")
        unit = unit_text(p)
        verdict = res.get("verdict") or ("fail" if p.get("status") == "failed" else None)
        if err is not None:
            shown = (
                f"{signed(err, 4)} ± {u:.4f} {unit} ({k:.2f})"
                if u is not None and k is not None
                else f"{signed(err, 4)} {unit}"
            )
            errors.append(shown)
        else:
            shown = res.get("message") or p.get("message") or ""
        style = {"pass": "green", "fail": "bold red", "indeterminate": "yellow"}.get(verdict, "")
        if style:
            styles[i] = style
        limit = limit_text(p)
        rows.append(
            (
                str(p["position"]),
                meters.get(p["position"], {}).get("serial", ""),
                p["label"],
                p["element"],
                p["test_pass"],
                shown,
                "" if limit == "-" else limit,
                WORD.get(verdict, str(verdict)),
            )
        )
    # at 80 columns the element and pass go first; a serial and an error ± U are never cut
    fit(
        console,
        columns,
        rows,
        keep=("Serial", "Point"),
        drop=("Elem", "Pass"),
        right=("Pos", "Limit"),
        title=f"Run {run['id']} - plan {run['plan_id']} - bench {record['bench']['name']}",
        styles=styles,
        whole={"Error ± U (k)": errors, "Limit": [r[6] for r in rows]},
    )
    for line in retest_lines(record):
        say(console, line, 0, 2)
    for a in record["averages"]:
        say(
            console,
            f"Position {a['position']}: weighted average ({a['rule']}) {a['value_percent']:.3f} %R "
            f"-> {WORD.get(a['verdict'], a['verdict'])}",
            0,
            2,
        )
    from bench.readmodel import RunRecord

    for v in RunRecord(record).in_service():
        say(
            console,
            f"Position {v.position}: in-service verdict ({v.test_pass}) {v.verdict.upper()}: "
            + "; ".join(v.reasons),
            0,
            2,
        )
    for w in record["wiring_checks"]:
        where = f"position {w['position']}" if w["position"] is not None else "board"
        found = "; ".join(f["message"] for f in w["findings"]) or "correct"
        say(console, f"Wiring ({where}): rotation {w['rotation']}: {found}", 0, 2)
    from bench.resultwords import failures

    for p in record["positions"]:
        failed = failures(record, p["position"]) if p.get("outcome") == "failed" else []
        # a failed meter names the test and the point that failed it, not just "outside its limit"
        why = "; ".join(failed) if failed else (p.get("message") or "")
        say(console, f"Position {p['position']}: {str(p.get('outcome') or '').upper()} {why}", 0, 2)
    outcome = run.get("outcome") or run.get("status")
    console.print(
        f"Run outcome: [bold]{str(outcome).upper()}[/]   bench time {run.get('bench_seconds') or 0:.1f} s, "
        f"wall time {run.get('wall_seconds') or 0:.2f} s"
    )
    say(
        console,
        "Sign convention: error % = 100 x meter energy / reference energy - 100 (positive = meter fast).",
        0,
        2,
    )
    from bench.certificate_sections import unconfirmed_commands_note

    # as the certificate's deviations say it: the technician hears it too, not only the auditor
    for line in unconfirmed_commands_note(settings.get("unconfirmed_commands") or []):
        say(console, f"Note: {line}", 0, 2)
    for c in issued:
        # each path on a line of its own, whole: a long folder runs past the width rather than being cut
        say(console, f"Certificate {c.certificate_number}:", 0)
        say_path(console, "PDF", c.pdf_path)
        if c.dcc_path:
            say_path(console, "DCC", c.dcc_path)


def retest_lines(record: dict) -> list[str]:
    """One line per retested point: why, and the earlier result the retest superseded."""
    from bench.retests import describe, retests

    return [f"Retested, position {r['position']}: {describe(r)}" for r in retests(record)]
