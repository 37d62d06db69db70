"""What a simulated meter keeps in its own memory besides its energy register: its clock, its demand
registers, its TOU tier registers, its status flags and its history log. Shared by the simulated optical
ports (C12.18 and IEC 62056-21), which only encode it.

The memory follows the meter's delivered register as the physics integrates it (``MeterState.observers``):
between two updates the load was constant, so the energy is linear in time and every demand (sub)interval
and tier boundary inside the step gets its exact share. Everything derives from what the meter
*registered* (its error curve, ``register_scale``), never from the reference's truth.

- Clock: meter time = 2026-01-01 00:00 + bench seconds x (1 + ``clock_drift_ppm`` 1e-6) + the offset a
  set-clock procedure leaves; shown in whole seconds (time format 2).
- Demand: subintervals of ``demand_interval_min / demand_subintervals`` minutes aligned to the meter's
  clock (a block interval starts on the quarter hour for 15 min); at the end of each subinterval the
  demand is the energy of the last ``demand_subintervals`` subintervals over the interval (block demand
  for 1, sliding demand for more), times (1 + ``demand_error_percent`` / 100); the maximum since the last
  demand reset is kept with its time. A time change drops the subinterval in progress [U: what a meter
  does with it].
- TOU: the daily ``tou_calendar`` switches (meter time of day) decide which tier register the energy goes to.
- Demand reset: the registers as they were go to the previous-reset record (C12.19 ST25) with its time,
  the maximum is cleared, the reset counter counts, and the history log gets "demand reset occurred".
- History log: the bench file's ``events`` (at the epoch), then what happens: a demand reset, a time
  change (old and new time).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

EPOCH = datetime(2026, 1, 1)
DAY_S = 86400.0


@dataclass
class ResetRecord:
    """The registers at a demand reset (what ST25 shows)."""

    when: datetime
    total_wh: float
    tier_wh: tuple[float, ...]
    max_kw: float
    max_at: datetime | None


class MeterMemory:
    def __init__(self, physics, position: int) -> None:
        self.physics, self.position = physics, position
        meter = physics.meters[position]
        spec = meter.spec
        self.scale = spec.register_scale
        self.drift = spec.clock_drift_ppm * 1e-6
        self.offset_s = 0.0
        self.interval_s = 60.0 * spec.demand_interval_min
        self.subintervals = spec.demand_subintervals
        self.sub_s = self.interval_s / self.subintervals
        self.demand_gain = 1.0 + spec.demand_error_percent / 100.0
        self.calendar = tuple(spec.tou_calendar) or ((0, 1),)
        self.tiers = max(2, max(t for _, t in self.calendar))
        self.tier_wh = [0.0] * self.tiers
        self.window: deque[float] = deque(maxlen=self.subintervals)
        self.max_kw, self.max_at, self.last_kw = 0.0, None, 0.0
        self.resets = 0
        self.previous: ResetRecord | None = None
        self.events: list[tuple[datetime, str]] = [(EPOCH, name) for name in spec.events]
        self.status_flags = tuple(spec.status_flags)
        physics.advance()
        self._t, self._e = physics.clock.now(), meter.energy_wh
        self._sub_e = self._e
        self._sub_end = self._next_boundary(self._m(self._t), self.sub_s)
        meter.observers.append(self._sample)

    # ---- time ------------------------------------------------------------------------------------
    def _m(self, t: float) -> float:
        """Meter seconds since the epoch at bench time ``t``."""
        return t * (1.0 + self.drift) + self.offset_s

    @staticmethod
    def _next_boundary(m: float, step: float) -> float:
        return (math.floor(m / step + 1e-9) + 1) * step

    def now(self) -> datetime:
        """The meter's clock now, in whole seconds."""
        self.physics.advance()
        m = self._m(self.physics.clock.now())
        return EPOCH + timedelta(seconds=math.floor(m + 1e-9))

    def tier_at(self, m: float) -> int:
        """The tier (1-based) in force at meter second ``m``."""
        minute = (m % DAY_S) / 60.0
        starts = [s for s, _ in self.calendar]
        k = bisect.bisect_right(starts, minute + 1e-9) - 1
        return self.calendar[k][1]  # k = -1: before the first switch of the day, the day's last tier

    def set_clock(self, when: datetime) -> None:
        self.physics.advance()
        old = self.now()
        t = self.physics.clock.now()
        self.offset_s = (when - EPOCH).total_seconds() - t * (1.0 + self.drift)
        self._t = t
        self._sub_e = self._e
        self._sub_end = self._next_boundary(self._m(t), self.sub_s)
        self.events += [(old, "time changed (old time)"), (when, "time changed (new time)")]

    # ---- registers -----------------------------------------------------------------------------------
    def _sample(self, energy_wh: float) -> None:
        t1 = self.physics.clock.now()
        t0, e0 = self._t, self._e
        self._t, self._e = t1, energy_wh
        if t1 <= t0:  # no time passed: nothing to share out over time
            self._tier_add(self._m(t1), energy_wh - e0)
            return
        m0, m1 = self._m(t0), self._m(t1)
        rate = (energy_wh - e0) / (m1 - m0)  # Wh per meter second, constant over the step
        # tier shares, split at the calendar's switches inside the step
        m = m0
        while m < m1:
            nxt = min(m1, self._next_switch(m))
            self._tier_add(m, rate * (nxt - m))
            m = nxt
        # demand subintervals that ended inside the step
        while self._sub_end <= m1 + 1e-9:
            e_end = e0 + rate * (self._sub_end - m0)
            self.window.append(e_end - self._sub_e)
            self._sub_e = e_end
            demand = sum(self.window) * self.scale / 1000.0 / (self.interval_s / 3600.0) * self.demand_gain
            self.last_kw = demand
            if demand > self.max_kw:
                self.max_kw, self.max_at = demand, EPOCH + timedelta(seconds=round(self._sub_end))
            self._sub_end += self.sub_s

    def _next_switch(self, m: float) -> float:
        day0 = math.floor(m / DAY_S) * DAY_S
        for start, _ in self.calendar:
            s = day0 + 60.0 * start
            if s > m + 1e-9:
                return s
        return day0 + DAY_S + 60.0 * self.calendar[0][0]

    def _tier_add(self, m: float, wh: float) -> None:
        self.tier_wh[self.tier_at(m + 1e-9) - 1] += wh

    def total_wh(self) -> float:
        self.physics.advance()
        return self.physics.meters[self.position].energy_wh * self.scale

    def tier_kwh(self) -> list[float]:
        self.physics.advance()
        return [wh * self.scale / 1000.0 for wh in self.tier_wh]

    def demand_reset(self) -> None:
        self.physics.advance()
        when = self.now()
        self.previous = ResetRecord(when, self.total_wh(), tuple(w * self.scale for w in self.tier_wh),
                                    self.max_kw, self.max_at)  # fmt: skip
        self.max_kw, self.max_at = 0.0, None
        self.resets = (self.resets + 1) % 256
        self.events.append((when, "demand reset occurred"))


def shown_kwh(kwh: float, digit: float) -> float:
    """A register value as the display shows it: truncated to its least significant digit."""
    if digit <= 0:
        return kwh
    return round(math.floor(kwh / digit + 1e-9) * digit, max(0, -math.floor(math.log10(digit))) + 3)


def memory_for(physics, position: int) -> MeterMemory:
    """The one memory of the meter in ``position`` (every simulated port of that meter shares it)."""
    memories = physics.__dict__.setdefault("_meter_memories", {})
    if position not in memories:
        memories[position] = MeterMemory(physics, position)
    return memories[position]
