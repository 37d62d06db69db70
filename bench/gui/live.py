"""Engine events onto the board: each event changes the cells it is about, and nothing else.

:func:`apply` is called by the Run tab for every event (inside :meth:`BoardModel.batch`) and returns the
positions whose detail changed, so the detail panel is refreshed only when its position is touched.
"""

from __future__ import annotations

from bench.gui.board import MARKS, RUNNING, BoardModel, column_name, error_text
from bench.gui.widgets import VERDICT_WORDS


def plan_columns(points, passes) -> list[str]:
    """The board's columns for a resolved plan's points and the run's passes, in test order."""
    cols = []
    for tp in passes:
        for p in points:
            cols.append(column_name(p.label, tp, p.element))
    return cols


ENERGY_UNITS = {"active": "Wh", "reactive": "varh", "apparent": "VAh"}


def _measured(d: dict) -> str:
    """' [varh delivered]' for a point that is not active energy delivered (what most points measure)."""
    quantity, direction = d.get("quantity") or "active", d.get("direction") or "delivered"
    if quantity == "active" and direction == "delivered":
        return ""
    return f" [{ENERGY_UNITS.get(quantity, quantity)} {direction}]"


def _col(d: dict, fallback: str) -> str:
    return column_name(d.get("label") or fallback, d.get("pass"), d.get("element"))


def apply(board: BoardModel, ev) -> set[int]:  # noqa: C901 - one branch per event kind, flat
    """Show one engine event on the board; returns the positions it changed."""
    d, pos, kind = ev.data, ev.position, ev.kind
    if kind == "point_started":
        col = _col(d, ev.point_id or "?")
        positions = list(d.get("positions", []))
        board.set_running(col, positions)
        return set(positions)
    if pos is None and kind != "wiring":
        if kind == "run_finished":
            board.finish()
        return set()
    row = board.row(pos) if pos is not None else None
    if kind == "reading" and row is not None:
        col = board.running or _col(d, ev.point_id or "?")
        n = d.get("index", 0) + 1
        board.set_cell(pos, col, f"{RUNNING} {d['error_percent']:+.3f} r{n}", "running", "reading so far")
        board.add_reading(
            pos,
            f"{d.get('label') or ev.point_id} r{n}: {d['error_percent']:+.4f} % "
            f"({d.get('meter_pulses', 0)} p, {d.get('gate_seconds', 0.0):.1f} s)",
        )
        return {pos}
    if kind == "point_done" and row is not None:
        v = d.get("verdict") or ""
        col = _col(d, ev.point_id or "?")
        text = error_text(d.get("error_percent"), d.get("expanded_percent"), v)
        unit = d.get("unit", "%")  # a meter-port clock error is in s/day, not %
        limit = f"limit ±{d['limit_hi']:g} {unit}" if d.get("limit_hi") is not None else ""
        measured = _measured(d)
        tip = f"{col}{measured}: {text} {unit} (U, k≈2) {limit} {VERDICT_WORDS.get(v, v)}".strip()
        board.set_cell(pos, col, text, v, tip)
        err, u = d.get("error_percent"), d.get("expanded_percent")
        value = "no result" if err is None else f"{err:+.4f} ± {u or 0:.4f} {unit}"
        board.add_reading(pos, f"{col}{measured} RESULT {value} → {VERDICT_WORDS.get(v, v or '—')}")
        return {pos}
    if kind in ("creep", "starting") and row is not None:
        v = d["verdict"]
        col = _col(d, kind)
        board.set_cell(pos, col, f"{d['pulses']} p {MARKS.get(v, '')}".rstrip(), v, d.get("message", ""))
        board.add_reading(pos, f"{col}: {d.get('message', '')} → {VERDICT_WORDS.get(v, v)}")
        return {pos}
    if kind == "wiring":
        findings = d.get("findings", [])
        lines = [f"• {f['message']}" for f in findings]
        if d.get("override"):
            lines.append(f"OVERRIDDEN by operator: {d['override']}")
        targets = [pos] if pos is not None else [r.position for r in board.rows if r.serial]
        where = "board (supply)" if pos is None else f"position {pos}"
        entry = f"Wiring, {where}: rotation {d.get('rotation')}" + (
            "\n" + "\n".join(lines) if lines else ": correct"
        )
        for p in targets:
            r = board.row(p)
            if r is None:
                continue
            r.findings.append(entry)
            if d.get("phases"):
                r.phases = d["phases"]
        if row is not None:
            bad = bool(findings) and not d.get("override")
            codes = ",".join(f.get("code", "") for f in findings)
            text = "OK ✔" if not findings else (f"override {codes}" if not bad else f"✘ {codes}")
            board.set_cell(pos, board.running or "wiring", text, "fail" if bad else "pass", "\n".join(lines))
        return set(targets)
    if kind == "point_skipped" and row is not None:
        col = _col(d, ev.point_id or "?")
        board.set_cell(pos, col, "skipped", "info", d.get("message", ""))
        return {pos}
    if kind == "position_failed" and row is not None:
        msg = d.get("message", "")
        keep = d.get("state") == "wiring fault" and row.message and not msg.startswith("board")
        board.set_state(pos, d.get("state", "failed"), row.message if keep else msg)
        return {pos}
    if kind == "average" and row is not None:
        v = d["verdict"]
        board.set_cell(
            pos, "average", f"{d['value_percent']:.3f} %R {MARKS.get(v, '')}", v, d.get("rule", "")
        )
        return {pos}
    return set()
