"""The bench physics behind the simulated instruments.

What the drivers set on the simulated source becomes phase voltages and currents; each meter sees them
through its form's wiring (``procedures.forms.element_phasors``, with its wiring faults applied) and
registers energy with its own true error; the reference measures what is really applied (or, for a
wiring check, what is at one socket) with a small fixed error of its own; error calculators count the
meters' pulse edges against the reference's pulses. Energy is integrated over bench-clock time lazily,
whenever an instrument is asked something, so virtual time costs nothing and results carry the real
quantisation of integer pulse counts.

Bench modes:
- three-phase source: each form is connected to phases A, B, C as in the field.
- single-phase series-parallel: every potential coil in parallel on the source's phase-1 voltage, every
  current coil in series carrying its phase-1 current in the designed polarity; a single-phase reference
  sees phase 1 only, so it sees one element's watts (standards.md §2.5: c = elements in series).

Conventions as in :mod:`procedures.phasors` (lagging degrees positive, phase-A voltage 0 deg).

Rotation: ``[simulation] rotation = "CBA"`` is the supply's phase sequence AT THE BOARD: the source's
phase-B output reaches the board's C bus and its C output the B bus (phases swapped in the bench's
supply cabling), so a source set for ordinary ABC presents CBA (3-2-1) to every meter and to the
reference (which measures at the board); a source told to put out CBA then gives the board ABC. The
source's own read-back of its settings (a Fluke 6105A's "readings") is on its side of the cabling.
A single-phase bench has no phase sequence: the key changes nothing there.

Quantities: a gate counts the meter's test-output pulses against the reference's pulses of the
gate's ``quantity``: "active" (|P|, Wh), "reactive" (|Q|, varh) or "apparent" (S = |P + jQ|, VAh),
``kr_wh`` Wh, varh or VAh per pulse (a reference's pulse constant is one number for every quantity, as
ZERA's REFCONSTANT in imp/kWh, imp/kvarh or imp/kVAh). The reference pulses the magnitude, so a
received-energy gate counts as a delivered one does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from instruments.benchfile import BenchConfig, SimMeter
from instruments.sim.meter import MeterState
from procedures.forms import MeterForm, element_phasors, get_form
from procedures.phasors import phasor

PHASES = ("A", "B", "C")
QUANTITIES = ("active", "reactive", "apparent")


@dataclass
class PhaseOutput:
    """What the simulated source has been told for one phase."""

    voltage_v: float = 0.0
    voltage_lag_deg: float = 0.0
    current_a: float = 0.0
    current_lag_deg: float = 0.0
    voltage_enabled: bool = False
    current_enabled: bool = False
    # (order, voltage amplitude, current amplitude, current lag behind that harmonic's voltage in deg)
    harmonics: tuple[tuple[int, float, float, float], ...] = ()


@dataclass
class Gate:
    """One position's error-calculator state."""

    state: str = "idle"  # idle | armed (waiting for the first meter edge) | running | finished
    kt_wh: float = 0.0
    pulses: int = 0
    quantity: str = "active"  # what the reference pulses count: active, reactive or apparent energy
    edges: int = 0
    t_start: float = 0.0
    t_open: float | None = None  # the edge that opened the gate (a series: its first gate); None while armed
    ref_start: float = 0.0  # reference energy (Wh) at the first edge
    result: tuple[int, int, float, float | None] | None = None  # meter, ref pulses, seconds, error %
    series: int = 1  # gates in a back-to-back series (each closing edge opens the next)
    results: list = field(default_factory=list)  # every finished gate of the series, in order
    counting: bool = False
    count_t0: float = 0.0
    count_edges: int = 0


