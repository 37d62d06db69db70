"""One gate runner: the error calculators count meter pulses against reference pulses, on every live
position at once, in one of three strategies:

- ``single``: one gate per reading, started with the source on (any calculator);
- ``series``: all of a point's readings back to back (calculators with ``start_series``): the wait for the
  first meter edge is paid once per point, not once per reading;
- ``dosage``: gates armed with the source off, then the source switched on, every gate waited for, and
  the source switched off (the register test: the energy the register sees is what the gate counted,
  plus a bracketed tail).

A gate that does not finish within ``gate_timeout_factor`` x its planned length + ``gate_timeout_margin_s``
gives the one "no pulses" diagnosis (:func:`no_pulses`). The runner sleeps to about each gate's end
rather than polling (every poll is instrument traffic), on the bench clock, through the kernel's checked
sleep so abort, pause and the watchdog stay responsive.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bench.kernel import records as r

READ_EVERY_S = 1.0  # a series' finished gates are read at most this often when their ends are known


def no_pulses(gate_plan, waited_s: float, reading: int | None = None, readings: int | None = None) -> str:
    """What a position whose gate never finished is told (the text starts "no pulses", its state's name)."""
    which = f"reading {reading} of {readings}: " if reading is not None else ""
    return (
        f"no pulses: {which}a gate of {gate_plan.meter_pulses} meter pulse(s) did not finish within "
        f"{waited_s:.0f} s (planned {gate_plan.gate_seconds:.1f} s); check the pickup, the meter's test "
        "output and Kt"
    )


def output_hint(point) -> str:
    """What a "no pulses" message adds for a point that is not active energy delivered: the meter's test
    output pulses for one quantity and direction (most are set to Wh delivered), and must be set to this
    point's. "" for a Wh delivered point."""
    from procedures.plans import ENERGY_UNITS

    quantity = getattr(point, "quantity", "active")
    received = getattr(point, "direction", "delivered") == "received"
    if quantity == "active" and not received:
        return ""
    unit = ENERGY_UNITS.get(quantity, quantity)
    what = f"{unit} {'received' if received else 'delivered'}"
    also = " (a delivered-only output or a detent gives none)" if received else ""
    return f"; this point measures {what}: the meter's pulse output must be set to {what}{also}"


@dataclass(frozen=True)
class Dosed:
    """A dosage run's gates: per position a GateResult or a "no pulses" message, and the (shortest,
    longest) time the meter kept registering after its gate closed until the source was off."""

    results: dict
    tails: dict


class GateRunner:
    """Runs gates for the kernel (which owns the instruments' lock, the clock and the source)."""

    def __init__(self, kernel) -> None:
        self.k = kernel
        self.bench = kernel.bench
        self.s = kernel.settings

    def _source_held(self) -> None:
        """Before a meter is told it gave no pulses: a source that tripped (an overload, an amplifier that
        cannot regulate) is the cause, and the run's error naming the source, not the meter's."""
        with self.k.io:
            self.bench.source.output_is_on()  # raises InstrumentFault if it is off while it should be on

    def _deadline(self, plan, since: float) -> float:
        return since + plan.gate_seconds * self.s.gate_timeout_factor + self.s.gate_timeout_margin_s

    def _arm(self, jobs: dict, series: int | None = None, quantity: str = "active") -> None:
        with self.k.io:
            for pos, (kt, plan) in jobs.items():
                calc = self.bench.calculators[pos]
                if quantity == "active":  # every driver's call; only some gate var or VA pulses
                    calc.configure(kt, plan.meter_pulses)
                else:
                    calc.configure(kt, plan.meter_pulses, quantity=quantity)
            for pos in jobs:
                calc = self.bench.calculators[pos]
                calc.start() if series is None else calc.start_series(series)
            self._settings_done(jobs)

    def _settings_done(self, positions) -> None:
        """After a point's settings on every position: the calculators' error queues, read once each
        (a calculator that checks after every write has nothing to do here)."""
        for pos in positions:
            done = getattr(self.bench.calculators[pos], "settings_done", None)
            if callable(done):
                done()

    def can_series(self, positions) -> bool:
        return bool(positions) and all(
            callable(getattr(self.bench.calculators[p], "start_series", None)) for p in positions
        )

    def readings(self, jobs: dict, readings: int, live, quantity: str = "active") -> Iterator[list]:
        """Yield lists of (position, reading index, GateResult or a "no pulses" message) as gates finish.
        ``live()`` says which positions are still tested (a position found dead drops out); ``quantity``
        is the energy the gates count (the meters' test output and the reference's pulses)."""
        alive = [p for p in jobs if p in live()]
        if self.can_series(alive):
            yield from self._series({p: jobs[p] for p in alive}, readings, quantity)
            return
        for index in range(readings):
            alive = [p for p in jobs if p in live()]
            if not alive:
                return
            self.k.safe_point()
            results = self._single({p: jobs[p] for p in alive}, quantity, last=index == readings - 1)
            yield [(pos, index, res) for pos, res in results.items()]

    def _waiting(self, what: str, seconds: float) -> None:
        """Tell the displays a long wait has begun (its planned length, for a time-remaining bar)."""
        if seconds >= r.LONG_WAIT_S:
            self.k.publish([r.Waiting(what=what, seconds=seconds)])

    def _single(self, jobs: dict, quantity: str = "active", last: bool = True) -> dict:
        clock = self.bench.clock
        self._arm(jobs, quantity=quantity)
        self._waiting("gate", max(gp.gate_seconds for _, gp in jobs.values()))
        start = clock.now()
        deadlines = {pos: self._deadline(gp, start) for pos, (_, gp) in jobs.items()}
        out: dict = {}
        # Sleep to the planned end of the shortest gate, then poll finely: the gate time is the physical
        # floor, and polling before it only costs instrument traffic.
        first = min(gp.gate_seconds for _, gp in jobs.values())
        self.k.sleep(first)
        while len(out) < len(jobs):
            self.k.safe_point()
            now = clock.now()
            remaining = []
            for pos in jobs:
                if pos in out:
                    continue
                calc = self.bench.calculators[pos]
                with self.k.io:
                    status, progress = calc.poll()
                    if status == "finished":
                        out[pos] = calc.result()
                        continue
                if now >= deadlines[pos]:
                    self._source_held()
                    with self.k.io:
                        calc.stop()
                    out[pos] = no_pulses(jobs[pos][1], deadlines[pos] - start)
                    continue
                remaining.append((1.0 - max(0.0, min(1.0, progress))) * jobs[pos][1].gate_seconds)
            if len(out) < len(jobs):
                # progress counts meter edges, so a gate of few pulses looks unstarted until it ends: cap
                # the sleep at a quarter gate so the overrun stays small. Before another reading that is
                # enough (the next gate waits for a fresh meter edge anyway); the point's last gate is
                # polled finer, at a twentieth for one position, a quarter for five or more (each poll
                # round is a message per position)
                cap = (min(0.25, 0.05 * len(jobs)) if last else 0.25) * first
                self.k.sleep(max(self.s.gate_poll_s, min(0.8 * min(remaining, default=0.0), cap)))
        return out

    def _series(self, jobs: dict, readings: int, quantity: str = "active") -> Iterator[list]:
        clock = self.bench.clock
        self._arm(jobs, series=readings, quantity=quantity)
        self._waiting("gate", readings * max(gp.gate_seconds for _, gp in jobs.values()))
        start = clock.now()
        deadlines = {pos: self._deadline(gp, start) for pos, (_, gp) in jobs.items()}
        taken = dict.fromkeys(jobs, 0)
        open_ = set(jobs)
        opened = self._series_opened(jobs, start)
        due = {p: self._series_due(jobs[p][1], readings, 0, opened.get(p), start, True) for p in jobs}
        # positions due within a meter pulse period of the first are read together, at the last of them:
        # the point ends with its last gate anyway, and one batch is one reference read and one commit
        window = max(gp.gate_seconds / max(1, gp.meter_pulses) for _, gp in jobs.values())
        while open_:
            first = min(due[p] for p in open_)
            then = max(d for p in open_ if (d := due[p]) <= first + window)
            self.k.sleep(max(self.s.gate_poll_s, then - clock.now()))
            self.k.safe_point()
            now = clock.now()
            new: list = []
            for pos in sorted(p for p in open_ if due[p] <= now + 1e-9):
                calc = self.bench.calculators[pos]
                with self.k.io:
                    done = calc.results()
                new += [(pos, taken[pos] + i, res) for i, res in enumerate(done[taken[pos] : readings])]
                if len(done) > taken[pos]:
                    deadlines[pos] = self._deadline(jobs[pos][1], now)
                got = len(done) > taken[pos]
                taken[pos] = min(len(done), readings)
                gp = jobs[pos][1]
                if taken[pos] >= readings:
                    open_.discard(pos)
                elif now >= deadlines[pos]:
                    self._source_held()
                    with self.k.io:
                        calc.stop()
                    open_.discard(pos)
                    new.append(
                        (pos, taken[pos], no_pulses(gp, self._deadline(gp, 0.0), taken[pos] + 1, readings))
                    )
                else:
                    due[pos] = self._series_due(gp, readings, taken[pos], opened.get(pos), now, got)
            if new:
                yield new

    def _series_opened(self, jobs: dict, start: float) -> dict[int, float]:
        """When each position's series opened on its meter's first edge, where its calculator can say
        (``gate_age``): asked once, one meter pulse period after arming, when every healthy meter's first
        edge has come. From it, every gate's end is known and read then, not polled for."""
        calcs = {p: self.bench.calculators[p] for p in jobs}
        if not all(callable(getattr(c, "gate_age", None)) for c in calcs.values()):
            return {}
        self.k.sleep(max(gp.gate_seconds / max(1, gp.meter_pulses) for _, gp in jobs.values()))
        self.k.safe_point()
        found = {}
        with self.k.io:
            for pos, calc in calcs.items():
                age = calc.gate_age()
                if age is not None:
                    found[pos] = self.bench.clock.now() - age
        return found

    def _series_due(
        self, gp, readings: int, taken: int, opened: float | None, now: float, got: bool
    ) -> float:
        """When to read a position's finished gates next.

        With the series' opening edge known, at the planned end of the next reading, or of a later one
        so that reads come at most once a second (each reading is still committed as it is read); a read
        that found the gate not yet ended (a slow meter) looks again a little later. Without it, sleep to
        about the next gate end, and near the series' end in finer steps so the last gate is not overrun
        by much (only the last gate's overrun costs bench time)."""
        g = gp.gate_seconds
        if opened is not None:
            k = taken + 1
            while k < readings and (k + 1 - taken) * g <= READ_EVERY_S:
                k += 1
            end = opened + k * g * 1.002  # 0.2 %: a hair slower than planned (noise, the reference's gain)
            if not got or end <= now:  # the read came before the gate's end: a slow meter
                return now + max(self.s.gate_poll_s, 0.02 * g)
            return end
        if taken == 0 and got:  # the first read: one pulse period for the first edge, then the first gate
            return now + g + (g / max(1, gp.meter_pulses) if readings > 1 else 0.0)
        left = (readings - taken) * g
        return now + max(self.s.gate_poll_s, min(0.25 * g if left <= g else g, 0.8 * left))

    def dosage(self, jobs: dict, energise, ramp_s: float) -> Dosed:
        """Arm every gate with the source off, ``energise()``, wait for every gate, switch off.

        The tail is bracketed twice: by the polls (after the last that saw a gate running, by the first
        that saw it finished) and by the switch-on (the gate opens on the first test pulse after the source
        came on, at the latest one pulse period after the ramp ``ramp_s``; it lasts its own measured
        length)."""
        clock = self.bench.clock
        self._arm(jobs)
        on_from = clock.now()
        energise()
        self._waiting("gate", max(plan.gate_seconds for _, plan in jobs.values()))
        start = clock.now()
        deadline = {pos: self._deadline(plan, start) for pos, (_, plan) in jobs.items()}
        seen_running = dict.fromkeys(jobs, start)
        out: dict = {}
        finished_at: dict[int, float] = {}
        self.k.sleep(0.8 * min(plan.gate_seconds for _, plan in jobs.values()))
        while True:
            self.k.safe_point()
            remaining = []
            for pos, (_, plan) in jobs.items():
                if pos in out:
                    continue
                calc = self.bench.calculators[pos]
                with self.k.io:
                    status, progress = calc.poll()
                    now = clock.now()
                    if status == "finished":
                        out[pos], finished_at[pos] = calc.result(), now
                        continue
                    if now >= deadline[pos]:
                        self._source_held()
                        calc.stop()
                        out[pos] = no_pulses(plan, deadline[pos] - start)
                        continue
                seen_running[pos] = now
                remaining.append((1.0 - max(0.0, min(1.0, progress))) * plan.gate_seconds)
            if len(out) == len(jobs):
                break
            # Halve the distance to the nearest end: few polls, and the last one close to the gate's end,
            # so the energy registered after the gate closed is well bracketed.
            self.k.sleep(max(self.s.gate_poll_s, 0.5 * min(remaining)))
        off_from = clock.now()
        self.k.source_off()
        off_to = clock.now()
        tails = {}
        for pos, t_b in finished_at.items():
            g = out[pos]
            latest = min(t_b, start + ramp_s + g.gate_seconds * (1.0 + 1.0 / g.meter_pulses))
            earliest = max(seen_running[pos], on_from + g.gate_seconds)
            if latest < earliest:  # the switch-on bound does not hold (a slow ramp): keep the polls' bracket
                earliest, latest = seen_running[pos], t_b
            tails[pos] = (max(0.0, off_from - latest), off_to - earliest)
        return Dosed(out, tails)

    def count(
        self,
        positions: list[int],
        duration_s: float,
        *,
        until_started: bool,
        pulse_period_s: float | None = None,
    ) -> dict:
        """Count meter pulses without a gate for ``duration_s``: {position: (pulses, seconds)}.

        A starting test may end as soon as every meter has registered 2 pulses (it started and keeps
        registering); a creep test always runs its full window and is read once, at its end. Counts are
        polled at the rate the test needs: with ``pulse_period_s`` (the period a meter registering correctly
        has at the applied load; a meter up to 25 % fast is allowed for) no meter can show 2 pulses within
        0.8 of a period, so the first read waits that long, a meter that showed no pulse is not read again
        for that long, and a meter seen started is not read again; reads come on a grid of an eighth of a
        period, at most 15 s apart, so the read that ends the test comes when it did when every meter was
        read every 15 s (bench time before messages)."""
        clock = self.bench.clock
        with self.k.io:
            for pos in positions:
                self.bench.calculators[pos].count_start()
            self._settings_done(positions)
        self._waiting("starting" if until_started else "creep", duration_s)
        end = clock.now() + duration_s
        step, gap = 15.0, 0.0
        if until_started and pulse_period_s and pulse_period_s > 0:
            step = min(15.0, max(self.s.gate_poll_s, pulse_period_s / 8))
            gap = 0.8 * pulse_period_s  # a meter's two pulses are at least this far apart
            # on the grid of reads (whole steps): skipping the early reads never delays the last one
            self.k.sleep(min(step * int(gap / step), duration_s))
        elif not until_started:
            self.k.sleep(duration_s)
        counts: dict = {}
        due = dict.fromkeys(positions, clock.now())  # when a read of the position can first show it started
        while True:
            now = clock.now()
            # A meter seen started keeps the count it showed then; one that showed no pulse at a read cannot
            # show two before ``gap`` later, so it is not read until then; at the window's end all are read.
            started = {p for p, c in counts.items() if until_started and c[0] >= 2}
            todo = [p for p in positions if p not in started and (due[p] <= now or now >= end)]
            with self.k.io:
                for p in todo:
                    counts[p] = self.bench.calculators[p].count_read()
                    if counts[p][0] == 0:
                        due[p] = now + gap
            if until_started and len(counts) == len(positions) and all(c[0] >= 2 for c in counts.values()):
                break
            if now >= end:
                break
            self.k.sleep(min(step, end - now))
        if until_started:
            self._source_held()  # a meter that did not start on a tripped source did not fail
        with self.k.io:
            for pos in positions:
                self.bench.calculators[pos].stop()
        return counts
