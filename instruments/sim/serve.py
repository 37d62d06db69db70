"""Serve a simulated bench's instruments on loopback sockets, as a shop's real bench would be reached.

:func:`serve_bench` takes a bench file with a ``[simulation]`` table, builds its physics and one
simulated instrument per physical instrument (driver + resource), and serves each on ``127.0.0.1`` (only)
with :class:`~instruments.sim.transport.EmulatorServer`. It returns the resource string to put in a bench
file for each role, the text of such a bench file (no ``[simulation]`` table: the drivers cannot tell it
from a real bench) and a meter manifest (CSV) for the simulated meters on the board.

The physics runs on the given clock: wall time by default (a client talks real time), faster with a
:class:`~instruments.clock.ScaledClock`, or a :class:`~instruments.clock.VirtualClock` shared with an
in-process client (tests), so a whole plan runs over real sockets in seconds.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from instruments.benchfile import TERMINATIONS, BenchConfig
from instruments.interfaces import Clock


@dataclass
class ServedInstrument:
    driver: str
    roles: list[str]
    simulated_at: str  # the resource name in the simulated bench file
    resource: str  # what to put in a real bench file to reach it
    port: int
    server: Any  # EmulatorServer
    device: Any  # ProtocolDevice or CoupledDevice


@dataclass
class ServedBench:
    config: BenchConfig
    physics: Any
    instruments: list[ServedInstrument] = field(default_factory=list)

    def stop(self) -> None:
        for inst in self.instruments:
            inst.server.stop()

    def __enter__(self) -> ServedBench:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def resource_for(self, role: str) -> str:
        return next(i.resource for i in self.instruments if role in i.roles)

    def bench_toml(self) -> str:
        """The bench file a shop would write for this bench: every instrument at its served socket."""
        return _bench_toml(self.config, {i.simulated_at: i.resource for i in self.instruments})

    def manifest_csv(self) -> str:
        """The meters on the simulated board, as the manifest a technician would load."""
        out = io.StringIO()
        cols = ["position", "serial", "form", "accuracy_class", "current_class", "voltage", "ta", "kh", "kt"]
        cols += ["ib", "in", "imax", "manufacturer", "model", "firmware"]
        w = csv.writer(out, lineterminator="\n")
        w.writerow(cols)
        assert self.config.simulation is not None
        for m in self.config.simulation.meters:
            row = [m.position, m.serial, m.form, m.accuracy_class, m.current_class or "", m.voltage]
            row += [m.ta or "", m.kh, m.kt, m.ib or "", m.in_ or "", m.imax or ""]
            row += [m.manufacturer, m.model, m.firmware]
            w.writerow(row)
        return out.getvalue()


def serve_bench(
    config: BenchConfig, clock: Clock, *, port_base: int = 0, lifetime_s: float = 8 * 3600.0
) -> ServedBench:
    """Build the physics and serve every simulated instrument of ``config`` on 127.0.0.1.

    ``port_base`` 0 = ephemeral ports; otherwise instrument k listens on ``port_base + k``.
    """
    from instruments.bench import Simulation, _groups, _merged_options, _simulate
    from instruments.sim.library import CoupledSimLibrary
    from instruments.sim.physics import BenchPhysics
    from instruments.sim.transport import EmulatorServer
    from procedures.errors import InputError

    if config.simulation is None:
        raise InputError("simulation", "is missing: only a simulated bench can be served", source=config.path)
    simulation = Simulation(BenchPhysics(config, clock), CoupledSimLibrary.create())
    served = ServedBench(config, simulation.physics)
    try:
        for k, g in enumerate(_groups(config)):
            options = _merged_options(g, config.path)
            _simulate(simulation, g, options, config)
            device = simulation.devices[g.roles[0]]
            server = EmulatorServer(device, lifetime_s=lifetime_s, port=port_base + k if port_base else 0)
            served.instruments.append(
                ServedInstrument(
                    driver=g.spec.name,
                    roles=g.roles,
                    simulated_at=g.resource,
                    resource=server.tcp_resource,
                    port=server.port,
                    server=server,
                    device=device,
                )
            )
    except BaseException:
        served.stop()
        raise
    return served


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return _q(str(v))


def _bench_toml(config: BenchConfig, resources: dict[str, str]) -> str:
    from pyvisa import rname

    words = {v: k for k, v in TERMINATIONS.items()}
    lines = [
        f"# {config.name}: served by `meterbench simulate --serve` from {config.path}",
        "# No [simulation] table: MeterBench opens these instruments as it would a shop's real bench.",
        f"name = {_q(config.name)}",
        f"location = {_q(config.location)}",
        f"positions = {config.positions}",
        f"three_phase_source = {_value(config.three_phase_source)}",
        'visa_library = "@py"',
    ]
    for role, configs in config.instruments.items():
        for k, c in enumerate(configs):
            table = (
                f"instruments.{role}"
                if role not in ("calculators", "meter_ports") or len(configs) == 1
                else None
            )
            head = f"[{table}]" if table else f"[[instruments.{role}]]"
            where = table or f"instruments.{role}[{k}]"
            resource = resources[rname.to_canonical_name(c.resource)]
            lines += ["", head, f"driver = {_q(c.driver)}", f"resource = {_q(resource)}"]
            if c.allow_unconfirmed:
                lines.append("allow_unconfirmed = true")
            if role in ("calculators", "meter_ports"):
                lines.append(f"positions = {_value(list(c.positions))}")
            if role == "reference":
                lines.append(f"kr_wh = {c.kr_wh!r}")
            sub = where if table else f"instruments.{role}"
            if c.options:
                lines += ["", f"[{sub}.options]"] + [f"{k2} = {_value(v)}" for k2, v in c.options.items()]
            if c.transport:
                lines += ["", f"[{sub}.transport]"]
                for k2, v in c.transport.items():
                    lines.append(f"{k2} = {_q(words[v]) if k2.endswith('termination') else _value(v)}")
            if role == "reference" and c.calibration is not None:
                cal = c.calibration
                lines += [
                    "",
                    f"[{sub}.calibration]",
                    f"certificate = {_q(cal.certificate)}",
                    f"laboratory = {_q(cal.laboratory)}",
                    f"calibrated = {cal.calibrated.isoformat()}",
                    f"due = {cal.due.isoformat()}",
                    f"uncertainty_percent = {cal.uncertainty_percent!r}",
                    f"coverage_factor = {cal.coverage_factor!r}",
                    f"traceability = {_q(cal.traceability)}",
                ]
    return "\n".join(lines) + "\n"
