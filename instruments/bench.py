"""Open a bench from its bench file: every instrument through its driver, real or simulated.

``open_bench(path_or_config, clock=None, speed=None) -> Bench``. Roles that name the same driver and VISA
resource share one connection (a Fluke 6105A is source, reference and the calculator of one position).
With a ``[simulation]`` table every instrument is a pyvisa-sim device coupled to one
:class:`~instruments.sim.physics.BenchPhysics`; ``bench.simulator`` is then a :class:`Simulation`
(tests use it to inject faults; the engine must not read it).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instruments.benchfile import BenchConfig, InstrumentConfig, load_bench_config
from instruments.clock import RealClock, clock_for_speed
from instruments.drivers import DriverContext
from instruments.errors import ConnectionLost, InstrumentError
from instruments.interfaces import Bench, Clock
from instruments.registry import DriverSpec, get_driver
from procedures.errors import InputError


@dataclass
class Simulation:
    """The simulated side of a bench: the physics and each role's pyvisa-sim device."""

    physics: Any  # BenchPhysics
    library: Any  # CoupledSimLibrary
    devices: dict[str, Any] = field(default_factory=dict)  # role -> CoupledDevice

    def inject(self, role: str, kind: str, command: str = "", delay_s: float = 0.0) -> None:
        """Fault on demand: no_reply, slow_reply, garbage, refused (protocol) or overload (physics)."""
        from instruments.sim.library import Fault

        if kind == "overload":
            self.physics.force_overload(True)
            return
        self.devices[role].faults.append(Fault(kind, command, delay_s))

    def clear_faults(self) -> None:
        self.physics.force_overload(False)
        for device in {id(d): d for d in self.devices.values()}.values():
            device.faults.clear()
            device._release_at = 0.0


@dataclass
class _Group:
    spec: DriverSpec
    resource: str
    configs: list[InstrumentConfig]

    @property
    def roles(self) -> list[str]:
        return [c.role for c in self.configs]

    @property
    def positions(self) -> tuple[int, ...]:
        return tuple(p for c in self.configs if c.role == "calculators" for p in c.positions)

    @property
    def port_positions(self) -> tuple[int, ...]:
        return tuple(p for c in self.configs if c.role == "meter_ports" for p in c.positions)


