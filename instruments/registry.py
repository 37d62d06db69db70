"""Drivers by name: the built-in ones and any a shop installs through the ``meterbench.drivers``
entry-point group, so adding an instrument never means editing MeterBench.

A third-party package declares in its pyproject::

    [project.entry-points."meterbench.drivers"]
    acme9000 = "acme_meterbench.driver:DRIVER"

where ``DRIVER`` is a :class:`DriverSpec` (or a callable returning one).

The pattern of one driver (``instruments/drivers/fluke6100.py`` is the worked example):

- ``instruments/drivers/<name>.py``: the driver class (role methods of :mod:`instruments.interfaces`),
  its command table with provenance, and ``DRIVER = DriverSpec(...)``;
- ``instruments/sim/<name>.yaml``: the same command set as a pyvisa-sim definition;
- ``instruments/sim/<name>.py``: a :class:`instruments.sim.library.DeviceHooks` subclass coupling the YAML
  properties to :class:`instruments.sim.physics.BenchPhysics`; ``DriverSpec.sim_hooks`` builds it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from procedures.errors import InputError

ROLE_NAMES = ("source", "reference", "calculators", "meter_ports")
ENTRY_POINT_GROUP = "meterbench.drivers"


@dataclass(frozen=True)
class DriverSpec:
    """How to open one kind of instrument, which roles it fills, and its simulation.

    ``open(ctx)`` returns the instrument object, which must offer ``identify()``, ``safe_state()``,
    ``close()`` and, per role it fills: ``as_source()``, ``as_reference(kr_wh, calibration)``,
    ``calculators(positions) -> dict[int, ErrorCalculator]``.
    ``sim_hooks(physics, calculator_positions, options)`` builds the DeviceHooks that couple
    ``sim_yaml`` to the bench physics.
    """

    name: str
    roles: frozenset[str]
    open: Callable[[Any], Any]
    description: str = ""
    sim_yaml: Path | None = None
    sim_hooks: Callable[..., Any] | None = None
    #: ``sim_instrument(physics, calculator_positions, options) -> SimInstrument``: a simulator written
    #: from the instrument's documented protocol (:mod:`instruments.sim.protocol`); preferred over YAML
    sim_instrument: Callable[..., Any] | None = None
    #: a device no real product speaks (MeterBench's own simulated rack): refused on a real bench
    simulation_only: bool = False
    #: the instrument's documented session settings (terminations, serial line, timeout); a bench file's
    #: ``[instruments.<role>.transport]`` table overrides them key by key
    transport: Any = None  # instruments.drivers.Transport
    max_positions: int = 48  # calculator positions one instrument can serve
    aliases: tuple[str, ...] = ()


_BUILTIN = (
    "instruments.drivers.fluke6100",
    "instruments.drivers.sim_counter",
    "instruments.drivers.zera_mad",
    "instruments.drivers.zera_mt7xx",
    "instruments.drivers.zera_com5003",
    "instruments.drivers.ansi_c1218",
    "instruments.drivers.iec62056_21",
)


@cache
def drivers() -> dict[str, DriverSpec]:
    """Every known driver by (lower-case) name and alias: built-in first, then entry points."""
    found: dict[str, DriverSpec] = {}
    for module in _BUILTIN:
        spec = importlib.import_module(module).DRIVER
        _add(found, spec)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            spec = obj() if callable(obj) and not isinstance(obj, DriverSpec) else obj
        except Exception as exc:  # noqa: BLE001 - a broken plug-in must not hide the others
            _broken[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        if isinstance(spec, DriverSpec):
            _add(found, spec)
        else:
            _broken[ep.name] = f"entry point gives {type(spec).__name__}, not a DriverSpec"
    return found


_broken: dict[str, str] = {}


def _add(found: dict[str, DriverSpec], spec: DriverSpec) -> None:
    for key in (spec.name, *spec.aliases):
        found.setdefault(key.lower(), spec)


def get_driver(name: str, *, field: str = "driver", source: str | None = None) -> DriverSpec:
    """A driver by name, or an InputError listing the known ones (and broken plug-ins)."""
    known = drivers()
    spec = known.get(str(name).lower())
    if spec is None:
        # every name a bench file may use, each driver's aliases beside it (examples use "fluke6105a")
        specs = {s.name: s for s in known.values()}
        names = [n + (f" (or {', '.join(s.aliases)})" if s.aliases else "") for n, s in sorted(specs.items())]
        problem = "unknown instrument driver"
        if _broken:
            problem += "; plug-ins that failed to load: " + "; ".join(
                f"{k} ({v})" for k, v in _broken.items()
            )
        raise InputError(field, problem, allowed=names, found=name, source=source)
    return spec
