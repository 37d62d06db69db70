"""The registry of test kinds (plug-ins, loaded by name from :mod:`bench.kinds`): what a plan point of each kind is, what it needs of the bench, how it runs.

Each kind is one module with one :class:`TestKind` instance registered here by name (the plan point's
``kind``). The kernel runs a point by its kind (``get_kind(point.kind).run(ctx, point, test_pass,
positions)``), a retest asks ``retestable``, and the run is refused before anything is energised when a
point needs what the bench has not got (:func:`check_capabilities`). A kind sees the run only through its
:class:`~bench.kernel.context.RunContext`; it never holds an instrument or the records store.

Adding a kind: one module here (its ``TestKind``: plan fields, passes, needs, run, results), one line in
``KIND_MODULES``, its plan-field rules in ``procedures/plans.py`` and its report section in ``reports/``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from procedures.errors import InputError

KIND_MODULES = ("accuracy", "count", "wiring", "register", "influence", "demand", "clock", "tou", "identity")


@dataclass(frozen=True)
class TestKind:
    """One kind of plan point.

    ``plan_fields``: the plan point's fields the kind reads (documentation for plan authors and the GUI);
    ``passes``: the test passes it runs in; ``retestable``: whether one point can be measured again alone
    (recorded wholly as points); ``needs(bench, point)``: what the bench lacks for this point, in words
    (empty = it can); ``run(ctx, point, test_pass, positions)``: measure it; ``results(record, position)``:
    its recorded results as plain dicts (run JSON, certificate).
    """

    name: str
    title: str
    run: Callable
    plan_fields: tuple[str, ...] = ()
    passes: tuple[str, ...] = ("as-found", "as-left")
    retestable: bool = False
    needs: Callable = field(default=lambda bench, point: [])
    results: Callable | None = None


_REGISTRY: dict[str, TestKind] = {}


def register_kind(kind: TestKind) -> TestKind:
    _REGISTRY[kind.name] = kind
    return kind


def _load() -> dict[str, TestKind]:
    if not _REGISTRY:
        for name in KIND_MODULES:
            importlib.import_module(f"bench.kinds.{name}")
    return _REGISTRY


def kinds() -> dict[str, TestKind]:
    """Every registered kind by name."""
    return dict(_load())


def get_kind(name: str, *, where: str = "kind") -> TestKind:
    found = _load().get(name)
    if found is None:
        raise InputError(where, "unknown point kind", allowed=", ".join(_load()), found=name)
    return found


@dataclass(frozen=True)
class Abilities:
    """What a bench can do, as a kind's ``needs`` sees it (never the bench itself)."""

    name: str
    three_phase: bool
    capabilities: dict  # role -> instruments.interfaces.Capabilities, as declared (may be empty)
    has_meter_ports: bool
    #: (position, port method) pairs a meter port offers but may not use: writes made with a command
    #: found in no public source, on a port the bench file did not opt in (``allow_unconfirmed``)
    barred_port_writes: frozenset = frozenset()

    @classmethod
    def of(cls, bench) -> Abilities:
        ports = getattr(bench, "meter_ports", None) or {}
        barred = frozenset(
            (pos, write)
            for pos, port in ports.items()
            for write in PORT_WRITES
            if callable(getattr(port, write, None)) and getattr(port, "allow_unconfirmed", True) is False
        )
        return cls(
            bench.name,
            bool(bench.three_phase_source),
            dict(getattr(bench, "capabilities", None) or {}),
            bool(ports),
            barred,
        )


PORT_WRITES = ("demand_reset", "set_clock")  # what a meter-port test writes to the meter


def capability(abilities: Abilities, role: str):
    """The declared Capabilities of a role, or None when its driver declares none (then today's
    behaviour is assumed)."""
    return abilities.capabilities.get(role)


def frequency_needs(abilities: Abilities, point) -> list[str]:
    """Every point runs at its frequency (its own, else the plan's): within the source's declared range."""
    hz = getattr(point, "frequency_hz", None)
    caps = capability(abilities, "source")
    if hz is None or caps is None:
        return []
    lo, hi = caps.frequency_hz
    return [] if lo <= hz <= hi else [f"{hz:g} Hz: the source sets {lo:g} ... {hi:g} Hz"]


def check_capabilities(bench, resolved) -> None:
    """Refuse a plan whose points need what this bench cannot do, naming the point and what is missing."""
    abilities = Abilities.of(bench)
    for point in resolved.points:
        kind = get_kind(point.kind, where=f"points.{point.id}.kind")
        missing = frequency_needs(abilities, point) + kind.needs(abilities, point)
        if missing:
            raise InputError(
                f"points.{point.id}",
                f"bench {abilities.name!r} cannot run this {point.kind} point: " + "; ".join(missing),
                allowed="a bench that can, or a plan without the point",
            )
