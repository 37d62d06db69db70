"""The source at a point: the phase settings for a point's load on this bench, and waiting until the
reference reads the load steady (measured, never a blind sleep). Used by the kernel, which alone switches
the source."""

from __future__ import annotations

from instruments.errors import InstrumentTimeout
from instruments.interfaces import PhaseSetting, ReferenceReading
from procedures.forms import MeterForm, correct_service
from procedures.phasors import lag_deg


def energise(
    k,
    voltage: float,
    current: float,
    lag: float,
    element: str,
    frequency_hz: float | None = None,
    harmonics: tuple = (),
) -> None:
    """The source to a point's load at its frequency (else the bench's) with its harmonics, and on.
    Harmonics stay only for the point that asks for them: the next point's waveform is cleared."""
    settings = phases(k, voltage, current, lag, element)
    source = k.bench.source
    with k.io:
        source.apply(settings, frequency_hz or k.settings.frequency_hz)
        if harmonics or k.harmonics_on:  # a source that can (refused before energising otherwise)
            source.set_harmonics(settings, harmonics)
            k.harmonics_on = bool(harmonics)
        if not source.output_is_on():
            source.output_on()
    k.source_checked, k.expect_on = k.bench.clock.now(), True


def stabilise(k, expected_current: float) -> ReferenceReading:
    """Wait until successive reference readings agree (measured, not a blind sleep)."""
    s = k.settings
    clock = k.bench.clock
    deadline = clock.now() + s.stability_timeout_s
    last: ReferenceReading | None = None
    while True:
        k.safe_point()
        with k.io:
            reading = k.bench.reference.read()
        if last is not None:
            scale = max(abs(reading.va), 1e-9)
            steady = abs(reading.watts - last.watts) <= s.stability_tolerance_percent / 100 * scale
            amps = max((ph.current_a for ph in reading.phases.values()), default=0.0)
            regulated = expected_current <= 0 or (
                abs(amps - expected_current) <= s.regulation_tolerance_percent / 100 * expected_current
            )
            if steady and regulated:
                return reading
        if clock.now() >= deadline:
            raise InstrumentTimeout(
                k.bench.reference.name,
                "read",
                None,
                f"readings did not settle within {s.stability_timeout_s:g} s "
                f"(asked {expected_current:g} A; the source may not be able to regulate the load)",
            )
        last = reading
        clock.sleep(s.stability_poll_s)


def phases(k, voltage: float, current: float, lag: float, element: str) -> dict[str, PhaseSetting]:
    form: MeterForm = k.resolved.form
    if not k.bench.three_phase_source:
        # Series-parallel: one voltage across every potential coil, one current through the coils.
        return {"A": PhaseSetting(voltage, 0.0, current, lag)}
    volts, amps = correct_service(form, voltage, current, lag, "ABC")
    if element != "series":
        fed = set(form.element(element).current_phases)
        amps = {p: (a if p in fed else 0j) for p, a in amps.items()}
    return {
        p: PhaseSetting(
            abs(volts.get(p, 0j)),
            lag_deg(volts.get(p, 0j)),
            abs(amps.get(p, 0j)),
            lag_deg(amps[p]) if abs(amps.get(p, 0j)) > 0 else 0.0,
        )
        for p in sorted(set(volts) | set(amps))
    }