def open_bench(
    path_or_config: str | Path | BenchConfig, *, clock: Clock | None = None, speed: float | None = None
) -> Bench:
    """Open every instrument of a bench, identify nothing yet, and return the :class:`Bench`.

    ``speed`` overrides the bench file's ``simulation.speed`` (0 = virtual time); ``clock`` overrides both.
    Anything opened is closed again if a later instrument fails to open.
    """
    import pyvisa

    config = path_or_config if isinstance(path_or_config, BenchConfig) else load_bench_config(path_or_config)
    sim_cfg = config.simulation
    if clock is None:
        clock = clock_for_speed(speed if speed is not None else sim_cfg.speed) if sim_cfg else RealClock()
    groups = _groups(config)
    simulation = None
    if sim_cfg:
        from instruments.sim.library import CoupledSimLibrary
        from instruments.sim.physics import BenchPhysics

        simulation = Simulation(BenchPhysics(config, clock), CoupledSimLibrary.create())
        rm = pyvisa.ResourceManager(simulation.library)
    else:
        try:
            rm = pyvisa.ResourceManager(config.visa_library)
        except (OSError, ValueError) as exc:
            raise InputError(
                "visa_library", f"cannot be opened: {exc}", found=config.visa_library, source=config.path
            ) from exc
    closers: list = [rm.close]
    roles: dict[str, Any] = {}
    calculators: dict[int, Any] = {}
    capabilities: dict[str, Any] = {}
    meter_ports: dict[int, Any] = {}
    kr = config.reference.kr_wh
    try:
        for g in groups:
            options = _merged_options(g, config.path)
            label = f"{g.spec.name} {g.resource} ({', '.join(g.roles)})"
            if simulation:
                _simulate(simulation, g, options, config)
            try:
                resource = rm.open_resource(g.resource)
            except Exception as exc:  # noqa: BLE001 - pyvisa-py raises OSError, ValueError, SerialException…
                raise ConnectionLost(label, None, None, open_failure(g.resource, exc)) from None
            closers.append(resource.close)
            first = g.configs[0]
            transport = _transport(g, config.path)
            ctx = DriverContext(
                resource,
                label,
                clock,
                options,
                where=first.where,
                source_file=config.path,
                transport=transport,
                allow_unconfirmed=any(c.allow_unconfirmed for c in g.configs),
            )
            if transport is not None:
                transport.apply(resource)
            inst = g.spec.open(ctx)
            declared = getattr(inst, "capabilities", None)
            for c in g.configs:
                if callable(declared):
                    capabilities[c.role] = declared()
                if c.role == "source":
                    roles["source"] = inst.as_source()
                elif c.role == "reference":
                    roles["reference"] = inst.as_reference(c.kr_wh, c.calibration)
            if g.port_positions:
                meter_ports.update(inst.meter_ports(g.port_positions))
            if g.positions:
                inst.kr_wh = kr  # the reference pulses it counts
                try:
                    calculators.update(inst.calculators(g.positions))
                except InputError as err:
                    raise InputError(
                        f"{_calc_where(g)}.{err.field}",
                        err.problem,
                        allowed=err.allowed,
                        found=err.found,
                        source=config.path,
                    ) from None
    except BaseException:
        if "source" in roles:  # a Ctrl-C (or a fault) while opening: an opened source is left safe
            with contextlib.suppress(Exception):
                roles["source"].safe_state()
        for closer in reversed(closers):
            with contextlib.suppress(Exception):  # the original error matters more
                closer()
        raise
    if simulation:
        from instruments.sim.meterport import SimMeterPort

        # a simulated socket without a configured optical probe keeps the protocol-free simulated port
        for pos, meter in simulation.physics.meters.items():
            if meter.spec.meter_port != "none":  # "none": a meter without an optical port
                meter_ports.setdefault(pos, SimMeterPort(simulation.physics, pos))
    return Bench(
        name=config.name,
        location=config.location,
        positions=config.positions,
        source=roles["source"],
        reference=roles["reference"],
        calculators=dict(sorted(calculators.items())),
        meter_ports=dict(sorted(meter_ports.items())),
        clock=clock,
        three_phase_source=config.three_phase_source,
        config=config,
        simulator=simulation,
        closers=closers,
        capabilities=capabilities,
    )


def _transport(g: _Group, src: str):
    """The driver's documented session settings, then the bench file's overrides (one instrument filling
    several roles must not be given two different settings)."""
    from instruments.drivers import Transport

    merged = _merged_tables(g, "transport", src)
    base = g.spec.transport
    if base is None and not merged:
        return None
    return (base or Transport()).merged(merged)


def open_failure(resource: str, exc: BaseException) -> str:
    """What went wrong opening ``resource``, and what to check, in one line."""
    import pyvisa

    text = exc.description if isinstance(exc, pyvisa.errors.VisaIOError) else str(exc).splitlines()[0]
    low = (str(exc) + resource).lower()
    if resource.upper().startswith("GPIB") and ("gpib" in low and "install" in low):
        hint = "no GPIB driver here: install linux-gpib (or gpib-ctypes), or use the instrument's LAN/serial port"
    elif "could not open port" in low or "no such file" in low:
        hint = "check that the serial adapter is plugged in and the port name (ls /dev/ttyUSB* /dev/ttyS*)"
    elif "refused" in low:
        hint = "check that the instrument is switched on and its IP address and port"
    elif "permission" in low:
        hint = "this user may not open the port (on Linux: add it to the dialout group)"
    else:
        hint = "check the resource name, the cable and that the instrument is switched on"
    return f"cannot open the VISA resource: {text}; {hint}"


def _calc_where(g: _Group) -> str:
    return next(c.where for c in g.configs if c.role == "calculators")


