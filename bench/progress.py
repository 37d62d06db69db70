"""The CLI's live view of a run: positions x points, the running point, errors as they arrive.

On a terminal it is a rich live table; otherwise (CI, a pipe, a log file) it degrades to one plain line
per event, so nothing is lost in a log.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bench.kernel.records import Event
from bench.resultwords import signed
from reports.model import point_name

WAIT_WORDS = {"creep": "CREEP window", "starting": "STARTING window", "gate": "gate", "warmup": "warm-up"}
VERDICT_WORD = {"pass": "PASS", "fail": "FAIL", "indeterminate": "INDET", "info": "info"}


@dataclass
class _Cell:
    text: str = ""
    style: str = ""


@dataclass
class ProgressView:
    """An engine listener. Use as a context manager around ``engine.run()``."""

    title: str = "MeterBench"
    started: str = "started"  # "resumed" for `meterbench resume`: the log says which it was
    console: Console = field(default_factory=lambda: Console(stderr=False))
    plain: bool | None = None
    _cells: dict[tuple[int, str], _Cell] = field(default_factory=dict)
    _columns: list[str] = field(default_factory=list)
    _positions: list[int] = field(default_factory=list)
    _states: dict[int, str] = field(default_factory=dict)
    _running: str = ""
    _live: Live | None = None
    #: bench seconds per wall second; None: measured from the events (a real bench runs at 1)
    speed: float | None = None
    now: Callable[[], float] = time.monotonic
    _wait: tuple[str, float, float] | None = None  # (what, planned bench seconds, wall time it began)
    _first: tuple[float, float] | None = None  # (bench time, wall time) of the first event
    _last: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.plain is None:
            self.plain = not (self.console.is_terminal and sys.stdout.isatty())

    def __enter__(self) -> ProgressView:
        if not self.plain:
            # get_renderable: the time remaining counts down between events, not only when one arrives
            self._live = Live(
                console=self.console,
                refresh_per_second=4,
                transient=False,
                get_renderable=self._render,
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(*exc)
            self._live = None

    def __call__(self, ev: Event) -> None:
        if self.plain:
            self._line(ev)
        self._update(ev)
        if self._live is not None:
            self._live.update(self._render())

    def _col(self, ev: Event) -> str:
        label = ev.data.get("label") or ev.point_id or "?"
        tp = ev.data.get("pass")
        return f"{label}{' (left)' if tp == 'as-left' else ''}"

    def remaining(self) -> str:
        """'CREEP window: 9:30 left of 10:00' during a long wait on a bench whose time runs, else ''."""
        if self._wait is None:
            return ""
        what, seconds, began = self._wait
        left = max(0.0, seconds - (self.now() - began) * self._rate())
        return f"{WAIT_WORDS.get(what, what)}: {_mmss(left)} left of {_mmss(seconds)}"

    def _rate(self) -> float:
        if self.speed is not None:
            return self.speed
        if self._first and self._last:
            bench, wall = self._last[0] - self._first[0], self._last[1] - self._first[1]
            if bench > 0 and wall > 0.5:
                return bench / wall
        return 1.0

    def _update(self, ev: Event) -> None:
        stamp = (ev.bench_time, self.now())
        self._first = self._first or stamp
        self._last = stamp
        if ev.kind in ("waiting", "warmup"):
            seconds = ev.data.get("seconds") or 0.0
            self._wait = (ev.data.get("what") or ev.kind, float(seconds), self.now()) if seconds else None
        elif ev.kind in ("point_started", "point_done", "creep", "starting", "run_finished", "stabilised"):
            self._wait = None
        if ev.kind == "run_started":
            self._positions = list(ev.data.get("positions", []))
            self._states = {p: "loaded" for p in self._positions}
        elif ev.kind == "point_started":
            col = self._col(ev)
            if col not in self._columns:
                self._columns.append(col)
            self._running = col
            for p in ev.data.get("positions", []):
                self._states[p] = "testing"
                self._cells[(p, col)] = _Cell("…", "dim")
        elif ev.kind == "reading" and ev.position is not None and not _no_number(ev.data):
            col = self._running
            self._cells[(ev.position, col)] = _Cell(f"{ev.data['error_percent']:+.3f}…", "cyan")
        elif ev.kind == "point_done" and ev.position is not None:
            v = ev.data["verdict"]
            style = {"pass": "green", "fail": "bold red", "indeterminate": "yellow"}.get(v, "")
            err, u = ev.data["error_percent"], ev.data.get("unit", "%")
            shown = (
                f"{signed(err, 3)} ±{ev.data['expanded_percent']:.3f}{'' if u == '%' else ' ' + u} "
                if err is not None
                else ""
            )
            self._cells[(ev.position, self._running)] = _Cell(shown + VERDICT_WORD.get(v, v), style)
        elif ev.kind in ("creep", "starting") and ev.position is not None:
            v = ev.data["verdict"]
            self._cells[(ev.position, self._running)] = _Cell(
                f"{ev.data['pulses']} p {VERDICT_WORD.get(v, v)}", "green" if v == "pass" else "bold red"
            )
        elif ev.kind == "wiring" and ev.position is not None:
            f = ev.data["findings"]
            text = (
                "OK"
                if not f
                else ("OVERRIDDEN " if ev.data.get("override") else "") + ",".join(x["code"] for x in f)
            )
            self._cells[(ev.position, self._running)] = _Cell(text, "green" if not f else "bold red")
        elif ev.kind == "position_failed" and ev.position is not None:
            self._states[ev.position] = ev.data["state"].upper()
        elif ev.kind == "run_finished":
            self._running = ""
            for p, s in self._states.items():
                if s == "testing":
                    self._states[p] = "done"

    def header(self) -> str:
        """The line above the table: what runs, and the time left of a long wait (full width, not the
        table's: a title would wrap to the width of a three-column table)."""
        running = f"  running {self._running}" if self._running else ""
        wait = self.remaining()
        return f"{self.title}{running}" + (f" - {wait}" if wait else "")

    def _render(self) -> Group:
        return Group(Text(self.header(), style="bold"), self._table())

    def _table(self) -> Table:
        t = Table(expand=False)
        t.add_column("Pos", justify="right")
        t.add_column("State")
        for c in self._columns:
            t.add_column(c, justify="right")
        for p in self._positions:
            row = [str(p), self._states.get(p, "")]
            for c in self._columns:
                cell = self._cells.get((p, c))
                row.append(
                    f"[{cell.style}]{cell.text}[/]" if cell and cell.style else (cell.text if cell else "")
                )
            t.add_row(*row)
        return t

    def _line(self, ev: Event) -> None:
        d = ev.data
        t = f"[{ev.bench_time:8.1f} s]"
        pos = f"pos {ev.position:>2}" if ev.position is not None else "board "
        if ev.kind == "run_started":
            msg = f"run {ev.run_id} {self.started}: plan {d['plan']}, positions {d['positions']}"
        elif ev.kind == "point_started":
            kind, test_pass = d.get("kind", "accuracy"), d.get("pass")
            load = (
                f" {d['voltage_v']:g} V {d['current_a']:g} A" if "voltage_v" in d and "current_a" in d else ""
            )
            msg = (
                f"point {point_name(ev.point_id, d.get('label') or ev.point_id)} ({kind}"
                f"{', ' + test_pass if test_pass else ''}){load}"
            )
        elif ev.kind == "reading" and _no_number(d):
            return  # a TOU or identity check: its PASS/FAIL line says what was found, a "+0.0000" would not
        elif ev.kind == "reading":
            msg = f"{pos} {d['label']} reading {d['index'] + 1}: {signed(d['error_percent'], 4)} {d.get('unit', '%')}".rstrip()
        elif ev.kind == "point_done" and d.get("error_percent") is None:  # a check without a number (TOU)
            msg = f"{pos} {d['label']} {VERDICT_WORD.get(d['verdict'], d['verdict'])}: {d.get('message', '')}"
        elif ev.kind == "point_done":
            u = d.get("unit", "%")
            msg = (
                f"{pos} {d['label']} error {signed(d['error_percent'], 4)} {u} ± {d['expanded_percent']:.4f} {u} "
                f"(k={d['k']:.2f}) limit ±{d['limit_hi']} {u} -> {VERDICT_WORD.get(d['verdict'], d['verdict'])}"
            )
        elif ev.kind in ("creep", "starting"):
            msg = f"{pos} {ev.kind}: {d['message']} -> {VERDICT_WORD.get(d['verdict'])}"
        elif ev.kind == "wiring":
            msg = f"{pos} wiring: rotation {d['rotation']}, " + (
                "; ".join(f["message"] for f in d["findings"]) or "correct"
            )
        elif ev.kind == "position_failed":
            msg = f"{pos} FAILED ({d['state']}): {d['message']}"
        elif ev.kind == "run_finished":
            why = d.get("message") or ""  # "interrupted (Ctrl-C ...)" already says the outcome: not twice
            msg = f"run {ev.run_id} finished: " + (
                why if why.startswith(d["outcome"]) else f"{d['outcome']} {why}"
            )
        elif ev.kind == "precheck":
            ident = "; ".join(f"{role}: {text}" for role, text in d.get("identity", {}).items())
            msg = f"instruments answer ({ident}); reference calibration due {d.get('calibration_due')}"
        elif ev.kind == "retest":
            msg = f"retest of {ev.point_id} ({d['pass']}) on positions {d['positions']}: {d['reason']}"
        elif ev.kind == "warmup":
            msg = f"warm-up {d['seconds']:g} s"
        elif ev.kind == "waiting":
            msg = f"{d['what']}: waiting {d['seconds']:.0f} s (until bench time {ev.bench_time + d['seconds']:.0f} s)"
        elif ev.kind == "average":
            msg = f"{pos} weighted average ({d['rule']}) {d['value_percent']:.3f} %R -> {VERDICT_WORD.get(d['verdict'])}"
        elif ev.kind == "point_skipped":
            msg = f"{pos} {ev.point_id} skipped: {d.get('message') or d.get('reason') or ''}"
        elif ev.kind in ("stabilised",):
            return
        else:
            msg = f"{ev.kind} " + ", ".join(f"{k} {v}" for k, v in d.items())
        print(f"{t} {msg}", flush=True)


def _no_number(d: dict) -> bool:
    """A reading that carries a check's details, not a number (meter-port TOU tiers, identity)."""
    return (
        d.get("unit") in ("", "kWh")
        and not d.get("meter_pulses")
        and not d.get("gate_seconds")
        and not d.get("error_percent")
    )


def _mmss(seconds: float) -> str:
    m, sec = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{sec:02d}" if m >= 60 else f"{m}:{sec:02d}"