@dataclass
class BenchPhysics:
    """The physics model of a simulated bench (tests may read and poke it; the engine must not)."""

    config: BenchConfig
    clock: object
    max_current_a: float = 120.0
    phases: dict[str, PhaseOutput] = field(default_factory=lambda: {p: PhaseOutput() for p in PHASES})
    frequency_hz: float = 60.0
    output_on: bool = False
    overload_forced: bool = False
    tripped: str | None = None  # why the source tripped, until the output is switched on again
    on_trip: list[Callable[[str], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        sim = self.config.simulation
        assert sim is not None, "a physics model needs a [simulation] table"
        self.sim = sim
        self.kr_wh = float(self.config.reference.kr_wh or 1e-5)
        self.three_phase = self.config.three_phase_source
        rng = random.Random(f"{sim.seed}/reference")
        sd = sim.reference_error_percent / 100.0
        # the reference's own fixed errors: a gain error per phase on V and on I, a small phase error
        self.ref_v_gain = {p: 1.0 + rng.gauss(0.0, sd) for p in PHASES}
        self.ref_i_gain = {p: 1.0 + rng.gauss(0.0, sd) for p in PHASES}
        self.ref_phase_deg = {p: rng.gauss(0.0, sd * 57.3 * 0.1) for p in PHASES}
        self.meters = {m.position: MeterState(m, sim.seed) for m in sim.meters}
        self.forms: dict[int, MeterForm] = {m.position: get_form(m.form) for m in sim.meters}
        for pos, meter in self.meters.items():
            meter.element_names = tuple(e.name for e in self.forms[pos].elements)
        self.gates = {p: Gate() for p in range(1, self.config.positions + 1)}
        self.emitted = {p: 0 for p in self.meters}  # pulse edges that reached the pickup
        self.ref_energy_wh = 0.0  # |active| energy the reference has pulsed out
        self.ref_energy_varh = 0.0  # |reactive|
        self.ref_energy_vah = 0.0  # apparent
        self.t = self.clock.now()

    # ---- the source ---------------------------------------------------------------------------
    def set_phase(self, phase: str, **changes) -> None:
        self.advance()
        for key, value in changes.items():
            setattr(self.phases[phase], key, value)
        self._check_regulation()

    def set_frequency(self, hz: float) -> None:
        self.advance()
        self.frequency_hz = hz

    def set_output(self, on: bool) -> None:
        self.advance()
        if on:
            self.tripped = None
        self.output_on = on
        self._check_regulation()

    def _check_regulation(self) -> None:
        if not self.output_on:
            return
        for p in PHASES:
            out = self.phases[p]
            live = out.current_enabled and out.current_a > 0
            if live and (self.overload_forced or out.current_a > self.max_current_a):
                self.output_on = False
                self.tripped = f"phase {p} current amplifier cannot regulate {out.current_a:g} A (overload)"
                for listener in self.on_trip:
                    listener(self.tripped)
                return

    def force_overload(self, on: bool = True) -> None:
        """Fault on demand: the source cannot regulate current (trips as soon as current flows)."""
        self.advance()
        self.overload_forced = on
        self._check_regulation()

    def applied(self) -> tuple[dict[str, complex], dict[str, complex]]:
        """Line-to-neutral voltages and line currents the source really puts out."""
        volts, amps = {}, {}
        for p in PHASES:
            out = self.phases[p]
            on = self.output_on
            volts[p] = phasor(out.voltage_v, out.voltage_lag_deg) if on and out.voltage_enabled else 0j
            amps[p] = phasor(out.current_a, out.current_lag_deg) if on and out.current_enabled else 0j
        if not self.three_phase:  # a single-phase bench has only phase 1
            volts = {"A": volts["A"], "B": 0j, "C": 0j}
            amps = {"A": amps["A"], "B": 0j, "C": 0j}
        elif self.sim.rotation == "CBA":  # the source's B and C reach the board swapped
            volts = {"A": volts["A"], "B": volts["C"], "C": volts["B"]}
            amps = {"A": amps["A"], "B": amps["C"], "C": amps["B"]}
        return volts, amps

    def harmonic_ratio(self) -> float:
        """The source's harmonic active power as a fraction of its fundamental active power (0 without
        harmonics). A board's meters and its reference all see the same waveform, so one ratio serves
        them all: the reference counts it, each meter registers it with its own harmonic error."""
        if not any(self.phases[p].harmonics for p in PHASES):
            return 0.0  # the usual case, asked at every query: no phasors worked out for it
        volts, amps = self.applied()
        fundamental = sum((volts[p] * amps[p].conjugate()).real for p in PHASES)
        if abs(fundamental) < 1e-9:
            return 0.0
        phases = PHASES if self.three_phase else ("A",)
        harmonic = 0.0
        for p in phases:
            out = self.phases[p]
            if self.output_on and out.voltage_enabled and out.current_enabled:
                harmonic += sum(v * i * math.cos(math.radians(lag)) for _, v, i, lag in out.harmonics)
        return harmonic / fundamental

    # ---- what a meter sees ----------------------------------------------------------------------
    def meter_service(self, position: int) -> tuple[dict[str, complex], dict[str, complex]]:
        """The service at a socket's terminals, wiring faults applied."""
        volts, amps = self.applied()
        form = self.forms[position]
        if not self.three_phase:
            volts, amps = series_parallel_service(form, volts["A"], amps["A"])
        return apply_wiring(form, volts, amps, self.meters[position].spec.wiring)

    def meter_elements(self, position: int) -> list[tuple[complex, complex]]:
        volts, amps = self.meter_service(position)
        return [(v, i) for _, v, i in element_phasors(self.forms[position], volts, amps)]

    # ---- what the reference sees -----------------------------------------------------------------
    def reference_phasors(self) -> dict[str, tuple[complex, complex]]:
        """(voltage, current) per phase as the reference measures them, its own errors included."""
        pos = self.sim.reference_position
        if self.three_phase and pos and pos in self.meters:
            volts, amps = self.meter_service(pos)
        else:
            volts, amps = self.applied()
        phases = PHASES if self.three_phase else ("A",)
        out = {}
        for p in phases:
            v = volts.get(p, 0j) * self.ref_v_gain[p]
            i = amps.get(p, 0j) * self.ref_i_gain[p] * phasor(1.0, self.ref_phase_deg[p])
            out[p] = (v, i)
        return out

    def reference_watts(self) -> float:
        return sum((v * i.conjugate()).real for v, i in self.reference_phasors().values())

    def reference_power(self) -> complex:
        """P + jQ as the reference measures it (Q > 0 lagging)."""
        return sum((v * i.conjugate() for v, i in self.reference_phasors().values()), 0j)

    # ---- time -------------------------------------------------------------------------------
    def advance(self) -> None:
        """Integrate energy and pulses from the last query up to the clock's now."""
        now = self.clock.now()
        dt = now - self.t
        if dt <= 0:
            return
        t0 = self.t
        s = self.reference_power()
        # Wh (varh, VAh) per second, as the reference pulses it out (harmonic power is active power)
        self._harmonics = h = self.harmonic_ratio()
        rates = {
            "active": abs(s.real) * (1.0 + h) / 3600.0,
            "reactive": abs(s.imag) / 3600.0,
            "apparent": abs(s) / 3600.0,
        }
        starts = {
            "active": self.ref_energy_wh,
            "reactive": self.ref_energy_varh,
            "apparent": self.ref_energy_vah,
        }
        self._ref_t0, self._ref_starts, self._ref_rates = t0, starts, rates
        for pos, meter in self.meters.items():
            self._advance_meter(pos, meter, t0, now)
        self.ref_energy_wh = starts["active"] + rates["active"] * dt
        self.ref_energy_varh = starts["reactive"] + rates["reactive"] * dt
        self.ref_energy_vah = starts["apparent"] + rates["apparent"] * dt
        self.t = now

    def _advance_meter(self, pos: int, meter, t0: float, now: float) -> None:
        """A meter's registers and test-output edges from ``t0`` to ``now``. A gate that closes and opens
        the next of a series draws the next reading's noise: the meter registers with it from that edge
        on, however long the interval between two queries is (the meter does not wait to be asked)."""
        kt = meter.spec.kt
        while True:
            delivered, received, out = meter.rates(
                self.meter_elements(pos), self.frequency_hz, self._harmonics
            )
            noise, rate, span = meter.noise_percent, out / 3600.0, now - t0
            e0 = meter.output_units
            first, last = math.floor(e0 / kt + 1e-9) + 1, math.floor((e0 + rate * span) / kt + 1e-9)
            gate = self.gates[pos]
            per_edge = gate.state in ("armed", "running") or meter.spec.missed_pulse_fraction > 0
            upto = now
            if last >= first and not per_edge:
                self.emitted[pos] += last - first + 1
                gate.count_edges += (last - first + 1) if gate.counting else 0
            elif last >= first:
                for j in range(first, last + 1):
                    if not meter.pulse_arrives(j):
                        continue
                    t_edge = t0 + (j * kt - e0) / rate
                    self._edge(pos, t_edge)
                    if meter.noise_percent != noise:  # a new reading began at this edge
                        upto = t_edge
                        break
            d = upto - t0
            meter.output_units = e0 + rate * d if upto == now else max(e0 + rate * d, j * kt)
            meter.energy_wh += delivered / 3600.0 * d
            meter.energy_received_wh += received / 3600.0 * d
            if upto == now:
                return
            t0 = upto

    def ref_energy(self, quantity: str = "active") -> float:
        """The energy (Wh, varh or VAh) the reference has pulsed out so far for ``quantity``."""
        return {
            "active": self.ref_energy_wh,
            "reactive": self.ref_energy_varh,
            "apparent": self.ref_energy_vah,
        }[quantity]

    def _edge(self, pos: int, t: float) -> None:
        self.emitted[pos] += 1
        gate = self.gates[pos]
        q = gate.quantity
        ref_energy = self._ref_starts[q] + self._ref_rates[q] * (t - self._ref_t0)
        if gate.counting:
            gate.count_edges += 1
        if gate.state == "armed":
            gate.state, gate.t_start, gate.ref_start, gate.edges = "running", t, ref_energy, 0
            gate.t_open = t
        elif gate.state == "running":
            gate.edges += 1
            if gate.edges >= gate.pulses:
                ref_pulses = math.floor(ref_energy / self.kr_wh) - math.floor(gate.ref_start / self.kr_wh)
                err = None
                if ref_pulses > 0:
                    err = 100.0 * (gate.pulses * gate.kt_wh / (ref_pulses * self.kr_wh) - 1.0)
                gate.result = (gate.pulses, ref_pulses, t - gate.t_start, err)
                gate.results.append(gate.result)
                if len(gate.results) < gate.series:
                    # continuous gating: the edge that closed this gate opens the next one
                    gate.t_start, gate.ref_start, gate.edges = t, ref_energy, 0
                    if pos in self.meters:
                        self.meters[pos].new_reading()
                else:
                    gate.state = "finished"

    # ---- error calculators (shared by every simulated calculator instrument) ----------------------
    def gate_configure(self, pos: int, kt_wh: float, pulses: int, quantity: str = "active") -> None:
        """Set a gate of ``pulses`` meter pulses of ``kt_wh`` (Wh, varh or VAh as the meter's test output
        is set) against the reference's pulses of ``quantity`` (active, reactive, apparent)."""
        if quantity not in QUANTITIES:
            raise ValueError(f"unknown gate quantity {quantity!r} (allowed: {', '.join(QUANTITIES)})")
        self.advance()
        gate = self.gates[pos]
        gate.kt_wh, gate.pulses, gate.state, gate.result = kt_wh, pulses, "idle", None
        gate.quantity = quantity

    def gate_start(self, pos: int, series: int = 1) -> None:
        """Arm the gate: it opens on the next meter edge; ``series`` gates run back to back."""
        self.advance()
        gate = self.gates[pos]
        gate.state, gate.result, gate.edges, gate.series, gate.results = "armed", None, 0, max(1, series), []
        gate.t_open = None
        if pos in self.meters:
            self.meters[pos].new_reading()

    def gate_status(self, pos: int) -> tuple[str, float]:
        self.advance()
        gate = self.gates[pos]
        if gate.state == "finished":
            return "finished", 1.0
        if gate.state in ("armed", "running"):
            done = len(gate.results) + (gate.edges / gate.pulses if gate.pulses else 0.0)
            return "running", done / gate.series
        return "idle", 0.0

    def gate_opened(self, pos: int) -> float | None:
        """When the meter edge that opened the gate (a series: its first gate) came; None before it."""
        self.advance()
        gate = self.gates[pos]
        return gate.t_open if gate.state in ("running", "finished") else None

    def gate_result(self, pos: int) -> tuple[int, int, float, float | None] | None:
        self.advance()
        return self.gates[pos].result

    def gate_results(self, pos: int) -> list[tuple[int, int, float, float | None]]:
        """Every finished gate of the current series, oldest first."""
        self.advance()
        return list(self.gates[pos].results)

    def gate_abort(self, pos: int) -> None:
        self.advance()
        gate = self.gates[pos]
        if gate.state != "finished":
            gate.state = "idle"
        gate.counting = False

    def count_start(self, pos: int) -> None:
        self.advance()
        gate = self.gates[pos]
        gate.counting, gate.count_t0, gate.count_edges = True, self.t, 0

    def count_read(self, pos: int) -> tuple[int, float]:
        self.advance()
        gate = self.gates[pos]
        if not gate.counting:
            return 0, 0.0
        return gate.count_edges, self.t - gate.count_t0


def series_parallel_service(
    form: MeterForm, v: complex, i: complex
) -> tuple[dict[str, complex], dict[str, complex]]:
    """Terminal voltages and line currents that put ``v`` across every potential coil and ``i`` through
    every current coil in its designed polarity: the series-parallel hook-up of a single-phase bench."""
    potentials: dict[str, complex] = {}
    if any("N" in e.voltage for e in form.elements):
        potentials["N"] = 0j
    pending = [e.voltage for e in form.elements]
    while pending:
        progressed = False
        for pair in list(pending):
            a, b = pair
            if a in potentials and b not in potentials:
                potentials[b] = potentials[a] - v
            elif b in potentials and a not in potentials:
                potentials[a] = potentials[b] + v
            elif a not in potentials and b not in potentials:
                continue
            pending.remove(pair)
            progressed = True
        if not progressed:  # nothing anchored yet (2S: A-B only): centre the coil on zero
            a, b = pending[0]
            potentials[a], potentials[b] = v / 2, -v / 2
    amps = {}
    for e in form.elements:
        for c in e.coils:
            amps[c.phase] = c.polarity * i
    volts = {p: potentials.get(p, 0j) for p in PHASES}
    return volts, amps


def apply_wiring(
    form: MeterForm, volts: dict[str, complex], amps: dict[str, complex], codes: tuple[str, ...]
) -> tuple[dict[str, complex], dict[str, complex]]:
    """The service as the meter sees it with wiring faults ("ct_reversed:B", ...), through
    ``procedures.wiring.apply_faults``: the one definition shared with the wiring analysis."""
    if not codes:
        return volts, amps
    from procedures.wiring import apply_faults  # lazy: only simulated benches with faults need it

    return apply_faults(form, volts, amps, list(codes))


def meter_spec(physics: BenchPhysics, position: int) -> SimMeter:
    return physics.meters[position].spec