def _groups(config: BenchConfig) -> list[_Group]:
    from pyvisa import rname

    found: dict[tuple[str, str], _Group] = {}
    for role in ("source", "reference", "calculators", "meter_ports"):
        for c in config.instruments.get(role, ()):
            spec = get_driver(c.driver, field=f"{c.where}.driver", source=config.path)
            if role not in spec.roles:
                raise InputError(
                    f"{c.where}.driver",
                    f"driver {spec.name} cannot be the {role}",
                    allowed=sorted(spec.roles),
                    found=c.driver,
                    source=config.path,
                )
            try:
                resource = rname.to_canonical_name(c.resource)
            except rname.InvalidResourceName as exc:
                raise InputError(
                    f"{c.where}.resource",
                    f"not a VISA resource name ({exc})",
                    found=c.resource,
                    source=config.path,
                    allowed="e.g. GPIB0::17::INSTR, TCPIP0::10.0.0.5::inst0::INSTR, ASRL3::INSTR",
                ) from None
            if spec.simulation_only and config.simulation is None:
                raise InputError(
                    f"{c.where}.driver",
                    f"driver {spec.name} is MeterBench's simulated device, which no real instrument speaks; "
                    "a bench without a [simulation] table needs a real instrument's driver",
                    found=c.driver,
                    allowed=sorted({s.name for s in _real_drivers()}),
                    source=config.path,
                )
            key = (spec.name, resource)
            if key not in found:
                found[key] = _Group(spec, resource, [])
            found[key].configs.append(c)
    for g in found.values():
        if len(g.port_positions) > g.spec.max_positions:
            raise InputError(
                f"{next(c.where for c in g.configs if c.role == 'meter_ports')}.positions",
                f"driver {g.spec.name} reads at most {g.spec.max_positions} socket(s)",
                found=list(g.port_positions),
                source=config.path,
            )
        if len(g.positions) > g.spec.max_positions:
            raise InputError(
                f"{_calc_where(g)}.positions",
                f"driver {g.spec.name} serves at most {g.spec.max_positions} position(s)",
                found=list(g.positions),
                source=config.path,
            )
    return list(found.values())


def _real_drivers():
    from instruments.registry import drivers

    return [s for s in drivers().values() if not s.simulation_only]


def _merged_options(g: _Group, src: str) -> dict:
    return _merged_tables(g, "options", src)


def _merged_tables(g: _Group, table: str, src: str) -> dict:
    """One instrument's ``options`` or ``transport`` table over every role it fills: the roles may repeat a
    key, but must not give it two different values."""
    merged: dict = {}
    for c in g.configs:
        for key, value in getattr(c, table).items():
            if key in merged and merged[key] != value:
                raise InputError(
                    f"{c.where}.{table}.{key}",
                    "differs from the same instrument's other role",
                    found=value,
                    allowed=repr(merged[key]),
                    source=src,
                )
            merged[key] = value
    return merged


def _simulate(simulation: Simulation, g: _Group, options: dict, config: BenchConfig) -> None:
    from instruments.sim.library import Fault

    if g.spec.sim_instrument is not None:
        instrument = g.spec.sim_instrument(simulation.physics, g.positions or g.port_positions, options)
        device = simulation.library.attach_instrument(g.resource, instrument)
    elif g.spec.sim_yaml is not None and g.spec.sim_hooks is not None:
        hooks = g.spec.sim_hooks(simulation.physics, g.positions, options)
        device = simulation.library.attach(g.resource, g.spec.sim_yaml, hooks)
    else:
        raise InputError(
            f"{g.configs[0].where}.driver",
            f"driver {g.spec.name} has no simulation",
            source=config.path,
            allowed="drivers with a simulated instrument (instruments/sim/<name>.py)",
        )
    for role in g.roles:
        simulation.devices[role] = device
    assert config.simulation is not None
    for f in config.simulation.faults:
        if f.instrument in g.roles:
            if f.kind == "overload":
                simulation.physics.force_overload(True)
            elif not any(
                existing is not None and existing.kind == f.kind and existing.command == f.command
                for existing in device.faults
            ):
                device.faults.append(Fault(f.kind, f.command, f.delay_s))


__all__ = ["open_bench", "Simulation", "InstrumentError"]
